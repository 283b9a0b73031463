#pragma once
// Loading a vfgate config: YAML text -> validated config::Config, or every error in the file.
//
// Called by vfgatectl, vfgated and vfgate-dataplane on their control threads (allocates,
// never on a fast path). A file is accepted or rejected as a whole; a rejected file yields all
// of its errors at once, each naming the file, line, column and key path:
//   demo.yaml:41:15: guests[1].nics[0].vlan: found 5000; expected a VLAN id from 1 to 4094

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <vfgate/config/config.hpp>

namespace vfgate::config {

struct Location {
    int line = 0;    // 1-based; 0 when the error concerns the file as a whole
    int column = 0;  // 1-based
    auto operator<=>(const Location&) const = default;
};

struct Diagnostic {
    std::string file;
    Location location;
    std::string path;     // "guests[1].nics[0].vlan"; empty for the document itself
    std::string message;  // "found 5000; expected a VLAN id from 1 to 4094"

    // "FILE:LINE:COL: PATH: MESSAGE" (LINE:COL and PATH left out when unknown), on one line:
    // control characters from the file come out escaped (\x1b), see vfgate/common/text.hpp.
    std::string to_string() const;
};

struct LoadResult {
    std::optional<Config> config;    // set exactly when `errors` is empty
    std::vector<Diagnostic> errors;  // in file order

    bool ok() const { return config.has_value(); }
};

// Files larger than this are refused before parsing.
inline constexpr std::size_t kMaxConfigBytes = 32u << 20;

// Parses and validates `text`; `file_name` is only used in diagnostics.
LoadResult load_string(std::string_view text, std::string_view file_name = "<string>");

// Reads `path` and calls load_string. An unreadable file is one diagnostic without a location.
LoadResult load_file(const std::string& path);

}  // namespace vfgate::config
