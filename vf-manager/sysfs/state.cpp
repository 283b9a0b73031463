// vf-manager's state file: which guest NIC holds which VF.
//
// Read strictly: the file is vfgate-vf's own, so anything it would not have written (another
// version, a VF index no PF can have, a name no config allows) means the file was damaged or
// written by something else, and acting on it could scrub the wrong VF.
#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>
#include <utility>

#include <nlohmann/json.hpp>

#include <vfgate/common/file.hpp>
#include <vfgate/common/net_types.hpp>
#include <vfgate/vfmgr/host.hpp>

namespace vfgate::vfmgr {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kMaxStateBytes = 16u << 20;
constexpr std::int64_t kMaxVf = 65534;  // sriov_totalvfs is 16-bit: VFs 0 to 65534

// A value, or why the file can't be used (the caller adds the file's name).
template <class T>
using Parsed = tl::expected<T, std::string>;

Parsed<void> malformed(std::string what) { return tl::unexpected(std::move(what)); }

// A JSON value as it appears in the file, cut short; control characters come out escaped.
std::string shown(const Json& v) {
    if (v.is_object()) return "an object";
    if (v.is_array()) return "a list";
    std::string s = v.dump();
    return s.size() > 60 ? s.substr(0, 60) + "..." : s;
}

// 'key', escaped like shown().
std::string quoted_key(const std::string& key) {
    std::string s = shown(Json(key));
    return "'" + s.substr(1, s.size() - 2) + "'";
}

// The same rule as the config's names (guests, NICs): 1-32 of [A-Za-z0-9_.-], starting with a
// letter or digit.
bool valid_name(const std::string& s) {
    if (s.empty() || s.size() > 32 || s.front() == '.' || s.front() == '-' || s.front() == '_') {
        return false;
    }
    for (char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok) return false;
    }
    return true;
}

// Every key of `obj` is one of `keys`, and each of them is there.
Parsed<void> exact_keys(const Json& obj, const std::string& where,
                        std::initializer_list<const char*> keys, const std::string& expected) {
    std::string problem;
    for (auto it = obj.begin(); it != obj.end() && problem.empty(); ++it) {
        const std::string& key = it.key();
        auto known = [&key](const char* k) { return key == k; };
        if (std::find_if(keys.begin(), keys.end(), known) == keys.end()) {
            problem = "found key " + quoted_key(key);
        }
    }
    for (const char* k : keys) {
        if (problem.empty() && !obj.contains(k)) problem = std::string("found no '") + k + "'";
    }
    if (problem.empty()) return {};
    std::string out = where;
    if (!out.empty()) out += ": ";
    out += problem;
    out += "; expected ";
    out += expected;
    return malformed(std::move(out));
}

Parsed<std::string> name_field(const Json& a, const std::string& where, const char* key) {
    const Json& v = a.at(key);
    if (!v.is_string() || !valid_name(v.get<std::string>())) {
        return tl::unexpected(where + "." + key + ": found " + shown(v) +
                              "; expected a name of 1-32 letters, digits, '_', '-' or '.'");
    }
    return v.get<std::string>();
}

