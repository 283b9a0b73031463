#pragma once
// Human-readable views of a validated config, for vfgatectl and logs.

#include <string>

#include <vfgate/config/config.hpp>

namespace vfgate::config {

struct Counts {
    int uplinks = 0;
    int pfs = 0;
    int guests = 0;
    int nics = 0;
    int rules = 0;  // ingress and egress rules over all NICs
};

Counts count(const Config& cfg);

// One line: "host nfv-host-1: 2 uplinks, 2 PFs, 4 guests, 6 NICs, 12 rules".
std::string summary_line(const Config& cfg);

// A multi-line description of what the config declares: dataplane, uplinks, PFs, guests and
// their NICs with firewall summaries, and the broadcast domains (uplink, VLAN) with members.
std::string describe(const Config& cfg);

}  // namespace vfgate::config
