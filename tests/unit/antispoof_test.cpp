// Anti-spoofing of config-v1 on frames a guest sends: IP sources, ARP, neighbour discovery.

#include "antispoof.hpp"

#include <gtest/gtest.h>

#include <vfgate/config/load.hpp>

#include "../common/frames.hpp"

namespace vfgate::dataplane {
namespace {

using namespace vfgate::test;

GuestIdentity identity(const char* addresses) {
    std::string text =
        std::string("version: 1\ndataplane:\n  uplinks: [{name: up0, device: net_null0}]\n") +
        "guests:\n  - name: g\n    nics:\n      - {name: n, type: vhost-user, "
        "mac: \"52:54:00:12:34:56\"" +
        addresses + "}\n";
    auto r = config::load_string(text);
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].to_string());
    GuestIdentity id;
    EXPECT_TRUE(id.assign(r.config->guests[0].nics[0]));
    return id;
}

const char* kBoth = R"(, addresses: [10.0.0.5/24, "fd00::5/64"])";

SpoofResult ip_packet(const GuestIdentity& id, std::uint16_t type, const Bytes& l3) {
    FlowKey k;
    auto r = parse_l3l4(type, l3, k);
    EXPECT_TRUE(r == L3Result::kOk || r == L3Result::kLaterFragment);
    return check_ip(id, l3, k);
}

std::array<std::uint8_t, 16> ip6(const char* text) { return parse_ip(text)->bytes; }

Bytes arp(const char* sha, std::array<std::uint8_t, 4> spa) {
    Bytes b;
    put16(b, 1);
    put16(b, 0x0800);
    b.push_back(std::byte{6});
    b.push_back(std::byte{4});
    put16(b, 1);
    put_mac(b, sha);
    for (auto x : spa) b.push_back(std::byte{x});
    b.insert(b.end(), 10, std::byte{0});
    return b;
}

// ICMPv6 ND message: type, 4 reserved bytes, [target], options.
Bytes nd(std::uint8_t type, const std::array<std::uint8_t, 16>* target, std::uint8_t opt_type = 0,
         const char* opt_mac = nullptr) {
    Bytes b{std::byte{type}, std::byte{0}, std::byte{0}, std::byte{0}, {}, {}, {}, {}};
    if (target != nullptr) {
        for (auto x : *target) b.push_back(std::byte{x});
    }
    if (opt_type != 0) {
        b.push_back(std::byte{opt_type});
        b.push_back(std::byte{1});
        put_mac(b, opt_mac);
    }
    return b;
}

TEST(Antispoof, Ipv4SourceMustBeOurs) {
    auto id = identity(kBoth);
    EXPECT_EQ(ip_packet(id, 0x0800, ipv4(v4(10, 0, 0, 5), v4(1, 1, 1, 1), 6, tcp(1, 2))),
              SpoofResult::kOk);
    EXPECT_EQ(ip_packet(id, 0x0800, ipv4(v4(10, 0, 0, 6), v4(1, 1, 1, 1), 6, tcp(1, 2))),
              SpoofResult::kSourceIp);
    // DHCP request from 0.0.0.0: allowed; anything else from 0.0.0.0: not.
    EXPECT_EQ(ip_packet(id, 0x0800, ipv4(v4(0, 0, 0, 0), v4(255, 255, 255, 255), 17, udp(68, 67))),
              SpoofResult::kOk);
    EXPECT_EQ(ip_packet(id, 0x0800, ipv4(v4(0, 0, 0, 0), v4(255, 255, 255, 255), 17, udp(68, 68))),
              SpoofResult::kSourceIp);
}

TEST(Antispoof, Ipv6SourceOursLinkLocalOrUnspecified) {
    auto id = identity(kBoth);
    EXPECT_EQ(ip_packet(id, 0x86dd, ipv6(ip6("fd00::5"), ip6("fd00::1"), 17, udp(1, 2))),
              SpoofResult::kOk);
    EXPECT_EQ(
        ip_packet(id, 0x86dd, ipv6(ip6("fe80::5054:ff:fe12:3456"), ip6("ff02::1"), 17, udp(1, 2))),
        SpoofResult::kOk);
    EXPECT_EQ(ip_packet(id, 0x86dd, ipv6(ip6("::"), ip6("ff02::1:ff00:5"), 17, udp(1, 2))),
              SpoofResult::kOk);
    EXPECT_EQ(ip_packet(id, 0x86dd, ipv6(ip6("fe80::1"), ip6("ff02::1"), 17, udp(1, 2))),
              SpoofResult::kSourceIp);
    EXPECT_EQ(ip_packet(id, 0x86dd, ipv6(ip6("fd00::6"), ip6("fd00::1"), 17, udp(1, 2))),
              SpoofResult::kSourceIp);
}

