#pragma once
// Value types for the addresses vfgate deals in: MAC, IP (v4 or v6), CIDR prefix, PCI address.
//
// Parsing and formatting are pure functions (no syscalls, no allocation beyond the returned
// string) used by the config loader, the CLI and the tests; the types themselves are trivially
// copyable and safe to hand to the dataplane's fast path.

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vfgate {

struct MacAddr {
    std::array<std::uint8_t, 6> bytes{};

    bool is_zero() const;
    bool is_multicast() const { return (bytes[0] & 0x01) != 0; }  // broadcast included
    bool is_unicast() const { return !is_multicast() && !is_zero(); }

    auto operator<=>(const MacAddr&) const = default;
};

// "52:54:00:ab:CD:ef" (colon-separated, either case). nullopt on anything else.
std::optional<MacAddr> parse_mac(std::string_view text);
std::string to_string(const MacAddr& mac);  // lower case, colon-separated

enum class IpFamily : std::uint8_t { kV4 = 4, kV6 = 6 };

// An IPv4 or IPv6 address. IPv4 uses the first 4 bytes; bytes are in network order.
struct IpAddr {
    IpFamily family = IpFamily::kV4;
    std::array<std::uint8_t, 16> bytes{};

    int bits() const { return family == IpFamily::kV4 ? 32 : 128; }
    auto operator<=>(const IpAddr&) const = default;
};

std::optional<IpAddr> parse_ip(std::string_view text);
std::string to_string(const IpAddr& ip);

// The IPv6 link-local address a NIC with this MAC forms by EUI-64 (fe80::/64 + modified EUI-64).
IpAddr link_local_from_mac(const MacAddr& mac);

// An address with a prefix length: "10.0.0.0/8", "fd00::1/64", or a bare address (full length).
struct Cidr {
    IpAddr addr;
    int prefix = 0;

    // True if any bit after the prefix is set ("10.0.0.5/8").
    bool has_host_bits() const;
    // The network: host bits cleared.
    Cidr network() const;
    bool contains(const IpAddr& ip) const;
    auto operator<=>(const Cidr&) const = default;
};

// Parses "ADDR/LEN" or "ADDR". On failure returns nullopt and, if `why` is given, says why.
std::optional<Cidr> parse_cidr(std::string_view text, std::string* why = nullptr);
std::string to_string(const Cidr& cidr);

// A PCI function address, domain:bus:device.function ("0000:3b:00.0").
struct PciAddr {
    std::uint32_t domain = 0;
    std::uint8_t bus = 0;
    std::uint8_t device = 0;    // 0-31
    std::uint8_t function = 0;  // 0-7

    auto operator<=>(const PciAddr&) const = default;
};

// Accepts "DDDD:BB:DD.F" (domain of 1-8 hex digits) and the short "BB:DD.F" (domain 0).
std::optional<PciAddr> parse_pci(std::string_view text);
std::string to_string(const PciAddr& pci);  // "0000:3b:00.0"

}  // namespace vfgate
