// From text to a validated Config: parse (adapter), read the schema, validate, locate each error.

#include <algorithm>

#include <vfgate/config/load.hpp>
#include <vfgate/config/validate.hpp>

#include "reader.hpp"
#include "yaml.hpp"

namespace vfgate::config {
namespace {

constexpr std::size_t kMaxReported = 200;

// "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a" -> "".
std::string parent_path(const std::string& path) {
    auto cut = path.find_last_of(".[");
    return cut == std::string::npos ? std::string() : path.substr(0, cut);
}

bool under_bad_path(const std::set<std::string>& bad, std::string path) {
    for (;;) {
        if (bad.contains(path)) return true;
        if (path.empty()) return false;
        path = parent_path(path);
    }
}

Location locate(const std::map<std::string, Location>& where, std::string path) {
    for (;;) {
        if (auto it = where.find(path); it != where.end()) return it->second;
        if (path.empty()) return {};
        path = parent_path(path);
    }
}

}  // namespace

LoadResult load_string(std::string_view text, std::string_view file_name) {
    LoadResult result;
    std::string file(file_name);
    if (text.size() > kMaxConfigBytes) {
        result.errors.push_back({file,
                                 {},
                                 "",
                                 "found " + std::to_string(text.size()) +
                                     " bytes; expected a config of at most " +
                                     std::to_string(kMaxConfigBytes) + " bytes"});
        return result;
    }
    auto parsed = detail::parse_yaml(text);
    if (parsed.error) {
        parsed.error->file = file;
        result.errors.push_back(*parsed.error);
        return result;
    }
    detail::Reader reader;
    Config cfg;
    detail::read_config(reader, parsed.root, cfg);
    result.errors = std::move(reader.errors);
    auto issues = validate(cfg);
    auto wrong = reader.bad_paths;  // every key found wrong, by the reader or the validator
    for (const auto& issue : issues) wrong.insert(issue.path);
    for (auto& issue : issues) {
        // A consequence of an error already reported is noise: skip it.
        if (under_bad_path(reader.bad_paths, issue.path)) continue;
        if (!issue.depends_on.empty() && under_bad_path(wrong, issue.depends_on)) continue;
        result.errors.push_back(
            {file, locate(reader.where, issue.path), issue.path, std::move(issue.message)});
    }
    if (result.errors.empty()) {
        fill_defaults(cfg);
        result.config = std::move(cfg);
        return result;
    }
    for (auto& d : result.errors) d.file = file;
    std::stable_sort(
        result.errors.begin(), result.errors.end(),
        [](const Diagnostic& a, const Diagnostic& b) { return a.location < b.location; });
    if (result.errors.size() > kMaxReported) {
        auto more = result.errors.size() - kMaxReported;
        result.errors.resize(kMaxReported);
        result.errors.push_back(
            {file, {}, "", "... and " + std::to_string(more) + " more errors; expected fewer"});
    }
    return result;
}

}  // namespace vfgate::config
