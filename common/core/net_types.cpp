#include <algorithm>
#include <arpa/inet.h>
#include <charconv>
#include <cstdio>

#include <vfgate/common/net_types.hpp>

namespace vfgate {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Parses exactly `width` hex digits (or 1..width when `exact` is false) at the front of `s`.
std::optional<std::uint32_t> take_hex(std::string_view& s, std::size_t width, bool exact) {
    std::size_t n = 0;
    std::uint32_t v = 0;
    while (n < s.size() && n < width && hex_value(s[n]) >= 0) {
        v = v * 16 + static_cast<std::uint32_t>(hex_value(s[n]));
        ++n;
    }
    if (n == 0 || (exact && n != width)) return std::nullopt;
    s.remove_prefix(n);
    return v;
}

bool take_char(std::string_view& s, char c) {
    if (s.empty() || s.front() != c) return false;
    s.remove_prefix(1);
    return true;
}

}  // namespace

bool MacAddr::is_zero() const {
    return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

std::optional<MacAddr> parse_mac(std::string_view text) {
    MacAddr mac;
    for (std::size_t i = 0; i < mac.bytes.size(); ++i) {
        if (i > 0 && !take_char(text, ':')) return std::nullopt;
        auto v = take_hex(text, 2, true);
        if (!v) return std::nullopt;
        mac.bytes[i] = static_cast<std::uint8_t>(*v);
    }
    if (!text.empty()) return std::nullopt;
    return mac;
}

std::string to_string(const MacAddr& mac) {
    char buf[18];
    static_cast<void>(std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac.bytes[0],
                                    mac.bytes[1], mac.bytes[2], mac.bytes[3], mac.bytes[4],
                                    mac.bytes[5]));
    return buf;
}

std::optional<IpAddr> parse_ip(std::string_view text) {
    if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
    std::string s(text);  // inet_pton wants a NUL-terminated string
    IpAddr ip;
    if (s.find(':') == std::string::npos) {
        ip.family = IpFamily::kV4;
        if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
    } else {
        ip.family = IpFamily::kV6;
        if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
    }
    return ip;
}

std::string to_string(const IpAddr& ip) {
    char buf[INET6_ADDRSTRLEN];
    int af = ip.family == IpFamily::kV4 ? AF_INET : AF_INET6;
    if (inet_ntop(af, ip.bytes.data(), buf, sizeof buf) == nullptr) return "?";
    return buf;
}

IpAddr link_local_from_mac(const MacAddr& mac) {
    IpAddr ip;
    ip.family = IpFamily::kV6;
    ip.bytes[0] = 0xfe;
    ip.bytes[1] = 0x80;
    ip.bytes[8] = mac.bytes[0] ^ 0x02;  // flip the universal/local bit
    ip.bytes[9] = mac.bytes[1];
    ip.bytes[10] = mac.bytes[2];
    ip.bytes[11] = 0xff;
    ip.bytes[12] = 0xfe;
    ip.bytes[13] = mac.bytes[3];
    ip.bytes[14] = mac.bytes[4];
    ip.bytes[15] = mac.bytes[5];
    return ip;
}

namespace {

// The bits of byte `i` that belong to the prefix.
std::uint8_t prefix_mask(int prefix, std::size_t i) {
    int bits = prefix - static_cast<int>(i) * 8;
    if (bits >= 8) return 0xff;
    if (bits <= 0) return 0x00;
    return static_cast<std::uint8_t>(0xff << (8 - bits));
}

}  // namespace

bool Cidr::has_host_bits() const { return network().addr != addr; }

Cidr Cidr::network() const {
    Cidr n = *this;
    for (std::size_t i = 0; i < n.addr.bytes.size(); ++i) {
        n.addr.bytes[i] &= prefix_mask(prefix, i);
    }
    return n;
}

bool Cidr::contains(const IpAddr& ip) const {
    if (ip.family != addr.family) return false;
    for (std::size_t i = 0; i < ip.bytes.size(); ++i) {
        std::uint8_t m = prefix_mask(prefix, i);
        if ((ip.bytes[i] & m) != (addr.bytes[i] & m)) return false;
    }
    return true;
}

std::optional<Cidr> parse_cidr(std::string_view text, std::string* why) {
    auto say = [&](std::string msg) -> std::optional<Cidr> {
        if (why != nullptr) *why = std::move(msg);
        return std::nullopt;
    };
    auto slash = text.find('/');
    auto ip = parse_ip(text.substr(0, slash));
    if (!ip) return say("not an IPv4 or IPv6 address");
    Cidr c{*ip, ip->bits()};
    if (slash != std::string_view::npos) {
        auto len = text.substr(slash + 1);
        int prefix = -1;
        auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), prefix);
        if (len.empty() || ec != std::errc() || end != len.data() + len.size() || prefix < 0 ||
            prefix > ip->bits()) {
            return say("prefix length must be 0-" + std::to_string(ip->bits()));
        }
        c.prefix = prefix;
    }
    return c;
}

std::string to_string(const Cidr& cidr) {
    return to_string(cidr.addr) + "/" + std::to_string(cidr.prefix);
}

std::optional<PciAddr> parse_pci(std::string_view text) {
    // Count the colons to tell "DDDD:BB:DD.F" from "BB:DD.F".
    auto colons = std::count(text.begin(), text.end(), ':');
    PciAddr pci;
    if (colons == 2) {
        auto d = take_hex(text, 8, false);  // usually 4 digits; VMD domains have 5
        if (!d || !take_char(text, ':')) return std::nullopt;
        pci.domain = *d;
    } else if (colons != 1) {
        return std::nullopt;
    }
    auto bus = take_hex(text, 2, true);
    if (!bus || !take_char(text, ':')) return std::nullopt;
    auto dev = take_hex(text, 2, true);
    if (!dev || *dev > 31 || !take_char(text, '.')) return std::nullopt;
    auto fn = take_hex(text, 1, true);
    if (!fn || *fn > 7 || !text.empty()) return std::nullopt;
    pci.bus = static_cast<std::uint8_t>(*bus);
    pci.device = static_cast<std::uint8_t>(*dev);
    pci.function = static_cast<std::uint8_t>(*fn);
    return pci;
}

std::string to_string(const PciAddr& pci) {
    char buf[16];
    static_cast<void>(std::snprintf(buf, sizeof buf, "%04x:%02x:%02x.%x", pci.domain, pci.bus,
                                    pci.device, pci.function));
    return buf;
}

}  // namespace vfgate
