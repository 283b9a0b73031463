#pragma once
// Crafting Ethernet frames for tests: plain bytes, as they'd be on the wire without FCS.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vfgate::test {

using Bytes = std::vector<std::byte>;

inline void put16(Bytes& b, std::uint16_t v) {
    b.push_back(std::byte(v >> 8));
    b.push_back(std::byte(v & 0xff));
}

// "52:54:00:00:00:01" -> 6 bytes.
inline void put_mac(Bytes& b, const std::string& mac) {
    for (std::size_t i = 0; i < 17; i += 3)
        b.push_back(std::byte(std::stoi(mac.substr(i, 2), nullptr, 16)));
}

struct Frame {
    std::string dst = "ff:ff:ff:ff:ff:ff";
    std::string src = "52:54:00:00:00:01";
    std::vector<std::uint16_t> tags;  // TPID/TCI pairs flattened: {0x8100, vid, ...}
    std::uint16_t ethertype = 0x0800;
    std::size_t payload = 46;  // bytes after the EtherType (46: a 64-byte frame w/o FCS - 4)
    std::uint8_t fill = 0xab;
    Bytes l3;  // when set: the bytes after the EtherType, instead of `payload` x `fill`

    Bytes bytes() const {
        Bytes b;
        put_mac(b, dst);
        put_mac(b, src);
        for (auto t : tags) put16(b, t);
        put16(b, ethertype);
        if (l3.empty()) {
            b.insert(b.end(), payload, std::byte(fill));
        } else {
            b.insert(b.end(), l3.begin(), l3.end());
        }
        return b;
    }
};

inline Frame eth(std::string dst, std::string src = "52:54:00:99:99:99") {
    Frame f;
    f.dst = std::move(dst);
    f.src = std::move(src);
    return f;
}

// A frame with one 802.1Q tag.
inline Frame tagged(Frame f, std::uint16_t vid, std::uint16_t pcp = 0) {
    f.tags = {0x8100, static_cast<std::uint16_t>((pcp << 13) | vid)};
    return f;
}

// L3/L4 headers as bytes (checksums left zero: nothing here checks them).
inline Bytes tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags = 0x02,
                 std::size_t payload = 0) {
    Bytes b;
    b.reserve(20 + payload);  // also keeps GCC 12 at -O3 from a false -Wstringop-overread
    put16(b, sport);
    put16(b, dport);
    b.insert(b.end(), 8, std::byte{0});  // seq, ack
    b.push_back(std::byte{0x50});        // data offset 5
    b.push_back(std::byte{flags});
    b.insert(b.end(), 6, std::byte{0});  // window, checksum, urgent
    b.insert(b.end(), payload, std::byte{0x5a});
    return b;
}

inline Bytes udp(std::uint16_t sport, std::uint16_t dport, std::size_t payload = 0) {
    Bytes b;
    put16(b, sport);
    put16(b, dport);
    put16(b, static_cast<std::uint16_t>(8 + payload));
    put16(b, 0);
    b.insert(b.end(), payload, std::byte{0x5a});
    return b;
}

inline Bytes icmp(std::uint8_t type, std::uint8_t code, std::uint16_t id = 0,
                  std::uint16_t seq = 1) {
    Bytes b{std::byte{type}, std::byte{code}, std::byte{0}, std::byte{0}};
    put16(b, id);
    put16(b, seq);
    return b;
}

inline std::array<std::uint8_t, 4> v4(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                                      std::uint8_t d) {
    return {a, b, c, d};
}

// An IPv4 header + `l4` (fragment offset in 8-byte units, MF flag).
inline Bytes ipv4(std::array<std::uint8_t, 4> src, std::array<std::uint8_t, 4> dst,
                  std::uint8_t proto, const Bytes& l4, std::uint16_t frag_offset = 0,
                  bool more_fragments = false, std::uint16_t id = 0x1234) {
    Bytes b{std::byte{0x45}, std::byte{0}};
    put16(b, static_cast<std::uint16_t>(20 + l4.size()));
    put16(b, id);
    put16(b, static_cast<std::uint16_t>((more_fragments ? 0x2000 : 0) | frag_offset));
    b.push_back(std::byte{64});
    b.push_back(std::byte{proto});
    put16(b, 0);
    for (auto x : src) b.push_back(std::byte{x});
    for (auto x : dst) b.push_back(std::byte{x});
    b.insert(b.end(), l4.begin(), l4.end());
    return b;
}

// An IPv6 header (+ extension headers already encoded in `rest`, first one `next_header`).
inline Bytes ipv6(const std::array<std::uint8_t, 16>& src, const std::array<std::uint8_t, 16>& dst,
                  std::uint8_t next_header, const Bytes& rest) {
    Bytes b{std::byte{0x60}, std::byte{0}, std::byte{0}, std::byte{0}};
    put16(b, static_cast<std::uint16_t>(rest.size()));
    b.push_back(std::byte{next_header});
    b.push_back(std::byte{64});
    for (auto x : src) b.push_back(std::byte{x});
    for (auto x : dst) b.push_back(std::byte{x});
    b.insert(b.end(), rest.begin(), rest.end());
    return b;
}

inline std::array<std::uint8_t, 16> v6(std::uint8_t last) {
    std::array<std::uint8_t, 16> a{0xfd, 0x00};
    a[15] = last;
    return a;
}

// An IPv6 extension header of `len8` 8-byte units (hop-by-hop, routing, destination options).
inline Bytes ext(std::uint8_t next, std::uint8_t len8 = 1) {
    Bytes b{std::byte{next}, std::byte{static_cast<std::uint8_t>(len8 - 1)}};
    b.insert(b.end(), len8 * 8 - 2, std::byte{0});
    return b;
}

inline Bytes frag6(std::uint8_t next, std::uint16_t offset8, bool more, std::uint32_t id) {
    Bytes b{std::byte{next}, std::byte{0}};
    put16(b, static_cast<std::uint16_t>((offset8 << 3) | (more ? 1 : 0)));
    put16(b, static_cast<std::uint16_t>(id >> 16));
    put16(b, static_cast<std::uint16_t>(id & 0xffff));
    return b;
}

// An ARP request (Ethernet/IPv4) from `sha`/`spa` for `tpa`.
inline Bytes arp(const std::string& sha, std::array<std::uint8_t, 4> spa,
                 std::array<std::uint8_t, 4> tpa) {
    Bytes b;
    put16(b, 1);       // Ethernet
    put16(b, 0x0800);  // IPv4
    b.push_back(std::byte{6});
    b.push_back(std::byte{4});
    put16(b, 1);  // request
    put_mac(b, sha);
    for (auto x : spa) b.push_back(std::byte{x});
    b.insert(b.end(), 6, std::byte{0});
    for (auto x : tpa) b.push_back(std::byte{x});
    return b;
}

// A frame carrying `l3` (an EtherType of IPv4, IPv6 or ARP).
inline Frame packet(std::string dst, std::string src, std::uint16_t ethertype, Bytes l3) {
    Frame f = eth(std::move(dst), std::move(src));
    f.ethertype = ethertype;
    f.l3 = std::move(l3);
    return f;
}

inline Bytes cat(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

}  // namespace vfgate::test
