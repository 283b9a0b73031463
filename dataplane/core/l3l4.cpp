#include "l3l4.hpp"

#include <algorithm>

#include "packet.hpp"

namespace vfgate::dataplane {
namespace {

std::uint8_t u8(std::span<const std::byte> b, std::size_t i) {
    return static_cast<std::uint8_t>(b[i]);
}

std::uint16_t be16(std::span<const std::byte> b, std::size_t i) { return load_be16(&b[i]); }

// Reads the L4 header at `l4` (the IP payload) into the key.
L3Result parse_l4(std::span<const std::byte> l4, FlowKey& k) noexcept {
    k.l4_len = static_cast<std::uint16_t>(std::min<std::size_t>(l4.size(), 0xffff));
    switch (k.proto) {
        case kIpProtoTcp: {
            if (l4.size() < 20) return L3Result::kMalformed;
            std::size_t off = static_cast<std::size_t>(u8(l4, 12) >> 4) * 4;
            if (off < 20 || off > l4.size()) return L3Result::kMalformed;
            k.sport = be16(l4, 0);
            k.dport = be16(l4, 2);
            k.tcp_flags = u8(l4, 13);
            k.has_ports = true;
            return L3Result::kOk;
        }
        case kIpProtoUdp:
            if (l4.size() < 8) return L3Result::kMalformed;
            k.sport = be16(l4, 0);
            k.dport = be16(l4, 2);
            k.has_ports = true;
            return L3Result::kOk;
        case kIpProtoIcmp:
        case kIpProtoIcmpv6: {
            bool v6 = k.proto == kIpProtoIcmpv6;
            if ((k.family == 6) != v6) return L3Result::kOk;  // ICMP over IPv6: just a protocol
            if (l4.size() < 4) return L3Result::kMalformed;
            k.icmp_type = u8(l4, 0);
            k.icmp_code = u8(l4, 1);
            k.is_icmp = true;
            bool echo = v6 ? (k.icmp_type == 128 || k.icmp_type == 129)
                           : (k.icmp_type == 8 || k.icmp_type == 0);
            if (echo) {
                if (l4.size() < 8) return L3Result::kMalformed;
                k.sport = k.dport = be16(l4, 4);
            }
            return L3Result::kOk;
        }
        default:
            return L3Result::kOk;  // no ports for the firewall to read
    }
}

L3Result parse_ipv4(std::span<const std::byte> b, FlowKey& k) noexcept {
    if (b.size() < 20 || (u8(b, 0) >> 4) != 4) return L3Result::kMalformed;
    std::size_t ihl = static_cast<std::size_t>(u8(b, 0) & 0x0f) * 4;
    std::size_t total = be16(b, 2);
    if (ihl < 20 || total < ihl || total > b.size()) return L3Result::kMalformed;
    k.family = 4;
    k.proto = u8(b, 9);
    std::copy_n(b.begin() + 12, 4, reinterpret_cast<std::byte*>(k.src.data()));
    std::copy_n(b.begin() + 16, 4, reinterpret_cast<std::byte*>(k.dst.data()));
    std::uint16_t frag = be16(b, 6);
    bool more = (frag & 0x2000) != 0;
    std::uint16_t offset = frag & 0x1fff;
    if (more || offset != 0) {
        k.fragment = true;
        k.frag_id = be16(b, 4);
        if (offset != 0) return L3Result::kLaterFragment;
    }
    k.l4_offset = static_cast<std::uint16_t>(ihl);
    return parse_l4(b.subspan(ihl, total - ihl), k);
}

L3Result parse_ipv6(std::span<const std::byte> b, FlowKey& k) noexcept {
    if (b.size() < 40 || (u8(b, 0) >> 4) != 6) return L3Result::kMalformed;
    std::size_t payload = be16(b, 4);
    if (40 + payload > b.size()) return L3Result::kMalformed;
    k.family = 6;
    std::copy_n(b.begin() + 8, 16, reinterpret_cast<std::byte*>(k.src.data()));
    std::copy_n(b.begin() + 24, 16, reinterpret_cast<std::byte*>(k.dst.data()));
    std::uint8_t nh = u8(b, 6);
    std::span<const std::byte> rest = b.subspan(40, payload);
    for (int i = 0; i < kMaxExtHeaders && is_ipv6_ext_header(nh); ++i) {
        if (rest.size() < 8) return L3Result::kMalformed;
        std::uint8_t next = u8(rest, 0);
        std::size_t len = 0;
        if (nh == 44) {  // fragment header: fixed 8 bytes
            len = 8;
            std::uint16_t off_flags = be16(rest, 2);
            k.fragment = true;
            k.frag_id = (std::uint32_t{be16(rest, 4)} << 16) | be16(rest, 6);
            if ((off_flags & 0xfff8) != 0) {
                // A later fragment: what follows is the datagram's payload from its offset on,
                // no header (even when the fragmentable part starts with one: AH, destination
                // options). Its protocol is the fragment header's next header.
                k.proto = next;
                return L3Result::kLaterFragment;
            }
        } else if (nh == 51) {  // AH: length in 4-byte units, minus 2
            len = (static_cast<std::size_t>(u8(rest, 1)) + 2) * 4;
        } else {
            len = (static_cast<std::size_t>(u8(rest, 1)) + 1) * 8;
        }
        if (len > rest.size()) return L3Result::kMalformed;
        rest = rest.subspan(len);
        nh = next;
    }
    if (is_ipv6_ext_header(nh)) return L3Result::kMalformed;  // deeper than we walk
    k.proto = nh;
    k.l4_offset = static_cast<std::uint16_t>(rest.data() - b.data());
    return parse_l4(rest, k);
}

}  // namespace

L3Result parse_l3l4_general(std::uint16_t ethertype, std::span<const std::byte> l3,
                            FlowKey& key) noexcept {
    key = FlowKey{};
    if (ethertype == kEtherIpv4) return parse_ipv4(l3, key);
    if (ethertype == kEtherIpv6) return parse_ipv6(l3, key);
    return L3Result::kNotIp;
}

}  // namespace vfgate::dataplane
