#pragma once
// Parsing the Ethernet header once per packet into metadata the stages read.
//
// Works on bytes (std::span<const std::byte>), so it is tested on arrays; the DPDK adapter
// passes an mbuf's first segment. Hot path: no allocation, no branches beyond the header.

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>

namespace vfgate::dataplane {

inline constexpr std::uint16_t kEtherIpv4 = 0x0800;
inline constexpr std::uint16_t kEtherArp = 0x0806;
inline constexpr std::uint16_t kEtherIpv6 = 0x86dd;
inline constexpr std::uint16_t kEtherVlan = 0x8100;      // 802.1Q C-tag
inline constexpr std::uint16_t kEtherQinq = 0x88a8;      // 802.1ad S-tag
inline constexpr std::uint16_t kEtherQinq9100 = 0x9100;  // pre-standard S-tag

inline constexpr std::uint32_t kEtherHeaderLen = 14;
inline constexpr std::uint32_t kVlanTagLen = 4;

// A MAC as the low 48 bits of an integer, in wire order (first byte most significant).
using MacBits = std::uint64_t;
inline constexpr MacBits kBroadcastMac = 0xffffffffffffULL;

constexpr bool is_group(MacBits mac) { return (mac >> 40) & 0x01; }  // multicast or broadcast

struct L2Meta {
    MacBits dst = 0;
    MacBits src = 0;
    std::uint32_t len = 0;         // frame length (no FCS)
    std::uint16_t outer_type = 0;  // the first EtherType
    std::uint16_t ethertype = 0;   // after one 802.1Q tag, if any
    std::uint16_t vid = 0;         // of that tag (0 when untagged or priority-tagged)
    bool tagged = false;           // the first EtherType is 0x8100
    bool runt = false;             // shorter than a header (or a tag it announces)
};

// 8 bytes at p, as a big-endian number.
inline std::uint64_t load_be64(const std::byte* p) {
    std::uint64_t v = 0;
    std::memcpy(&v, p, sizeof v);
    if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
    return v;
}

// The two MACs of an Ethernet header with two 8-byte loads (p[0..7] and p[4..11]) instead of
// twelve byte loads: a measured part of the per-packet cost (bench/README.md).
inline MacBits load_dst_mac(const std::byte* p) { return load_be64(p) >> 16; }
inline MacBits load_src_mac(const std::byte* p) { return load_be64(p + 4) & 0xffffffffffffULL; }

inline MacBits load_mac(const std::byte* p) {
    MacBits m = 0;
    for (int i = 0; i < 6; ++i) m = (m << 8) | static_cast<std::uint8_t>(p[i]);
    return m;
}

inline std::uint16_t load_be16(const std::byte* p) {
    return static_cast<std::uint16_t>((static_cast<std::uint8_t>(p[0]) << 8) |
                                      static_cast<std::uint8_t>(p[1]));
}

inline bool is_tag_type(std::uint16_t t) {
    return t == kEtherVlan || t == kEtherQinq || t == kEtherQinq9100;
}

// Fills `m` from `frame`. Never reads past the span.
inline void parse_l2(std::span<const std::byte> frame, L2Meta& m) noexcept {
    m = L2Meta{};
    m.len = static_cast<std::uint32_t>(frame.size());
    if (frame.size() < kEtherHeaderLen) {
        m.runt = true;
        return;
    }
    const std::byte* p = frame.data();
    m.dst = load_dst_mac(p);
    m.src = load_src_mac(p);
    m.outer_type = load_be16(p + 12);
    m.ethertype = m.outer_type;
    if (m.outer_type == kEtherVlan) {
        if (frame.size() < kEtherHeaderLen + kVlanTagLen) {
            m.runt = true;
            return;
        }
        m.tagged = true;
        m.vid = load_be16(p + 14) & 0x0fff;
        m.ethertype = load_be16(p + 16);
    }
}

}  // namespace vfgate::dataplane
