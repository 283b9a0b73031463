#pragma once
// Semantic validation of a config (the checks YAML structure can't express): unique names,
// ranges, references between sections, addresses, firewall rules that can match.
//
// Pure and deterministic: no I/O, no YAML. load_string() runs it after parsing; callers that
// build a Config in code (tests, the control daemon's plan step) call it directly.

#include <string>
#include <vector>

#include <vfgate/config/config.hpp>

namespace vfgate::config {

struct Issue {
    std::string path;     // key path, "guests[1].nics[0].vlan"
    std::string message;  // "found 5000; expected a VLAN id from 1 to 4094"
    // The key whose value this check relied on, if not under `path` ("pfs[0].num_vfs" for a VF
    // index check). When that key is itself wrong, this issue is a consequence and is not shown.
    std::string depends_on;
    bool operator==(const Issue&) const = default;
};

// Every problem found, in a stable order (document order of the offending keys).
std::vector<Issue> validate(const Config& cfg);

// Fills what validation proved can be derived: each NIC's `uplink` defaults to the first
// uplink. Call only on a config that validate() accepted.
void fill_defaults(Config& cfg);

}  // namespace vfgate::config
