#pragma once
// The firewall's rule semantics, written plainly from config-v1 ("Rules"): rules in order,
// the first match decides, no match falls to the direction's default. Each field absent
// matches anything; protocol by number; source and destination by CIDR lists of either IP
// version (an IPv4 CIDR never matches IPv6); ports only for TCP/UDP packets whose ports were
// read; ICMP type and code only for ICMP packets.
//
// This is the oracle: the compiled fast path (rte_acl) must give the same verdict for every
// packet. It is not used on the fast path (it walks every rule).

#include <span>

#include <vfgate/config/config.hpp>

#include "l3l4.hpp"

namespace vfgate::dataplane {

struct RuleMatch {
    int index = -1;  // the matching rule, or -1 for the default
    config::Action action = config::Action::kDeny;
};

bool rule_matches(const config::Rule& rule, const FlowKey& key);

RuleMatch reference_match(std::span<const config::Rule> rules, config::Action fallback,
                          const FlowKey& key);

}  // namespace vfgate::dataplane
