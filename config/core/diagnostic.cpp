#include <vfgate/common/text.hpp>
#include <vfgate/config/load.hpp>

namespace vfgate::config {

std::string Diagnostic::to_string() const {
    std::string s = file;
    if (location.line > 0) {
        s += ":" + std::to_string(location.line) + ":" + std::to_string(location.column);
    }
    s += ": ";
    if (!path.empty()) s += path + ": ";
    // Paths and messages quote the file's keys and values: one line, nothing a terminal obeys.
    return escape_controls(s + message);
}

}  // namespace vfgate::config
