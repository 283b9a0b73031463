#include <gtest/gtest.h>

#include <vfgate/common/error.hpp>
#include <vfgate/common/net_types.hpp>

namespace vfgate {
namespace {

TEST(Mac, ParsesAndFormats) {
    auto mac = parse_mac("52:54:00:AB:cd:0f");
    ASSERT_TRUE(mac);
    EXPECT_EQ(to_string(*mac), "52:54:00:ab:cd:0f");
    EXPECT_TRUE(mac->is_unicast());
}

TEST(Mac, RejectsMalformed) {
    for (const char* s : {"", "52:54:00:00:00", "52:54:00:00:00:01:02", "52-54-00-00-00-01",
                          "5:54:00:00:00:01", "52:54:00:00:00:0g", "52:54:00:00:00:011"}) {
        EXPECT_FALSE(parse_mac(s)) << s;
    }
}

TEST(Mac, Classifies) {
    EXPECT_TRUE(parse_mac("00:00:00:00:00:00")->is_zero());
    EXPECT_FALSE(parse_mac("00:00:00:00:00:00")->is_unicast());
    EXPECT_TRUE(parse_mac("01:00:5e:00:00:01")->is_multicast());
    EXPECT_TRUE(parse_mac("ff:ff:ff:ff:ff:ff")->is_multicast());
    EXPECT_TRUE(parse_mac("02:00:00:00:00:01")->is_unicast());
}

TEST(Cidr, ParsesBothFamilies) {
    auto v4 = parse_cidr("10.1.2.0/24");
    ASSERT_TRUE(v4);
    EXPECT_EQ(v4->addr.family, IpFamily::kV4);
    EXPECT_EQ(v4->prefix, 24);
    EXPECT_EQ(to_string(*v4), "10.1.2.0/24");
    auto v6 = parse_cidr("fd00:100::11/64");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->addr.family, IpFamily::kV6);
    EXPECT_EQ(to_string(*v6), "fd00:100::11/64");
}

TEST(Cidr, BareAddressIsFullLength) {
    EXPECT_EQ(parse_cidr("192.0.2.1")->prefix, 32);
    EXPECT_EQ(parse_cidr("2001:db8::1")->prefix, 128);
}

TEST(Cidr, RejectsBadInputAndSaysWhy) {
    std::string why;
    EXPECT_FALSE(parse_cidr("10.0.0.0/33", &why));
    EXPECT_EQ(why, "prefix length must be 0-32");
    EXPECT_FALSE(parse_cidr("fd00::/129", &why));
    EXPECT_EQ(why, "prefix length must be 0-128");
    for (const char* s : {"", "10.0.0.256/8", "10.0.0/8", "10.0.0.0/", "10.0.0.0/-1",
                          "10.0.0.0/8/8", "10.0.0.0/ 8", "fd00:::1/64", "host/24"}) {
        EXPECT_FALSE(parse_cidr(s)) << s;
    }
}

TEST(Cidr, HostBitsNetworkAndContains) {
    auto c = *parse_cidr("10.0.0.5/8");
    EXPECT_TRUE(c.has_host_bits());
    EXPECT_EQ(to_string(c.network()), "10.0.0.0/8");
    EXPECT_FALSE(parse_cidr("10.0.0.0/8")->has_host_bits());
    EXPECT_FALSE(parse_cidr("0.0.0.0/0")->has_host_bits());
    EXPECT_TRUE(parse_cidr("fd00::1/127")->has_host_bits());
    EXPECT_TRUE(c.contains(*parse_ip("10.255.0.1")));
    EXPECT_FALSE(c.contains(*parse_ip("11.0.0.1")));
    EXPECT_FALSE(c.contains(*parse_ip("::a00:1")));  // other family never matches
    auto odd = *parse_cidr("192.0.2.128/25");
    EXPECT_TRUE(odd.contains(*parse_ip("192.0.2.255")));
    EXPECT_FALSE(odd.contains(*parse_ip("192.0.2.127")));
}

TEST(Ip, LinkLocalFromMacIsEui64) {
    auto ll = link_local_from_mac(*parse_mac("52:54:00:12:34:56"));
    EXPECT_EQ(to_string(ll), "fe80::5054:ff:fe12:3456");
}

TEST(Pci, ParsesFullAndShortForms) {
    EXPECT_EQ(to_string(*parse_pci("0000:3b:00.0")), "0000:3b:00.0");
    EXPECT_EQ(to_string(*parse_pci("3B:02.7")), "0000:3b:02.7");
    EXPECT_EQ(to_string(*parse_pci("10000:01:00.1")), "10000:01:00.1");
    EXPECT_EQ(*parse_pci("3b:00.0"), *parse_pci("0000:3b:00.0"));
}

TEST(Pci, RejectsMalformed) {
    for (const char* s : {"", "3b:00", "0000:3b:20.0", "0000:3b:00.8", "0000:3b:00.0x", "ens1f0",
                          "net_null0", "0000:3b:0.0", "0000:3b:00:0"}) {
        EXPECT_FALSE(parse_pci(s)) << s;
    }
}

TEST(Error, ChainsContextOutermostFirst) {
    auto e = Error::from_errno(EACCES, "write /sys/bus/pci/devices/0000:03:02.1/driver_override");
    e.context("bind VF 0000:03:02.1 to vfio-pci");
    EXPECT_EQ(e.to_string(),
              "bind VF 0000:03:02.1 to vfio-pci: write "
              "/sys/bus/pci/devices/0000:03:02.1/driver_override: Permission denied (EACCES)");
    EXPECT_EQ(e.kind(), ErrorKind::kSystem);
    Result<int> r = fail(ErrorKind::kNotFound, "no PF ens9");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().to_string(), "no PF ens9");
}

}  // namespace
}  // namespace vfgate
