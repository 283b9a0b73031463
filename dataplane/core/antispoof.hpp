#pragma once
// Anti-spoofing for frames from a guest (config-v1, "Forwarding"): always on, before any rule.
//   - IP source: one of the NIC's addresses of that family (when `addresses` is set), or its
//     IPv6 link-local (EUI-64 of its MAC), or 0.0.0.0 in a DHCP request (UDP 68 -> 67), or ::
//     (duplicate address detection). A NIC with addresses of one family only sends that family.
//   - ARP: sender MAC = its MAC; sender IP one of its IPv4 addresses, or 0.0.0.0 (a probe).
//   - Neighbour advertisement: target one of its IPv6 addresses or its link-local; a target
//     link-layer option, if present, its MAC. Neighbour and router solicitations: a source
//     link-layer option, if present, its MAC. Router advertisements and redirects: dropped.
// Without `addresses`, the IP-level checks (source IP, ARP sender IP, NA target) are off; the
// MAC-level ones (ARP sender MAC, ND link-layer options) and dropping RAs and redirects stay.
// The MAC source itself is checked by the switch stage. Hot path: no allocation.

#include <array>
#include <cstdint>
#include <span>

#include <vfgate/config/config.hpp>

#include "l3l4.hpp"
#include "packet.hpp"

namespace vfgate::dataplane {

enum class SpoofResult : std::uint8_t {
    kOk,
    kSourceIp,      // IPv4/IPv6 source not the NIC's (or a family it has no address of)
    kArp,           // ARP sender MAC or IP not the NIC's
    kNeighbor,      // ND target or link-layer option not the NIC's
    kRouterAdvert,  // a guest sent a router advertisement
    kRedirect,      // a guest sent an ICMPv6 redirect
    kMalformed,     // an ARP or ND message too short to check
};

// What a guest NIC may claim. Fixed capacity: the config's addresses beyond it are refused when
// the snapshot is built.
struct GuestIdentity {
    static constexpr std::size_t kMaxAddresses = 16;
    MacBits mac = 0;
    bool check_ip = false;  // `addresses` was set
    std::uint8_t n4 = 0, n6 = 0;
    std::array<std::array<std::uint8_t, 4>, kMaxAddresses> v4{};
    std::array<std::array<std::uint8_t, 16>, kMaxAddresses> v6{};
    std::array<std::uint8_t, 16> link_local{};

    // From a NIC's config; false if it has more addresses than kMaxAddresses of a family.
    bool assign(const config::Nic& nic);
    bool operator==(const GuestIdentity&) const = default;
};

// IPv6 neighbour discovery (RS, RA, NS, NA): exempt from firewall rules, like ARP (config-v1).
// Redirects are not: from the uplink they meet the receiver's rules (a guest's own are dropped
// by anti-spoofing). The type is tested first, on its own: a combined load of family and proto,
// just written byte by byte by the parser, stalled store forwarding (measured: a fifth of the
// stage's cycles).
constexpr bool is_neighbor_discovery(const FlowKey& k) {
    return k.icmp_type >= 133 && k.icmp_type <= 136 && k.is_icmp && k.proto == kIpProtoIcmpv6 &&
           k.family == 6;
}

// An ARP frame's L3 (the bytes after the EtherType).
SpoofResult check_arp(const GuestIdentity& id, std::span<const std::byte> arp) noexcept;

// An IP packet: `l3` as given to parse_l3l4, `key` what it returned (kOk or kLaterFragment).
SpoofResult check_ip(const GuestIdentity& id, std::span<const std::byte> l3,
                     const FlowKey& key) noexcept;

// Whether the guest may send `key` as far as its source address goes (check_ip's source check).
bool may_send_from(const GuestIdentity& id, const FlowKey& key) noexcept;

// Whether `src` (4 bytes, or 16 for `family` 6) is one of the NIC's addresses or (IPv6) its
// link-local; false without `addresses`. A packet toward the NIC from one of them is forged
// (docs/firewall.md, "Anti-spoofing").
bool is_own_address(const GuestIdentity& id, std::uint8_t family, const std::uint8_t* src) noexcept;

}  // namespace vfgate::dataplane
