#pragma once
// What the dataplane asks the NICs to do (docs/firewall.md, "Offload"): the rte_flow rules a
// config calls for, as plain data, and for every firewall rule of every guest NIC and direction
// whether it goes to the NIC and, if not, why. Pure C++ (no DPDK, tested without EAL): the
// adapter (dpdk/offload.hpp) turns a FlowSpec into rte_flow items and actions, asks the PMD,
// and leaves an entry in software when the PMD refuses it.
//
// The invariant: a NIC flow only ever drops packets the software would drop too, so a packet's
// fate is the same whether its rule runs in the NIC or not. The safety of each rule is decided
// here (`plan`), and the randomized equivalence test holds it to the reference matcher and
// conntrack. Build time only (allocates).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <vfgate/common/net_types.hpp>
#include <vfgate/config/config.hpp>

#include "l3l4.hpp"
#include "packet.hpp"

namespace vfgate::dataplane::offload {

// A value and the bits of it that are compared (rte_flow's spec and mask).
struct Masked16 {
    std::uint16_t value = 0;
    std::uint16_t mask = 0xffff;
    bool operator==(const Masked16&) const = default;
};

enum class FlowAction : std::uint8_t {
    kDrop,           // drop (with a COUNT action when `count`)
    kToRepresentor,  // transfer: to the representor of `to_port` (port_representor)
};

// One rte_flow rule. Pattern items outermost first; an absent field matches anything. With an
// IP item, the item before it (ETH, or VLAN when there is one) carries the IP version's
// EtherType, so that a flow without a VLAN item matches untagged frames only (to_testpmd writes
// it out; the adapter sets it).
struct FlowSpec {
    bool transfer = false;  // an e-switch rule (switchdev); else an ingress rule of its port
    // transfer: traffic entering the e-switch from this port (represented_port), a port name as
    // the switch table has it ("up0", "guest/nic").
    std::string from_port;
    std::optional<MacBits> eth_dst;
    std::optional<Masked16> vlan_vid;  // a VLAN item (802.1Q) matching this VID
    std::uint8_t family = 0;           // 0: no IP item; 4 or 6
    std::optional<Cidr> src;           // within the IP item
    std::optional<Cidr> dst;
    std::optional<std::uint8_t> proto;      // the IP item's next protocol
    std::optional<Masked16> sport, dport;   // a TCP or UDP item (by `proto`)
    std::optional<std::uint8_t> icmp_type;  // an ICMP or ICMPv6 item (by family)
    std::optional<std::uint8_t> icmp_code;
    FlowAction action = FlowAction::kDrop;
    std::string to_port;  // kToRepresentor
    bool count = true;    // a COUNT action first (the adapter drops it for a PMD without one)
    bool operator==(const FlowSpec&) const = default;
};

// The flow as testpmd's command line writes it, with `port` for the port id:
//   flow create up0 ingress pattern eth dst is 52:54:00:00:01:01 / vlan vid is 100 /
//   ipv4 src spec 198.18.0.0 src mask 255.255.0.0 proto is 6 / tcp dst spec 22 dst mask 65535 /
//   end actions count / drop / end
std::string to_testpmd(const FlowSpec& flow, std::string_view port);

// Whether a packet matches the flow, the way a NIC implementing rte_flow's semantics decides:
// `vid` is the 802.1Q VID of a tagged frame (nullopt: untagged); `l3` is the parse result of
// the IP header (a frame that isn't IP has kNotIp); `header_proto` the IP header's own protocol
// field (IPv6: the first next header, which may be an extension header). Ports and ICMP fields
// match only where the packet has them. Used by the equivalence test as the NIC.
bool flow_matches(const FlowSpec& flow, MacBits eth_dst, std::optional<std::uint16_t> vid,
                  L3Result l3, std::uint8_t header_proto, const FlowKey& key);

enum class EntryKind : std::uint8_t {
    kRule,         // a firewall rule (or a direction's default) of a guest NIC
    kUnusedVlans,  // an uplink's frames on VLANs no guest NIC uses (the switch drops them)
    kSteering,     // switchdev: a port's traffic through its representor, into the switch
};

// One thing the dataplane may run in a NIC, where the plan puts it, and its flows.
struct Entry {
    EntryKind kind = EntryKind::kRule;
    std::string port;  // the port whose NIC gets the flows (an uplink), by switch table name
    std::string nic;   // kRule: "guest/nic"; kSteering: the port steered
    config::Direction direction = config::Direction::kIngress;  // kRule
    std::string rule;  // kRule: the rule's id, or "default"
    int index = -1;    // kRule: the rule's position in its list; -1 for the default
    config::Action action = config::Action::kDeny;  // kRule
    bool to_nic = false;          // the plan puts it in the NIC; else `why_not` says why
    std::string why_not;          // a sentence a user reads in `vfgatectl dataplane offload`
    std::vector<FlowSpec> flows;  // when to_nic: all of them, or the entry stays in software
};

struct Plan {
    std::vector<Entry> entries;  // ports in switch table order; per NIC ingress then egress
};

// The most flows one rule may expand to (its CIDRs times its port ranges as masks); beyond it
// the rule stays in software.
inline constexpr std::size_t kMaxFlowsPerRule = 64;
// The most rule flows the plan puts on one uplink (NICs hold thousands; the rules past it stay
// in software), and the most rule pairs it compares to place the rules of one guest NIC (the
// safety checks compare a deny rule with the rules before it and the egress list).
inline constexpr std::size_t kMaxFlowsPerPort = 8192;
inline constexpr std::size_t kMaxComparisons = 4'000'000;

// The offload plan of a validated config. Uplinks with `offload: false` get their entries with
// the reason; a NIC without a firewall, or one the NIC switches in legacy mode, gets none.
Plan plan(const config::Config& cfg);

}  // namespace vfgate::dataplane::offload
