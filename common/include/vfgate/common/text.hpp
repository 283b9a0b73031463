#pragma once
// Text from files and peers shown on a terminal or in a log: control characters escaped, so that
// a hostile config or state file can't move the cursor, retitle the window or fake a line of
// output. Pure; control threads only (allocates).

#include <string>
#include <string_view>
#include <vector>

namespace vfgate {

// `s` with C0 controls (newline and tab included) and DEL as \xNN, C1 controls (UTF-8 U+0080 to
// U+009F) as \u00NN, and bytes that are not UTF-8 as \xNN. Everything else, backslashes
// included, is kept: escaping escaped text changes nothing.
std::string escape_controls(std::string_view s);

// The last `n` lines of `text` (without their newlines; a final line without one counts).
std::vector<std::string> last_lines(std::string_view text, std::size_t n);

}  // namespace vfgate
