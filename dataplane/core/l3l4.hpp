#pragma once
// Parsing IPv4/IPv6 and the L4 header into the flow key the firewall classifies and
// connection tracking looks up. Works on bytes (tested on arrays, fuzzed); never reads outside
// the span; hot-path safe (no allocation, no exceptions).
//
// Policy for odd packets (docs/firewall.md):
//   - a truncated or inconsistent IPv4/IPv6/TCP/UDP/ICMP header is kMalformed (dropped, counted);
//   - IPv6 extension headers are walked (hop-by-hop, routing, fragment, destination options,
//     AH; at most kMaxExtHeaders); ESP and unknown next headers end the walk;
//   - a first fragment (offset 0) is classified by its L4 header; a later fragment has none:
//     it is kLaterFragment and follows its first fragment's verdict (or is dropped).

#include <array>
#include <cstdint>
#include <cstring>
#include <span>

#include "packet.hpp"

namespace vfgate::dataplane {

inline constexpr std::uint8_t kIpProtoIcmp = 1;
inline constexpr std::uint8_t kIpProtoTcp = 6;
inline constexpr std::uint8_t kIpProtoUdp = 17;
inline constexpr std::uint8_t kIpProtoIcmpv6 = 58;
inline constexpr int kMaxExtHeaders = 8;

enum class L3Result : std::uint8_t {
    kOk,             // key complete (ports or ICMP fields as the protocol has them)
    kLaterFragment,  // a non-first fragment: addresses, proto and fragment id only
    kMalformed,      // truncated or inconsistent headers
    kNotIp,          // the EtherType isn't IPv4 or IPv6
};

struct FlowKey {
    std::uint8_t family = 0;             // 4 or 6
    std::uint8_t proto = 0;              // the upper-layer protocol (after IPv6 extension headers)
    std::array<std::uint8_t, 16> src{};  // IPv4: first 4 bytes
    std::array<std::uint8_t, 16> dst{};
    std::uint16_t sport = 0;  // TCP/UDP; ICMP echo: the identifier (both)
    std::uint16_t dport = 0;
    std::uint8_t icmp_type = 0;
    std::uint8_t icmp_code = 0;
    std::uint8_t tcp_flags = 0;   // FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10
    bool has_ports = false;       // TCP or UDP with ports read
    bool is_icmp = false;         // ICMP or ICMPv6 with type/code read
    bool fragment = false;        // part of a fragmented datagram (first or later)
    std::uint32_t frag_id = 0;    // IPv4 identification or IPv6 fragment identification
    std::uint16_t l4_len = 0;     // bytes from the L4 header to the end of the IP payload
    std::uint16_t l4_offset = 0;  // where the L4 header starts in the span given to the parser
    bool operator==(const FlowKey&) const = default;
};

// The IPv6 extension headers the parser walks past (hop-by-hop, routing, fragment, destination
// options, AH): a key's protocol is never one of them, except a later fragment's.
constexpr bool is_ipv6_ext_header(std::uint8_t nh) noexcept {
    return nh == 0 || nh == 43 || nh == 44 || nh == 60 || nh == 51;
}

// The general parser: every case above. `l3` is the frame from the IP header on (after
// Ethernet and any VLAN tag).
L3Result parse_l3l4_general(std::uint16_t ethertype, std::span<const std::byte> l3,
                            FlowKey& key) noexcept;

// Whether `l3` (after an IPv4 EtherType) is the common case the fast paths take: version 4,
// IHL 5, neither MF nor an offset (DF and the reserved bit don't matter), the total length
// within the span, carrying a well-formed UDP header or a TCP header whose data offset runs from
// 5 words to the end of the segment. Its addresses are at 12 and 16, its ports at 20 and 22.
inline bool is_plain_ipv4_l4(std::span<const std::byte> l3) noexcept {
    constexpr std::size_t kIp = 20, kUdp = 8, kTcp = 20;
    if (l3.size() < kIp + kUdp) return false;
    const auto* p = reinterpret_cast<const std::uint8_t*>(l3.data());
    const auto be16 = [&l3](std::size_t at) { return load_be16(l3.data() + at); };
    const std::uint8_t proto = p[9];
    const std::size_t total = be16(2);
    const bool plain = p[0] == 0x45 && (be16(6) & 0x3fff) == 0 && total <= l3.size();
    const bool udp = proto == kIpProtoUdp && total >= kIp + kUdp;
    const bool tcp = proto == kIpProtoTcp && total >= kIp + kTcp;
    // The TCP data offset is read only once the length shows the byte is there.
    const auto tcp_header = [p] { return std::size_t{p[kIp + 12]} >> 4U << 2U; };
    return plain && (udp || (tcp && tcp_header() >= kTcp && tcp_header() <= total - kIp));
}

// The parser the fast path calls: inline for the common case (is_plain_ipv4_l4), the general
// parser for the rest. Both give the same result and key for every input (the fuzz target and
// a unit test check).
inline L3Result parse_l3l4(std::uint16_t ethertype, std::span<const std::byte> l3,
                           FlowKey& key) noexcept {
    constexpr std::size_t kIp = 20;
    if (ethertype == kEtherIpv4 && is_plain_ipv4_l4(l3)) {
        const auto* p = reinterpret_cast<const std::uint8_t*>(l3.data());
        const auto be16 = [&l3](std::size_t at) { return load_be16(l3.data() + at); };
        // Written in place: a key built on the stack and copied over stalled store forwarding
        // (its wide loads spanned the narrow stores that built it).
        FlowKey& k = key;
        k = FlowKey{};
        k.family = 4;
        k.proto = p[9];
        std::memcpy(k.src.data(), p + 12, 4);
        std::memcpy(k.dst.data(), p + 16, 4);
        k.sport = be16(kIp);
        k.dport = be16(kIp + 2);
        k.tcp_flags = k.proto == kIpProtoTcp ? p[kIp + 13] : 0;
        k.has_ports = true;
        k.l4_len = static_cast<std::uint16_t>(be16(2) - kIp);
        k.l4_offset = kIp;
        return L3Result::kOk;
    }
    return parse_l3l4_general(ethertype, l3, key);
}

}  // namespace vfgate::dataplane
