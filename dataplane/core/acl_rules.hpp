#pragma once
// Compiling firewall rules for rte_acl, the part that needs no DPDK: the layout of the
// per-packet key (what rte_acl classifies), and the expansion of each config rule into flat
// ACL rules per IP version (one per combination of its CIDRs and port ranges).
//
// Semantics are the reference matcher's (reference_matcher.hpp); the equivalence test holds the
// compiled classifier to it. Build time only, except fill_key (hot path: no allocation).

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include <vfgate/common/error.hpp>
#include <vfgate/config/config.hpp>

#include "l3l4.hpp"

namespace vfgate::dataplane::acl {

// Key flags byte.
inline constexpr std::uint8_t kHasPorts = 0x01;
inline constexpr std::uint8_t kIsIcmp = 0x02;

// The key rte_acl reads, in network byte order. IPv4: 20 bytes; IPv6: 44 bytes.
//   v4: proto@0 | src@4 | dst@8 | sport@12 dport@14 | icmp_type@16 icmp_code@17 flags@18
//   v6: proto@0 | src@4..19 | dst@20..35 | sport@36 dport@38 | icmp_type@40 code@41 flags@42
inline constexpr std::size_t kKeySize4 = 20;
inline constexpr std::size_t kKeySize6 = 44;
using Key = std::array<std::uint8_t, 48>;

void fill_key(const FlowKey& k, Key& out) noexcept;

// One flat rule: exact-or-any bytes, prefixes and ranges.
struct FlatRule {
    std::uint8_t family = 4;
    std::uint8_t proto = 0, proto_mask = 0;
    std::array<std::uint8_t, 16> src{}, dst{};
    std::uint8_t src_prefix = 0, dst_prefix = 0;
    std::uint16_t sport_lo = 0, sport_hi = 0xffff, dport_lo = 0, dport_hi = 0xffff;
    std::uint8_t icmp_type = 0, icmp_type_mask = 0, icmp_code = 0, icmp_code_mask = 0;
    std::uint8_t flags = 0, flags_mask = 0;
    std::int32_t priority = 0;   // earlier rules higher: first match wins
    std::uint32_t userdata = 0;  // rule index + 1 (0 is rte_acl's "no match")
};

struct Expanded {
    std::vector<FlatRule> v4, v6;
};

inline constexpr std::size_t kMaxFlatRules = 1u << 22;

// Expands `rules` in order; fails beyond kMaxFlatRules (a rule's lists multiply).
Result<Expanded> expand(std::span<const config::Rule> rules);

}  // namespace vfgate::dataplane::acl
