#pragma once
// Crafting Ethernet frames for tests: plain bytes, as they'd be on the wire without FCS.

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

    Bytes bytes() const {
        Bytes b;
        put_mac(b, dst);
        put_mac(b, src);
        for (auto t : tags) put16(b, t);
        put16(b, ethertype);
        b.insert(b.end(), payload, std::byte(fill));
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

}  // namespace vfgate::test