Parsed<Assignment> read_assignment(const Json& a, const std::string& where) {
    if (!a.is_object()) {
        return tl::unexpected(where + ": found " + shown(a) + "; expected an object");
    }
    if (auto k = exact_keys(a, where, {"pf", "vf", "guest", "nic"}, "pf, vf, guest and nic"); !k) {
        return tl::unexpected(k.error());
    }
    Assignment out;
    const Json& pf = a.at("pf");
    auto pci = pf.is_string() ? parse_pci(pf.get<std::string>()) : std::nullopt;
    if (!pci || to_string(*pci) != pf.get<std::string>()) {
        return tl::unexpected(where + ".pf: found " + shown(pf) +
                              "; expected a PCI address like 0000:01:00.0");
    }
    out.pf_pci = pf.get<std::string>();
    const Json& vf = a.at("vf");
    // is_number_integer excludes 1.7 and "2"; the range excludes -1.
    if (!vf.is_number_integer() || vf.get<std::int64_t>() < 0 || vf.get<std::int64_t>() > kMaxVf) {
        return tl::unexpected(where + ".vf: found " + shown(vf) +
                              "; expected a VF index from 0 to " + std::to_string(kMaxVf));
    }
    out.vf = static_cast<std::uint32_t>(vf.get<std::int64_t>());
    auto guest = name_field(a, where, "guest");
    if (!guest) return tl::unexpected(guest.error());
    auto nic = name_field(a, where, "nic");
    if (!nic) return tl::unexpected(nic.error());
    out.guest = std::move(*guest);
    out.nic = std::move(*nic);
    return out;
}

Parsed<std::vector<Assignment>> parse_state(const Json& j) {
    if (!j.is_object()) {
        return tl::unexpected("found " + shown(j) +
                              "; expected an object with version and "
                              "assignments");
    }
    if (auto k = exact_keys(j, "", {"version", "assignments"}, "version and assignments"); !k) {
        return tl::unexpected(k.error());
    }
    const Json& version = j.at("version");
    if (!version.is_number_integer() || version.get<std::int64_t>() != 1) {
        return tl::unexpected("version: found " + shown(version) + "; expected 1");
    }
    const Json& list = j.at("assignments");
    if (!list.is_array()) {
        return tl::unexpected("assignments: found " + shown(list) + "; expected a list");
    }
    std::vector<Assignment> out;
    std::map<std::pair<std::string, std::uint32_t>, std::string> seen;  // VF -> where
    for (std::size_t i = 0; i < list.size(); ++i) {
        const std::string where = "assignments[" + std::to_string(i) + "]";
        auto a = read_assignment(list[i], where);
        if (!a) return tl::unexpected(a.error());
        auto [it, fresh] = seen.try_emplace({a->pf_pci, a->vf}, where);
        if (!fresh) {
            return tl::unexpected(where + ": found VF " + std::to_string(a->vf) + " of " +
                                  a->pf_pci + " again (" + it->second + "); expected each VF once");
        }
        out.push_back(std::move(*a));
    }
    return out;
}

}  // namespace

Result<std::vector<Assignment>> read_state(const std::string& path) {
    auto text = read_regular_file(path, kMaxStateBytes);
    if (!text) {
        if (text.error().sys_errno() == ENOENT) return std::vector<Assignment>{};
        if (text.error().kind() != ErrorKind::kInvalidArgument) {
            return tl::unexpected(std::move(text.error()).context(path));
        }
        // Not a regular file, or too large: the host's state is wrong, not the caller's input.
        return fail(ErrorKind::kConflict, path + ": " + text.error().message());
    }
    const std::string bad = path + ": not a vfgate-vf state file: ";
    if (text->find_first_not_of(" \t\r\n") == std::string::npos) {
        return fail(ErrorKind::kConflict, bad + "found an empty file; expected JSON");
    }
    Json j;
    try {
        j = Json::parse(*text);
    } catch (const Json::exception& e) {
        return fail(ErrorKind::kConflict, bad + e.what());
    }
    auto out = parse_state(j);
    if (!out) return fail(ErrorKind::kConflict, bad + out.error());
    return std::move(*out);
}

Result<void> write_state(const std::string& path, const std::vector<Assignment>& assignments) {
    namespace fs = std::filesystem;
    Json list = Json::array();
    for (const Assignment& a : assignments) {
        list.push_back({{"pf", a.pf_pci}, {"vf", a.vf}, {"guest", a.guest}, {"nic", a.nic}});
    }
    const Json j{{"version", 1}, {"assignments", list}};
    return write_file_atomic(path, j.dump(2) + "\n");
}

}  // namespace vfgate::vfmgr
