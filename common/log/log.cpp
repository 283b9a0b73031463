#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <vfgate/common/log.hpp>

namespace vfgate {

Result<void> setup_logging(std::string_view level) {
    auto lvl = spdlog::level::from_str(std::string(level));
    if (lvl == spdlog::level::off && level != "off") {
        return fail(ErrorKind::kInvalidArgument,
                    "unknown log level '" + std::string(level) +
                        "'; expected trace, debug, info, warn, error or off");
    }
    auto logger = spdlog::stderr_color_mt("vfgate");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
    logger->set_level(lvl);
    spdlog::set_default_logger(logger);
    return {};
}

}  // namespace vfgate
