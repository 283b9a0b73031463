#pragma once
// Why a frame was dropped. Every drop on the fast path is counted under one of these, per
// port and per worker; none is logged. Names are the counter labels users see.

#include <array>
#include <cstdint>
#include <string_view>

namespace vfgate::dataplane {

enum class DropReason : std::uint8_t {
    kRunt,           // shorter than an Ethernet header (14 bytes)
    kOversize,       // larger than the port's MTU allows
    kGuestTagged,    // a guest sent an 802.1Q/802.1ad frame (priority tags included)
    kSpoofedMac,     // a guest sent from a MAC that isn't its own
    kToOwnMac,       // a guest sent a frame to its own MAC
    kNonIp,          // neither IPv4, IPv6 nor ARP
    kUnknownVlan,    // from an uplink, on a VLAN no NIC of that uplink uses (or QinQ)
    kUnknownDst,     // from an uplink, to a unicast MAC no NIC of its domain has
    kNoMbuf,         // no buffer left to copy a flooded frame
    kTxFailed,       // the destination port refused it (TX queue full or link down)
    kMalformed,      // an IP or ARP header a check needs is truncated or inconsistent
    kSpoofedIp,      // a guest sent from an IP address that isn't its own, or a packet toward a
                     // guest with a firewall came from one of the guest's own addresses
    kSpoofedArp,     // a guest's ARP claims a MAC or IPv4 address that isn't its own
    kSpoofedNd,      // a guest's neighbour discovery claims an address that isn't its own
    kRouterAdvert,   // a guest sent an IPv6 router advertisement or redirect
    kFirewall,       // denied by a firewall rule or default
    kConntrackFull,  // a new connection found the worker's connection table full
    kFragment,       // a later fragment whose first fragment didn't pass (or hasn't yet)
    kCount,
};

inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::kCount);

inline constexpr std::array<std::string_view, kDropReasonCount> kDropReasonNames{
    "runt",      "oversize",       "guest_tagged",     "spoofed_mac", "to_own_mac",
    "non_ip",    "unknown_vlan",   "unknown_dst",      "no_mbuf",     "tx_failed",
    "malformed", "spoofed_ip",     "spoofed_arp",      "spoofed_nd",  "router_advert",
    "firewall",  "conntrack_full", "fragment_unknown",
};

constexpr std::string_view name(DropReason r) {
    return kDropReasonNames[static_cast<std::size_t>(r)];
}

}  // namespace vfgate::dataplane
