#pragma once
// The firewall stage (config-v1 "Forwarding", docs/firewall.md), run on a burst after the
// switch stage has chosen each packet's way out. For every packet that a check applies to:
//   1. the L3/L4 headers are parsed once (a malformed header is dropped: `malformed`);
//   2. from a guest, anti-spoofing (source IP, ARP, neighbour discovery, RA and redirects);
//   3. ARP and neighbour discovery skip the rules; later fragments follow their first fragment;
//   4. the sender's egress firewall (if the sender is a guest with one) and the receiver's
//      ingress firewall (if the receiver is a guest with one): stateful ones look the
//      connection up first (one bulk lookup for the burst), and what conntrack doesn't pass is
//      classified with rte_acl, a batch per rule set; the packet passes if every side allows;
//   5. stateful sides that allowed a new connection record it.
// Floods (broadcast, multicast) pass the sender's egress rules here and each receiving guest's
// ingress rules in `admits_copy` (rules only: a flood is no connection).
//
// Hot path: no allocation, no locks. Reads the snapshot; writes the worker's connection and
// fragment tables and counters.

#include <array>
#include <cstdint>

#include "burst.hpp"
#include "conntrack.hpp"
#include "firewall.hpp"
#include "l3l4.hpp"

namespace vfgate::dataplane {

struct Worker;
struct Snapshot;

enum class PacketClass : std::uint8_t {
    kUnchecked,      // nothing applied (or dropped before)
    kBypass,         // ARP or neighbour discovery: anti-spoofing only
    kRules,          // classified (FlowKey complete)
    kLaterFragment,  // passed because its first fragment did
};

// Scratch for one burst. Filled before read: left uninitialized.
struct FilterScratch {  // NOLINT(cppcoreguidelines-pro-type-member-init)
    struct Side {
        const NicFirewall* fw;
        std::uint16_t pkt;
        Dir dir;
        bool swapped;  // conn_key's orientation of this packet
        bool decided;  // conntrack (or re-validation) settled it
        bool allow;
        bool established;     // passed by conntrack
        bool sole;            // the packet's only side: what conntrack settles is its verdict
        bool final;           // a sole side conntrack settled: verdict applied, entry advanced
        bool remembered;      // denied by conntrack: a denial it remembered
        std::int16_t leader;  // an earlier side of this burst on the same new connection, or -1
        std::int32_t pos;     // its connection's position, or negative
        std::uint32_t match;
    };
    std::array<FlowKey, kBurstSize> key;
    std::array<PacketClass, kBurstSize> cls;
    std::array<Side, std::size_t{2} * kBurstSize> side;
    std::array<ConnKey, std::size_t{2} * kBurstSize> conn;
    std::array<acl::Key, std::size_t{2} * kBurstSize> acl_key;
    std::uint16_t sides;
};

void filter(Worker& w, const Snapshot& s, std::uint64_t now) noexcept;

// For a flooded frame (`pkt` in the burst), whether the copy for guest port `to` passes its
// ingress rules; counts the rule hit.
bool admits_copy(Worker& w, const Snapshot& s, std::uint16_t pkt, PortIdx to) noexcept;

}  // namespace vfgate::dataplane
