#pragma once
// What a reload takes: the pure diff between the config a dataplane runs and the one it is asked
// to run. The dataplane's config.reload applies it (refusing it whole when a key needs a
// restart); the control daemon calls it to decide, before touching anything, whether a new
// config can be reloaded live or needs a restart of the dataplane, and to show what will change.
// No I/O, no DPDK; any thread (it reads only its arguments).
//
// Ports are named as the dataplane names them: uplinks by their name, guest NICs "guest/nic".
// Only NICs the dataplane switches count (config::is_software_switched): a VF of a legacy-mode
// PF is the NIC's business. A port whose devargs depend on the host (a VF representor of a PF
// given by netdev name) is compared as the config spells it; the dataplane itself also compares
// the resolved devices and reopens a port whose device changed.

#include <string>
#include <vector>

#include <vfgate/config/config.hpp>

namespace vfgate::dataplane {

struct ReloadPlan {
    // Config keys that changed and need a restart of the dataplane ("dataplane.worker_cores"),
    // in a fixed order; empty: a live reload can take the change.
    std::vector<std::string> restart_keys;
    // Ports that appear, go, or stay with a changed port or switch setting (type, device,
    // uplink, MAC, VLAN; for uplinks any of their keys but `offload`, which changes live). In
    // config order: current's for removed and updated, next's for added.
    std::vector<std::string> added, removed, updated;
    // Guest NICs present in both whose firewall changed (rules, defaults, stateful, or a
    // firewall given or taken away).
    std::vector<std::string> firewalls_changed;
    // Guest NICs present in both whose addresses (what anti-spoofing lets them send from)
    // changed.
    std::vector<std::string> addresses_changed;
    bool conntrack_timeouts_changed = false;

    bool needs_restart() const { return !restart_keys.empty(); }
    // Nothing at all differs for the dataplane.
    bool empty() const;
};

// What applying `next` to a dataplane running `current` takes. Both are validated configs with
// a dataplane section (one without: the whole section is the restart key "dataplane").
ReloadPlan plan_reload(const config::Config& current, const config::Config& next);

}  // namespace vfgate::dataplane
