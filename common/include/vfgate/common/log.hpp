#pragma once
// Logging for vfgate's programs: spdlog to stderr, one line per event. Control threads only;
// the packet fast path never logs.

#include <string_view>

#include <vfgate/common/error.hpp>

namespace vfgate {

// Sets the level: trace, debug, info, warn, error or off. Unknown names are an error.
Result<void> setup_logging(std::string_view level);

}  // namespace vfgate