TEST(Antispoof, OneFamilyOnlyMeansNothingOfTheOther) {
    auto v4only = identity(", addresses: [10.0.0.5/24]");
    EXPECT_EQ(ip_packet(v4only, 0x86dd,
                        ipv6(ip6("fe80::5054:ff:fe12:3456"), ip6("ff02::1"), 17, udp(1, 2))),
              SpoofResult::kSourceIp);
    auto v6only = identity(R"(, addresses: ["fd00::5/64"])");
    EXPECT_EQ(
        ip_packet(v6only, 0x0800, ipv4(v4(0, 0, 0, 0), v4(255, 255, 255, 255), 17, udp(68, 67))),
        SpoofResult::kSourceIp);
}

TEST(Antispoof, NoAddressesNoIpCheck) {
    auto id = identity("");
    EXPECT_EQ(ip_packet(id, 0x0800, ipv4(v4(9, 9, 9, 9), v4(1, 1, 1, 1), 6, tcp(1, 2))),
              SpoofResult::kOk);
    EXPECT_EQ(check_arp(id, arp("52:54:00:12:34:56", v4(9, 9, 9, 9))), SpoofResult::kOk);
    EXPECT_EQ(check_arp(id, arp("52:54:00:99:99:99", v4(9, 9, 9, 9))), SpoofResult::kArp);
}

TEST(Antispoof, Arp) {
    auto id = identity(kBoth);
    EXPECT_EQ(check_arp(id, arp("52:54:00:12:34:56", v4(10, 0, 0, 5))), SpoofResult::kOk);
    EXPECT_EQ(check_arp(id, arp("52:54:00:12:34:56", v4(0, 0, 0, 0))), SpoofResult::kOk);  // probe
    EXPECT_EQ(check_arp(id, arp("52:54:00:12:34:56", v4(10, 0, 0, 1))), SpoofResult::kArp);
    EXPECT_EQ(check_arp(id, arp("52:54:00:00:00:01", v4(10, 0, 0, 5))), SpoofResult::kArp);
    EXPECT_EQ(check_arp(id, Bytes(20)), SpoofResult::kMalformed);
}

TEST(Antispoof, NeighbourDiscovery) {
    auto id = identity(kBoth);
    auto src = ip6("fe80::5054:ff:fe12:3456");
    auto own = ip6("fd00::5");
    auto other = ip6("fd00::9");
    auto na = [&](const std::array<std::uint8_t, 16>& target, std::uint8_t opt, const char* mac) {
        return ip_packet(id, 0x86dd, ipv6(src, ip6("ff02::1"), 58, nd(136, &target, opt, mac)));
    };
    EXPECT_EQ(na(own, 2, "52:54:00:12:34:56"), SpoofResult::kOk);
    EXPECT_EQ(na(src, 0, nullptr), SpoofResult::kOk);  // its link-local, no option
    EXPECT_EQ(na(other, 2, "52:54:00:12:34:56"), SpoofResult::kNeighbor);
    EXPECT_EQ(na(own, 2, "52:54:00:00:00:01"), SpoofResult::kNeighbor);
    auto ns = [&](const char* mac) {
        return ip_packet(id, 0x86dd, ipv6(src, ip6("ff02::1:ff00:9"), 58, nd(135, &other, 1, mac)));
    };
    EXPECT_EQ(ns("52:54:00:12:34:56"), SpoofResult::kOk);
    EXPECT_EQ(ns("52:54:00:00:00:01"), SpoofResult::kNeighbor);
    // Bytes after the IPv6 payload (padding) are no options.
    Bytes padded = ipv6(src, ip6("ff02::1:ff00:9"), 58, nd(135, &other, 1, "52:54:00:12:34:56"));
    padded.insert(padded.end(), 8, std::byte{0});
    EXPECT_EQ(ip_packet(id, 0x86dd, padded), SpoofResult::kOk);
    EXPECT_EQ(ip_packet(id, 0x86dd,
                        ipv6(src, ip6("ff02::2"), 58, nd(133, nullptr, 1, "52:54:00:00:00:01"))),
              SpoofResult::kNeighbor);
    EXPECT_EQ(ip_packet(id, 0x86dd, ipv6(src, ip6("ff02::1"), 58, nd(134, nullptr))),
              SpoofResult::kRouterAdvert);
    EXPECT_EQ(ip_packet(id, 0x86dd, ipv6(src, ip6("ff02::1"), 58, nd(137, &other))),
              SpoofResult::kRedirect);
    EXPECT_EQ(
        ip_packet(id, 0x86dd,
                  ipv6(src, ip6("ff02::1"), 58, Bytes{std::byte{136}, {}, {}, {}, {}, {}, {}, {}})),
        SpoofResult::kMalformed);
}

}  // namespace
}  // namespace vfgate::dataplane
