// The offload plan (offload_plan.hpp): which firewall rules a NIC may drop for, and their flows.
//
// A NIC flow drops a packet before the switch sees it, so it may only ever drop what the
// software would drop too. A deny rule of a guest NIC's ingress list qualifies when:
//   - no earlier rule of the list allows any of what it matches (first match wins; the NIC has
//     no "allow" ahead of its drops);
//   - it can't match IPv6 neighbour discovery, which the rules don't apply to;
//   - for IPv6, its protocol isn't an extension header's (a NIC matches the first next header,
//     the rules the protocol after the extension headers);
//   - in a stateful firewall, none of what it matches can be a reply of a connection the guest
//     opened: the reverse of the rule is denied in full by the egress rules, or anti-spoofing
//     keeps the guest from sending from the addresses the rule denies traffic to; and it names
//     no ICMP type or code (the ICMP messages between two hosts share one connection, whatever
//     their type, so an ICMP message of a type the rule denies may belong to an allowed one).
// docs/firewall.md ("Offload") explains it for users; the equivalence test checks it.
#include "offload_plan.hpp"

#include <algorithm>
#include <sstream>

#include "switch_table.hpp"

namespace vfgate::dataplane::offload {
namespace {

using config::Action;
using config::Direction;
using config::Rule;

constexpr std::size_t kMaxVlanFlows = 256;

bool has_family(const std::vector<Cidr>& list, IpFamily f) {
    return std::any_of(list.begin(), list.end(), [f](const Cidr& c) { return c.addr.family == f; });
}

// The CIDRs of a list in one family; the whole family for an empty list ("any").
std::vector<Cidr> of_family(const std::vector<Cidr>& list, IpFamily f) {
    if (list.empty()) {
        Cidr all;
        all.addr.family = f;
        return {all};
    }
    std::vector<Cidr> out;
    std::copy_if(list.begin(), list.end(), std::back_inserter(out),
                 [f](const Cidr& c) { return c.addr.family == f; });
    return out;
}

// Whether a rule can match packets of the family: each of its address lists is empty or has
// a CIDR of it.
bool matches_family(const Rule& r, IpFamily f) {
    return (r.src.empty() || has_family(r.src, f)) && (r.dst.empty() || has_family(r.dst, f));
}

bool cidr_overlap(const Cidr& a, const Cidr& b) {
    if (a.addr.family != b.addr.family) return false;
    return a.prefix <= b.prefix ? a.contains(b.addr) : b.contains(a.addr);
}

bool cidr_covers(const Cidr& a, const Cidr& b) {  // a ⊇ b
    return a.addr.family == b.addr.family && a.prefix <= b.prefix && a.contains(b.addr);
}

bool lists_overlap(const std::vector<Cidr>& a, const std::vector<Cidr>& b, IpFamily f) {
    for (const auto& x : of_family(a, f)) {
        for (const auto& y : of_family(b, f)) {
            if (cidr_overlap(x, y)) return true;
        }
    }
    return false;
}

bool list_covers(const std::vector<Cidr>& a, const std::vector<Cidr>& b, IpFamily f) {
    const auto big = of_family(a, f);
    for (const auto& y : of_family(b, f)) {
        if (std::none_of(big.begin(), big.end(),
                         [&](const Cidr& x) { return cidr_covers(x, y); })) {
            return false;
        }
    }
    return true;
}

bool ranges_overlap(const std::vector<config::PortRange>& a,
                    const std::vector<config::PortRange>& b) {
    if (a.empty() || b.empty()) return true;
    for (const auto& x : a) {
        for (const auto& y : b) {
            if (x.lo <= y.hi && y.lo <= x.hi) return true;
        }
    }
    return false;
}

bool ranges_cover(const std::vector<config::PortRange>& a,
                  const std::vector<config::PortRange>& b) {  // a ⊇ b
    if (a.empty()) return true;
    if (b.empty()) return false;
    return std::all_of(b.begin(), b.end(), [&](const config::PortRange& y) {
        return std::any_of(a.begin(), a.end(), [&](const config::PortRange& x) {
            return x.lo <= y.lo && y.hi <= x.hi;
        });
    });
}

template <class T>
bool same_or_any(const std::optional<T>& a, const std::optional<T>& b) {
    return !a || !b || *a == *b;
}

// Whether some packet matches both rules.
bool overlap(const Rule& a, const Rule& b) {
    if (!same_or_any(a.proto, b.proto) || !same_or_any(a.icmp_type, b.icmp_type) ||
        !same_or_any(a.icmp_code, b.icmp_code)) {
        return false;
    }
    if (!ranges_overlap(a.src_ports, b.src_ports) || !ranges_overlap(a.dst_ports, b.dst_ports)) {
        return false;
    }
    for (IpFamily f : {IpFamily::kV4, IpFamily::kV6}) {
        if (!matches_family(a, f) || !matches_family(b, f)) continue;
        if (lists_overlap(a.src, b.src, f) && lists_overlap(a.dst, b.dst, f)) return true;
    }
    return false;
}

// Whether every packet `x` matches, `d` matches too.
bool covers(const Rule& d, const Rule& x) {
    if (d.proto && (!x.proto || *x.proto != *d.proto)) return false;
    if (d.icmp_type && (!x.icmp_type || *x.icmp_type != *d.icmp_type)) return false;
    if (d.icmp_code && (!x.icmp_code || *x.icmp_code != *d.icmp_code)) return false;
    if (!ranges_cover(d.src_ports, x.src_ports) || !ranges_cover(d.dst_ports, x.dst_ports)) {
        return false;
    }
    for (IpFamily f : {IpFamily::kV4, IpFamily::kV6}) {
        if (!matches_family(x, f)) continue;
        if (!matches_family(d, f) || !list_covers(d.src, x.src, f) ||
            !list_covers(d.dst, x.dst, f)) {
            return false;
        }
    }
    return true;
}

// The rule a reply to a packet `r` matches would meet going the other way: addresses and ports
// swapped; any ICMP type (replies and related messages share the connection).
Rule reverse(const Rule& r) {
    Rule x;
    x.proto = r.proto;
    x.src = r.dst;
    x.dst = r.src;
    x.src_ports = r.dst_ports;
    x.dst_ports = r.src_ports;
    return x;
}

// Whether the rules deny every packet `x` matches; else names the rule that may allow some.
std::optional<std::string> denies_all(const std::vector<Rule>& rules, Action fallback,
                                      const Rule& x) {
    for (const auto& r : rules) {
        if (r.action == Action::kAllow && overlap(r, x)) return "rule " + r.id;
        if (r.action == Action::kDeny && covers(r, x)) return std::nullopt;
    }
    if (fallback == Action::kAllow) return std::string("default");
    return std::nullopt;
}

// Whether anti-spoofing keeps the guest from sending any packet `x` matches (config-v1: with
// `addresses`, only from them, its IPv6 link-local, 0.0.0.0 for DHCP or :: for DAD, and only in
// the families it has addresses of).
bool spoofing_stops(const config::Nic& nic, const Rule& x) {
    if (nic.addresses.empty()) return false;
    for (IpFamily f : {IpFamily::kV4, IpFamily::kV6}) {
        if (!matches_family(x, f)) continue;
        std::vector<IpAddr> sources;
        for (const auto& a : nic.addresses) {
            if (a.addr.family == f) sources.push_back(a.addr);
        }
        if (sources.empty()) continue;  // it sends nothing of this family
        IpAddr unspecified;
        unspecified.family = f;
        sources.push_back(unspecified);
        if (f == IpFamily::kV6) sources.push_back(link_local_from_mac(nic.mac));
        for (const auto& c : of_family(x.src, f)) {
            if (std::any_of(sources.begin(), sources.end(),
                            [&](const IpAddr& s) { return c.contains(s); })) {
                return false;
            }
        }
    }
    return true;
}

bool could_match_nd(const Rule& r) {
    if (!matches_family(r, IpFamily::kV6)) return false;
    if (r.proto && *r.proto != config::kProtoIcmpv6) return false;
    return !r.icmp_type || (*r.icmp_type >= 133 && *r.icmp_type <= 136);
}

// Bounds on the work and the NIC: rule pairs compared per NIC list, flows per uplink.
struct Budget {
    std::size_t comparisons = kMaxComparisons;
    std::size_t flows = kMaxFlowsPerPort;
};

// Why a deny rule at `index` of a NIC's ingress list can't go to the NIC, or nullopt.
std::optional<std::string> unsafe(const config::Nic& nic, const config::Firewall& fw,
                                  std::size_t index, Budget& budget) {
    const Rule& r = fw.ingress[index];
    const std::size_t work = index + fw.egress.size();
    if (work > budget.comparisons) {
        return "too many rules to check it against (at most " + std::to_string(kMaxComparisons) +
               " rule pairs per NIC)";
    }
    budget.comparisons -= work;
    for (std::size_t i = 0; i < index; ++i) {
        const Rule& e = fw.ingress[i];
        if (e.action == Action::kAllow && overlap(e, r)) {
            return "an earlier rule, " + e.id + ", allows some of what it denies";
        }
    }
    if (could_match_nd(r)) {
        return "it could drop IPv6 neighbour discovery, which the rules don't apply to";
    }
    if (r.proto && is_ipv6_ext_header(static_cast<std::uint8_t>(*r.proto)) &&
        matches_family(r, IpFamily::kV6)) {
        return "IPv6: a NIC compares protocol " + std::to_string(*r.proto) +
               " with the first next header, an extension header that the rules look past";
    }
    if (!fw.stateful) return std::nullopt;
    if (r.icmp_type || r.icmp_code) {
        return "stateful: ICMP messages between two hosts share one connection whatever their "
               "type, so it could drop one of a connection the firewall allowed";
    }
    const Rule back = reverse(r);
    auto allowed_by = denies_all(fw.egress, fw.egress_default, back);
    if (!allowed_by || spoofing_stops(nic, back)) return std::nullopt;
    return "stateful: it could drop replies of connections the guest opens (the egress " +
           *allowed_by + " allows the reverse); deny the reverse on egress to offload it";
}

// [lo, hi] as aligned value/mask blocks, port 0 left out (a TCP or UDP port is never 0, and a
// NIC sees later fragments' ports as 0).
std::vector<Masked16> port_masks(std::int64_t lo, std::int64_t hi) {
    std::vector<Masked16> out;
    std::uint32_t a = static_cast<std::uint32_t>(std::max<std::int64_t>(lo, 1));
    const auto b = static_cast<std::uint32_t>(hi);
    while (a <= b) {
        std::uint32_t size = 1;
        while ((a & (size * 2 - 1)) == 0 && a + size * 2 - 1 <= b && size < 0x10000) size *= 2;
        out.push_back({static_cast<std::uint16_t>(a), static_cast<std::uint16_t>(~(size - 1))});
        a += size;
    }
    return out;
}

std::vector<std::optional<Masked16>> port_options(const std::vector<config::PortRange>& ranges) {
    if (ranges.empty()) return {std::nullopt};
    std::vector<std::optional<Masked16>> out;
    for (const auto& r : ranges) {
        for (const auto& m : port_masks(r.lo, r.hi)) out.emplace_back(m);
    }
    return out;
}

std::vector<std::optional<Cidr>> cidr_options(const std::vector<Cidr>& list, IpFamily f) {
    std::vector<std::optional<Cidr>> out;
    for (const auto& c : of_family(list, f)) {
        if (c.prefix == 0) {
            out.emplace_back(std::nullopt);
        } else {
            out.emplace_back(c.network());
        }
    }
    return out;
}

// The flows of a deny rule toward `nic`; nullopt (with `count` set) beyond kMaxFlowsPerRule.
std::optional<std::vector<FlowSpec>> rule_flows(const config::Nic& nic, const Rule& r,
                                                std::size_t& count) {
    std::vector<FlowSpec> flows;
    count = 0;
    FlowSpec base;
    base.eth_dst = to_bits(nic.mac);
    if (nic.vlan) base.vlan_vid = Masked16{static_cast<std::uint16_t>(*nic.vlan), 0x0fff};
    if (r.proto) base.proto = static_cast<std::uint8_t>(*r.proto);
    const bool ports = r.proto && (*r.proto == config::kProtoTcp || *r.proto == config::kProtoUdp);
    const auto sports =
        ports ? port_options(r.src_ports) : std::vector<std::optional<Masked16>>{{}};
    const auto dports =
        ports ? port_options(r.dst_ports) : std::vector<std::optional<Masked16>>{{}};
    for (IpFamily f : {IpFamily::kV4, IpFamily::kV6}) {
        if (!matches_family(r, f)) continue;
        const int icmp = f == IpFamily::kV4 ? config::kProtoIcmp : config::kProtoIcmpv6;
        const bool typed = r.icmp_type || r.icmp_code;
        if (typed && (!r.proto || *r.proto != icmp)) continue;  // never matches this family
        for (const auto& src : cidr_options(r.src, f)) {
            for (const auto& dst : cidr_options(r.dst, f)) {
                for (const auto& sp : sports) {
                    for (const auto& dp : dports) {
                        if (++count > kMaxFlowsPerRule) continue;
                        FlowSpec fl = base;
                        fl.family = static_cast<std::uint8_t>(f);
                        fl.src = src;
                        fl.dst = dst;
                        fl.sport = sp;
                        fl.dport = dp;
                        if (r.icmp_type) fl.icmp_type = static_cast<std::uint8_t>(*r.icmp_type);
                        if (r.icmp_code) fl.icmp_code = static_cast<std::uint8_t>(*r.icmp_code);
                        flows.push_back(fl);
                    }
                }
            }
        }
    }
    if (count > kMaxFlowsPerRule) return std::nullopt;
    return flows;
}

// A set of 12-bit VIDs as aligned value/mask blocks.
std::vector<Masked16> vid_blocks(const std::vector<bool>& in_set) {
    std::vector<Masked16> out;
    std::uint32_t v = 0;
    while (v < 4096) {
        if (!in_set[v]) {
            ++v;
            continue;
        }
        std::uint32_t size = 1;
        while ((v & (size * 2 - 1)) == 0 && v + size * 2 <= 4096 &&
               std::all_of(in_set.begin() + v,
                           in_set.begin() + v + static_cast<std::ptrdiff_t>(size) * 2,
                           [](bool b) { return b; })) {
            size *= 2;
        }
        out.push_back(
            {static_cast<std::uint16_t>(v), static_cast<std::uint16_t>(0x0fff & ~(size - 1))});
        v += size;
    }
    return out;
}

Entry unused_vlans(const SwitchTable& st, const PortInfo& up) {
    Entry e;
    e.kind = EntryKind::kUnusedVlans;
    e.port = up.name;
    std::vector<bool> unused(4096);
    for (std::uint16_t vid = 0; vid < 4096; ++vid) unused[vid] = st.domain_of(up, vid) == kNoDomain;
    const auto blocks = vid_blocks(unused);
    if (blocks.empty()) {
        e.why_not = "every VLAN is in use";
    } else if (blocks.size() > kMaxVlanFlows) {
        e.why_not = "the unused VLANs take " + std::to_string(blocks.size()) +
                    " value/mask flows, over the limit of " + std::to_string(kMaxVlanFlows);
    } else {
        e.to_nic = true;
        for (const auto& b : blocks) {
            FlowSpec f;
            f.vlan_vid = b;
            e.flows.push_back(f);
        }
    }
    return e;
}

Entry steering(const std::string& port, const std::string& steered) {
    Entry e;
    e.kind = EntryKind::kSteering;
    e.port = port;
    e.nic = steered;
    e.to_nic = true;
    FlowSpec f;
    f.transfer = true;
    f.from_port = steered;
    f.action = FlowAction::kToRepresentor;
    f.to_port = steered;
    e.flows.push_back(f);
    return e;
}

void rule_entries(const config::Nic& nic, const std::string& name, const config::Uplink& up,
                  std::size_t up_index, std::size_t& flows_left, std::vector<Entry>& out) {
    const config::Firewall& fw = *nic.firewall;
    Budget budget;
    budget.flows = flows_left;
    const std::string off = "offload is off on uplink " + up.name + " (dataplane.uplinks[" +
                            std::to_string(up_index) + "].offload: false)";
    for (Direction dir : {Direction::kIngress, Direction::kEgress}) {
        const auto& rules = dir == Direction::kIngress ? fw.ingress : fw.egress;
        const Action fallback = dir == Direction::kIngress ? fw.ingress_default : fw.egress_default;
        for (std::size_t i = 0; i <= rules.size(); ++i) {
            Entry e;
            e.port = up.name;
            e.nic = name;
            e.direction = dir;
            const bool is_default = i == rules.size();
            e.rule = is_default ? "default" : rules[i].id;
            e.index = is_default ? -1 : static_cast<int>(i);
            e.action = is_default ? fallback : rules[i].action;
            if (e.action == Action::kAllow) {
                e.why_not = "it allows: the NIC only drops";
            } else if (dir == Direction::kEgress) {
                e.why_not = "egress: the guest's packets reach the switch through its own port";
            } else if (is_default) {
                e.why_not = fw.stateful ? "a default deny would drop what the allow rules let "
                                          "through, and replies of connections the guest opens"
                                        : "a default deny would drop what the allow rules let "
                                          "through (the NIC has no allow ahead of its drops)";
            } else if (!up.offload) {
                e.why_not = off;
            } else if (auto why = unsafe(nic, fw, i, budget)) {
                e.why_not = *why;
            } else {
                std::size_t n = 0;
                auto flows = rule_flows(nic, rules[i], n);
                if (!flows) {
                    e.why_not = "it expands to " + std::to_string(n) +
                                " flows (its CIDRs times its port ranges as masks), over the "
                                "limit of " +
                                std::to_string(kMaxFlowsPerRule);
                } else if (flows->empty()) {
                    e.why_not = "it matches no packet a NIC flow can (port 0 only)";
                } else if (flows->size() > budget.flows) {
                    e.why_not = "uplink " + up.name + " has no flows left for it (at most " +
                                std::to_string(kMaxFlowsPerPort) + " per uplink)";
                } else {
                    budget.flows -= flows->size();
                    e.to_nic = true;
                    e.flows = std::move(*flows);
                }
            }
            out.push_back(std::move(e));
        }
    }
    flows_left = budget.flows;
}

}  // namespace

Plan plan(const config::Config& cfg) {
    Plan p;
    if (!cfg.dataplane) return p;
    auto st = SwitchTable::build(cfg);
    if (!st) return p;  // a validated config builds
    const auto& uplinks = cfg.dataplane->uplinks;
    for (std::size_t u = 0; u < uplinks.size(); ++u) {
        const config::Uplink& up = uplinks[u];
        const PortInfo& info = st->port(st->by_name(up.name));
        std::size_t flows_left = kMaxFlowsPerPort;
        Entry vlans = unused_vlans(*st, info);
        if (!up.offload && vlans.to_nic) {
            vlans.to_nic = false;
            vlans.flows.clear();
            vlans.why_not = "offload is off on uplink " + up.name;
        }
        p.entries.push_back(std::move(vlans));
        for (const auto& g : cfg.guests) {
            for (const auto& nic : g.nics) {
                if (nic.uplink != up.name || !config::is_software_switched(cfg, nic)) continue;
                const std::string name = g.name + "/" + nic.name;
                if (nic.type == config::NicType::kVf && up.offload) {
                    if (p.entries.back().kind != EntryKind::kSteering) {
                        p.entries.push_back(steering(up.name, up.name));
                    }
                    p.entries.push_back(steering(up.name, name));
                }
            }
        }
        for (const auto& g : cfg.guests) {
            for (const auto& nic : g.nics) {
                if (nic.uplink != up.name || !config::is_software_switched(cfg, nic) ||
                    !nic.firewall) {
                    continue;
                }
                rule_entries(nic, g.name + "/" + nic.name, up, u, flows_left, p.entries);
            }
        }
    }
    return p;
}

}  // namespace vfgate::dataplane::offload
