#pragma once
// Shared pieces of the validator (private to config/core).

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <vfgate/config/validate.hpp>

namespace vfgate::config::detail {

// Collects issues; paths are built by the caller.
class Issues {
  public:
    void add(std::string path, std::string message, std::string depends_on = {}) {
        list_.push_back({std::move(path), std::move(message), std::move(depends_on)});
    }
    std::vector<Issue> take() { return std::move(list_); }

  private:
    std::vector<Issue> list_;
};

inline std::string at(std::string_view base, std::string_view key) {
    return base.empty() ? std::string(key) : std::string(base) + "." + std::string(key);
}

inline std::string at(std::string_view base, std::string_view key, std::size_t index) {
    return at(base, key) + "[" + std::to_string(index) + "]";
}

inline std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// "found V; expected a X from LO to HI" unless LO <= V <= HI.
void check_range(Issues& out, const std::string& path, std::int64_t v, std::int64_t lo,
                 std::int64_t hi, std::string_view what);

// Names of guests, NICs, uplinks, PFs: 1-32 of [A-Za-z0-9_.-], starting with a letter or digit.
// They end up in file names, QEMU ids and metric labels.
void check_name(Issues& out, const std::string& path, std::string_view name);

// Kernel driver names (vfio-pci, igbvf): 1-64 of [A-Za-z0-9_-].
void check_driver_name(Issues& out, const std::string& path, std::string_view name);

// Host names: RFC 1123 labels separated by dots, at most 253 characters.
bool valid_hostname(std::string_view name);

// Remembers the first path each value was seen at, to report a duplicate against it.
template <class Key>
class FirstSeen {
  public:
    // The earlier path when `key` was seen before; otherwise records `path` and returns "".
    std::string seen(const Key& key, const std::string& path) {
        auto [it, inserted] = first_.try_emplace(key, path);
        return inserted ? std::string() : it->second;
    }

  private:
    std::map<Key, std::string> first_;
};

// check_name, then "already the name of <first path>" on a duplicate. Empty names are skipped:
// a missing name is reported by the parser.
void unique_name(Issues& out, FirstSeen<std::string>& names, const std::string& path,
                 const std::string& name, std::string_view what);

// Identity of a DPDK device string: a PCI address normalized, else the devargs' first field
// (the vdev instance name, which EAL requires to be unique in a process).
std::string device_key(std::string_view device);

void check_firewall(Issues& out, const std::string& path, const Firewall& fw);

// NIC checks over all guests: names, type-specific keys, references, MACs, VLANs, addresses.
void check_nics(Issues& out, const Config& cfg, FirstSeen<std::string>& devices);

}  // namespace vfgate::config::detail
