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
#include <span>

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
};

// `l3` is the frame from the IP header on (after Ethernet and any VLAN tag).
L3Result parse_l3l4(std::uint16_t ethertype, std::span<const std::byte> l3, FlowKey& key) noexcept;

}  // namespace vfgate::dataplane
