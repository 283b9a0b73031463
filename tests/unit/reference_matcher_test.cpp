// The firewall semantics of config-v1 ("Rules") on the reference matcher, with rules written as
// a user writes them (YAML through the config loader) and packets built as bytes.

#include "reference_matcher.hpp"

#include <gtest/gtest.h>

#include <vfgate/config/load.hpp>

#include "../common/frames.hpp"

namespace vfgate::dataplane {
namespace {

using namespace vfgate::test;
using config::Action;

config::Firewall firewall(const std::string& rules) {
    std::string text =
        "version: 1\ndataplane:\n  uplinks: [{name: up0, device: net_null0}]\n"
        "guests:\n  - name: g\n    nics:\n"
        "      - name: n\n        type: vhost-user\n        mac: \"52:54:00:00:00:01\"\n"
        "        firewall:\n" +
        rules;
    auto r = config::load_string(text);
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].to_string());
    return r.ok() ? *r.config->guests[0].nics[0].firewall : config::Firewall{};
}

FlowKey key(std::uint16_t ethertype, const Bytes& l3) {
    FlowKey k;
    auto res = parse_l3l4(ethertype, l3, k);
    EXPECT_TRUE(res == L3Result::kOk || res == L3Result::kLaterFragment);
    return k;
}

FlowKey tcp4(std::array<std::uint8_t, 4> src, std::uint16_t sport, std::uint16_t dport) {
    return key(0x0800, ipv4(src, v4(10, 0, 0, 99), 6, tcp(sport, dport)));
}

RuleMatch ingress(const config::Firewall& fw, const FlowKey& k) {
    return reference_match(fw.ingress, fw.ingress_default, k);
}

TEST(ReferenceMatcher, FirstMatchWinsThenTheDefault) {
    auto fw = firewall(R"(          ingress:
            - {id: deny-evil, action: deny, src: 10.66.0.0/16}
            - {id: ssh, action: allow, proto: tcp, src: 10.0.0.0/8, dst_port: 22}
)");
    EXPECT_EQ(ingress(fw, tcp4(v4(10, 66, 1, 1), 1000, 22)).index, 0);
    EXPECT_EQ(ingress(fw, tcp4(v4(10, 66, 1, 1), 1000, 22)).action, Action::kDeny);
    EXPECT_EQ(ingress(fw, tcp4(v4(10, 1, 1, 1), 1000, 22)).action, Action::kAllow);
    auto miss = ingress(fw, tcp4(v4(10, 1, 1, 1), 1000, 23));
    EXPECT_EQ(miss.index, -1);
    EXPECT_EQ(miss.action, Action::kDeny);  // ingress_default defaults to deny
    // No egress rules: egress_default, which defaults to allow.
    EXPECT_EQ(reference_match(fw.egress, fw.egress_default, tcp4(v4(1, 1, 1, 1), 1, 1)).action,
              Action::kAllow);
}

TEST(ReferenceMatcher, PortsNumbersRangesAndLists) {
    auto fw = firewall(R"(          ingress:
            - {action: allow, proto: tcp, dst_port: [80, 443, "8000-8080"]}
            - {action: allow, proto: udp, src_port: 53}
)");
    for (std::uint16_t p : {80, 443, 8000, 8042, 8080}) {
        EXPECT_EQ(ingress(fw, tcp4(v4(1, 1, 1, 1), 1, p)).index, 0) << p;
    }
    for (std::uint16_t p : {79, 81, 7999, 8081}) {
        EXPECT_EQ(ingress(fw, tcp4(v4(1, 1, 1, 1), 1, p)).index, -1) << p;
    }
    EXPECT_EQ(
        ingress(fw, key(0x0800, ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 17, udp(53, 9999)))).index, 1);
    EXPECT_EQ(ingress(fw, key(0x0800, ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 17, udp(54, 53)))).index,
              -1);
    // Protocol by number: proto 6 is tcp.
    auto by_number = firewall("          ingress: [{action: allow, proto: 6, dst_port: 80}]\n");
    EXPECT_EQ(ingress(by_number, tcp4(v4(1, 1, 1, 1), 1, 80)).index, 0);
}

TEST(ReferenceMatcher, Ipv4CidrsNeverMatchIpv6) {
    auto fw = firewall(R"(          ingress:
            - {id: v4, action: allow, src: 0.0.0.0/0}
            - {id: both, action: allow, src: [10.0.0.0/8, "fd00::/8"], proto: udp}
)");
    auto v6pkt = key(0x86dd, ipv6(v6(1), v6(2), 6, tcp(1, 2)));
    EXPECT_EQ(ingress(fw, v6pkt).index, -1);
    EXPECT_EQ(ingress(fw, tcp4(v4(9, 9, 9, 9), 1, 2)).index, 0);
    EXPECT_EQ(ingress(fw, key(0x86dd, ipv6(v6(1), v6(2), 17, udp(1, 2)))).index, 1);
}

TEST(ReferenceMatcher, IcmpTypeAndCode) {
    auto fw = firewall(R"(          ingress:
            - {id: ping, action: allow, proto: icmp, icmp_type: 8}
            - {id: ping6, action: allow, proto: icmpv6, icmp_type: 128, icmp_code: 0}
)");
    EXPECT_EQ(
        ingress(fw, key(0x0800, ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 1, icmp(8, 0, 1)))).index, 0);
    EXPECT_EQ(ingress(fw, key(0x0800, ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 1, icmp(13, 0)))).index,
              -1);
    EXPECT_EQ(ingress(fw, key(0x86dd, ipv6(v6(1), v6(2), 58, icmp(128, 0, 1)))).index, 1);
    EXPECT_EQ(ingress(fw, key(0x86dd, ipv6(v6(1), v6(2), 58, icmp(129, 0, 1)))).index, -1);
}

TEST(ReferenceMatcher, AbsentFieldsMatchAnything) {
    auto fw = firewall("          ingress_default: allow\n          ingress: [{action: deny}]\n");
    EXPECT_EQ(ingress(fw, tcp4(v4(1, 2, 3, 4), 5, 6)).action, Action::kDeny);
    EXPECT_EQ(ingress(fw, key(0x86dd, ipv6(v6(1), v6(2), 47, Bytes(8)))).action, Action::kDeny);
}

TEST(ReferenceMatcher, LaterFragmentsMatchNoPortRule) {
    auto fw = firewall(R"(          ingress:
            - {id: dns, action: allow, proto: udp, dst_port: 53}
            - {id: any-udp, action: allow, proto: udp}
)");
    auto later = key(0x0800, ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 17, Bytes(32), 10, false));
    EXPECT_EQ(ingress(fw, later).index, 1);  // it has no ports for rule 0 to read
}

}  // namespace
}  // namespace vfgate::dataplane
