// The firewall on real mbufs: vfgate-dataplane on net_pcap ports, fed crafted IPv4/IPv6/ARP
// frames; asserts which frames reach which port, the drops by reason, and the hit counter of
// every rule and default. Connection tracking in order on one port (a flow's later packets pass
// as established; a full table drops new connections); replies across ports are in the
// `system` suite, with real kernel traffic.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../common/dataplane_run.hpp"

namespace vfgate::test {
namespace {

using testing::ElementsAre;
using testing::ElementsAreArray;
using testing::IsEmpty;

const char* kA = "02:00:00:00:00:0a";  // g/a: firewall, addresses 10.0.0.10/24, fd00::10/64
const char* kB = "02:00:00:00:00:0b";  // g/b: no firewall, no addresses
const char* kHost = "52:54:00:99:99:99";
const char* kBroadcast = "ff:ff:ff:ff:ff:ff";

constexpr std::uint16_t kIpv4 = 0x0800, kIpv6 = 0x86dd, kArp = 0x0806;
constexpr std::uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmp6 = 58;

std::array<std::uint8_t, 16> addr6(std::uint16_t w0, std::uint16_t w1, std::uint16_t last) {
    std::array<std::uint8_t, 16> a{};
    a[0] = static_cast<std::uint8_t>(w0 >> 8);
    a[1] = static_cast<std::uint8_t>(w0);
    a[2] = static_cast<std::uint8_t>(w1 >> 8);
    a[3] = static_cast<std::uint8_t>(w1);
    a[14] = static_cast<std::uint8_t>(last >> 8);
    a[15] = static_cast<std::uint8_t>(last);
    return a;
}

const auto kA4 = v4(10, 0, 0, 10);
const auto kA6 = v6(0x10);

// From the uplink host to a, IPv4.
Bytes to_a(std::array<std::uint8_t, 4> src, std::uint8_t proto, const Bytes& l4) {
    return packet(kA, kHost, kIpv4, ipv4(src, kA4, proto, l4)).bytes();
}
// From a to the uplink host, IPv4.
Bytes from_a(std::array<std::uint8_t, 4> src, std::uint8_t proto, const Bytes& l4,
             const char* dst_mac = kHost) {
    return packet(dst_mac, kA, kIpv4, ipv4(src, v4(203, 0, 113, 1), proto, l4)).bytes();
}

class FirewallPcap : public testing::Test {
  protected:
    DataplaneRun run_{VFGATE_DATAPLANE};
    // Whatever the scenario, every frame is sent or counted as a drop.
    void TearDown() override { EXPECT_EQ(run_.accounting_gap(), ""); }

    void go(const std::string& firewall, const std::string& dataplane_extra = "") {
        std::string yaml = dataplane_extra + "  uplinks:\n    - {name: up0, device: \"" +
                           run_.pcap_devargs("up0", 0) +
                           "\"}\nguests:\n  - name: g\n    nics:\n"
                           "      - name: a\n        type: dpdk\n        devargs: \"" +
                           run_.pcap_devargs("g/a", 1) +
                           "\"\n        mac: \"02:00:00:00:00:0a\"\n"
                           "        addresses: [10.0.0.10/24, \"fd00::10/64\"]\n" +
                           firewall + "      - {name: b, type: dpdk, devargs: \"" +
                           run_.pcap_devargs("g/b", 2) + "\", mac: \"02:00:00:00:00:0b\"}\n";
        ASSERT_EQ(run_.run(yaml), 0) << run_.log();
    }
    std::vector<Bytes> out(const char* port) const { return run_.output(port); }
    std::uint64_t hits(const char* dir, const char* rule) const {
        return run_.hits("g/a", dir, rule);
    }
};

const char* kRules = R"(        firewall:
          stateful: false
          ingress:
            - {id: ssh, action: allow, proto: tcp, src: 192.0.2.0/24, dst_port: 22}
            - {id: deny-bad, action: deny, proto: tcp, src: 192.0.2.66/32}
            - {id: web, action: allow, proto: tcp, dst_port: [80, 443, "8000-8080"]}
            - {id: dns, action: allow, proto: udp, src_port: 53}
            - {id: ping, action: allow, proto: icmp, icmp_type: 8, icmp_code: 0}
            - {id: v6, action: allow, proto: icmpv6, src: "2001:db8::/32", icmp_type: 128}
            - {id: gre, action: allow, proto: 47, dst: 10.0.0.10/32}
          egress:
            - {id: no-smtp, action: deny, proto: tcp, dst_port: 25}
)";

TEST_F(FirewallPcap, EveryRuleFieldFirstMatchWinsAndTheDefaultDenies) {
    const auto net = v4(192, 0, 2, 5), bad = v4(192, 0, 2, 66), other = v4(198, 51, 100, 1);
    std::vector<Bytes> allowed = {
        to_a(net, kTcp, tcp(1000, 22)),      // ssh
        to_a(bad, kTcp, tcp(1000, 22)),      // ssh: before deny-bad
        to_a(other, kTcp, tcp(1000, 8080)),  // web: range end
        to_a(other, kTcp, tcp(1000, 8000)),  // web: range start
        to_a(other, kTcp, tcp(1000, 443)),   // web: list
        to_a(other, kUdp, udp(53, 40000)),   // dns: source port
        to_a(other, kIcmp, icmp(8, 0, 7)),   // ping
        packet(kA, kHost, kIpv6, ipv6(addr6(0x2001, 0xdb8, 1), kA6, kIcmp6, icmp(128, 0, 7)))
            .bytes(),                             // v6
        to_a(other, 47, Bytes(8, std::byte{0})),  // gre: protocol number
    };
    std::vector<Bytes> denied = {
        to_a(other, kTcp, tcp(1000, 22)),    // not from 192.0.2.0/24: default
        to_a(bad, kTcp, tcp(1000, 80)),      // deny-bad
        to_a(other, kTcp, tcp(1000, 8081)),  // past the range: default
        to_a(other, kTcp, tcp(1000, 7999)),  // before it: default
        to_a(other, kUdp, udp(54, 40000)),   // default
        to_a(other, kIcmp, icmp(8, 1, 7)),   // code 1: default
        to_a(other, kIcmp, icmp(0, 0, 7)),   // echo reply: default
        packet(kA, kHost, kIpv6, ipv6(addr6(0x2001, 0xdb9, 1), kA6, kIcmp6, icmp(128, 0, 7)))
            .bytes(),                     // outside 2001:db8::/32: default
        to_a(other, kTcp, tcp(1000, 9)),  // default
    };
    std::vector<Bytes> in;
    for (std::size_t i = 0; i < allowed.size(); ++i) {
        in.push_back(allowed[i]);
        in.push_back(denied[i]);
    }
    run_.input("up0", in);
    go(kRules);
    EXPECT_THAT(out("g/a"), ElementsAreArray(allowed));
    EXPECT_EQ(run_.drops("up0", "firewall"), denied.size());
    EXPECT_EQ(hits("ingress", "ssh"), 2u);
    EXPECT_EQ(hits("ingress", "deny-bad"), 1u);
    EXPECT_EQ(hits("ingress", "web"), 3u);
    EXPECT_EQ(hits("ingress", "dns"), 1u);
    EXPECT_EQ(hits("ingress", "ping"), 1u);
    EXPECT_EQ(hits("ingress", "v6"), 1u);
    EXPECT_EQ(hits("ingress", "gre"), 1u);
    EXPECT_EQ(hits("ingress", "(default)"), 8u);
    EXPECT_EQ(hits("egress", "(default)"), 0u);
}

// A stateless firewall's flows meet rte_acl once: their later packets get its verdict from the
// worker's verdict cache, with the same frames out and the same rule counts as without it.
class RepeatedFlows : public FirewallPcap {
  protected:
    static constexpr std::uint64_t kRounds = 40;  // more than a burst: later ones meet the cache
    // The flows, kRounds times, through the firewall; returns the verdict cache's hits and misses.
    std::pair<std::uint64_t, std::uint64_t> pass_flows(const std::string& dataplane_extra) {
        const auto other = v4(198, 51, 100, 1);
        const Bytes web = to_a(other, kTcp, tcp(1000, 80));
        const Bytes dns = to_a(other, kUdp, udp(53, 40000));
        const Bytes closed = to_a(other, kTcp, tcp(1000, 9));  // the default denies
        std::vector<Bytes> in, allowed;
        for (std::uint64_t i = 0; i < kRounds; ++i) {
            in.insert(in.end(), {web, closed, dns});
            allowed.insert(allowed.end(), {web, dns});
        }
        run_.input("up0", in);
        go(kRules, dataplane_extra);
        EXPECT_THAT(out("g/a"), ElementsAreArray(allowed));
        EXPECT_EQ(run_.drops("up0", "firewall"), kRounds);
        EXPECT_EQ(hits("ingress", "web"), kRounds);
        EXPECT_EQ(hits("ingress", "dns"), kRounds);
        EXPECT_EQ(hits("ingress", "(default)"), kRounds);
        std::pair<std::uint64_t, std::uint64_t> cache{0, 0};
        for (const auto& w : run_.stats()["workers"]) {
            cache.first += w.value("verdict_cache_hits", std::uint64_t{0});
            cache.second += w.value("verdict_cache_misses", std::uint64_t{0});
        }
        return cache;
    }
};

TEST_F(RepeatedFlows, GetTheVerdictTheClassifierGaveFromTheCache) {
    const auto [cached, classified] = pass_flows("");
    EXPECT_EQ(cached + classified, 3 * kRounds);
    EXPECT_LE(classified, 32U) << "only the first burst's packets are new to the cache";
}

TEST_F(RepeatedFlows, MeetTheClassifierEveryTimeWithoutACache) {
    const auto [cached, classified] = pass_flows("  verdict_cache: 0\n");
    EXPECT_EQ(cached, 0U);
    EXPECT_EQ(classified, 0U);
}

TEST_F(FirewallPcap, EgressRulesAndDefaultGuestToGuestAndToTheUplink) {
    Bytes smtp = from_a(kA4, kTcp, tcp(1000, 25));
    Bytes submission = from_a(kA4, kTcp, tcp(1000, 587));
    Bytes to_b = packet(kB, kA, kIpv4, ipv4(kA4, v4(10, 0, 0, 11), kUdp, udp(1, 2))).bytes();
    run_.input("g/a", {smtp, submission, to_b});
    go(kRules);
    EXPECT_THAT(out("up0"), ElementsAre(submission));
    EXPECT_THAT(out("g/b"), ElementsAre(to_b));  // b has no firewall: a's egress only
    EXPECT_EQ(run_.drops("g/a", "firewall"), 1u);
    EXPECT_EQ(hits("egress", "no-smtp"), 1u);
    EXPECT_EQ(hits("egress", "(default)"), 2u);
}

TEST_F(FirewallPcap, TheReceiversIngressAppliesGuestToGuestAndToFloods) {
    // b (no firewall) to a: a's ingress decides. A broadcast from the uplink: each guest's copy
    // meets its own ingress rules; b gets it, a doesn't.
    Bytes b_ssh = packet(kA, kB, kIpv4, ipv4(v4(192, 0, 2, 9), kA4, kTcp, tcp(1, 22))).bytes();
    Bytes b_telnet = packet(kA, kB, kIpv4, ipv4(v4(192, 0, 2, 9), kA4, kTcp, tcp(1, 23))).bytes();
    Bytes bcast = packet(kBroadcast, kHost, kIpv4,
                         ipv4(v4(10, 0, 0, 1), v4(255, 255, 255, 255), kUdp, udp(1000, 9999)))
                      .bytes();
    run_.input("g/b", {b_ssh, b_telnet});
    run_.input("up0", {bcast});
    go(kRules);
    EXPECT_THAT(out("g/a"), ElementsAre(b_ssh));
    EXPECT_THAT(out("g/b"), ElementsAre(bcast));
    EXPECT_EQ(run_.drops("g/b", "firewall"), 1u);
    EXPECT_EQ(run_.drops("up0", "firewall"), 1u);
}

TEST_F(FirewallPcap, AFloodsLaterFragmentsReachOnlyTheGuestsThatTookItsFirstFragment) {
    // Two broadcast datagrams in two fragments each: a's rules allow the first (UDP from port
    // 53) and deny the second; b has no firewall and takes both.
    auto frag = [](std::uint16_t sport, std::uint16_t id, std::uint16_t offset, bool more) {
        Bytes l4 = offset == 0 ? udp(sport, 1000, 16) : Bytes(24, std::byte{0x5a});
        return packet(kBroadcast, kHost, kIpv4,
                      ipv4(v4(10, 0, 0, 1), v4(255, 255, 255, 255), kUdp, l4, offset, more, id))
            .bytes();
    };
    Bytes dns_first = frag(53, 0x21, 0, true), dns_later = frag(53, 0x21, 3, false);
    Bytes other_first = frag(54, 0x22, 0, true), other_later = frag(54, 0x22, 3, false);
    run_.input("up0", {dns_first, dns_later, other_first, other_later});
    go(kRules);
    EXPECT_THAT(out("g/a"), ElementsAre(dns_first, dns_later));
    EXPECT_THAT(out("g/b"), ElementsAre(dns_first, dns_later, other_first, other_later));
    EXPECT_EQ(run_.drops("up0", "firewall"), 1u);
    EXPECT_EQ(run_.drops("up0", "fragment_unknown"), 1u);
    EXPECT_EQ(hits("ingress", "dns"), 1u);  // the first fragment's copy
}

TEST_F(FirewallPcap, AntiSpoofingChecksSourcesArpAndNeighbourDiscovery) {
    const char* fw = "        firewall: {ingress_default: allow, egress_default: allow}\n";
    // a's IPv6 link-local: EUI-64 of 02:00:00:00:00:0a.
    std::array<std::uint8_t, 16> ll{0xfe, 0x80};
    ll[11] = 0xff;
    ll[12] = 0xfe;
    ll[15] = 0x0a;
    auto na = [](std::array<std::uint8_t, 16> target) {
        Bytes b{std::byte{136},  std::byte{0}, std::byte{0}, std::byte{0},
                std::byte{0x60}, std::byte{0}, std::byte{0}, std::byte{0}};
        for (auto x : target) b.push_back(std::byte{x});
        return b;
    };
    Bytes ok4 = from_a(kA4, kUdp, udp(1, 2));
    Bytes forged4 = from_a(v4(10, 0, 0, 99), kUdp, udp(1, 2));
    Bytes dhcp = from_a(v4(0, 0, 0, 0), kUdp, udp(68, 67), kBroadcast);
    Bytes from_ll =
        packet(kHost, kA, kIpv6, ipv6(ll, addr6(0xfe80, 0, 1), kIcmp6, icmp(128, 0))).bytes();
    Bytes forged6 = packet(kHost, kA, kIpv6, ipv6(v6(0x99), v6(1), kIcmp6, icmp(128, 0))).bytes();
    Bytes arp_ok = packet(kBroadcast, kA, kArp, arp(kA, kA4, v4(10, 0, 0, 1))).bytes();
    Bytes arp_ip = packet(kBroadcast, kA, kArp, arp(kA, v4(10, 0, 0, 99), v4(10, 0, 0, 1))).bytes();
    Bytes arp_mac = packet(kBroadcast, kA, kArp, arp(kB, kA4, v4(10, 0, 0, 1))).bytes();
    Bytes na_ok = packet(kHost, kA, kIpv6, ipv6(kA6, v6(1), kIcmp6, na(kA6))).bytes();
    Bytes na_forged = packet(kHost, kA, kIpv6, ipv6(kA6, v6(1), kIcmp6, na(v6(0x99)))).bytes();
    Bytes ra = packet(kHost, kA, kIpv6, ipv6(ll, v6(1), kIcmp6, icmp(134, 0))).bytes();
    Bytes truncated_arp = packet(kBroadcast, kA, kArp, Bytes(10, std::byte{0})).bytes();
    run_.input("g/a", {ok4, forged4, dhcp, from_ll, forged6, arp_ok, arp_ip, arp_mac, na_ok,
                       na_forged, ra, truncated_arp});
    go(fw);
    EXPECT_THAT(out("up0"), ElementsAre(ok4, dhcp, from_ll, arp_ok, na_ok));
    EXPECT_EQ(run_.drops("g/a", "spoofed_ip"), 2u);
    EXPECT_EQ(run_.drops("g/a", "spoofed_arp"), 2u);
    EXPECT_EQ(run_.drops("g/a", "spoofed_nd"), 1u);
    EXPECT_EQ(run_.drops("g/a", "router_advert"), 1u);
    EXPECT_EQ(run_.drops("g/a", "malformed"), 1u);
    // ARP and ND are not subject to the rules: only the IP packets met the egress default.
    EXPECT_EQ(hits("egress", "(default)"), 3u);
}

TEST_F(FirewallPcap, MalformedHeadersAreDroppedAndCountedZeroLengthPayloadsPass) {
    const auto src = v4(198, 51, 100, 1);
    Bytes good = to_a(src, kUdp, udp(53, 1000));  // zero-length UDP payload
    Bytes bad_ihl = good;
    bad_ihl[14] = std::byte{0x44};  // IHL 4: shorter than the header itself
    Bytes long_total = good;
    long_total[16] = std::byte{0x05};  // total length 0x05xx: beyond the frame
    Bytes short_tcp = to_a(src, kTcp, Bytes(10, std::byte{0}));  // TCP header cut at 10 bytes
    Bytes no_l4 = to_a(src, kTcp, Bytes());                      // TCP with no header at all
    Bytes short_v6 = packet(kA, kHost, kIpv6, Bytes(20, std::byte{0x60})).bytes();
    Bytes short_v4 = packet(kA, kHost, kIpv4, Bytes(12, std::byte{0x45})).bytes();
    run_.input("up0", {bad_ihl, good, long_total, short_tcp, no_l4, short_v6, short_v4});
    go(kRules);
    EXPECT_THAT(out("g/a"), ElementsAre(good));
    EXPECT_EQ(run_.drops("up0", "malformed"), 6u);
    EXPECT_EQ(hits("ingress", "dns"), 1u);
}

TEST_F(FirewallPcap, LaterFragmentsFollowTheirFirstFragment) {
    const auto src = v4(198, 51, 100, 1);
    auto frag = [&](std::uint16_t sport, std::uint16_t id, std::uint16_t offset, bool more) {
        Bytes l4 = offset == 0 ? udp(sport, 1000, 16) : Bytes(24, std::byte{0x5a});
        return packet(kA, kHost, kIpv4, ipv4(src, kA4, kUdp, l4, offset, more, id)).bytes();
    };
    Bytes first = frag(53, 0x77, 0, true), later = frag(53, 0x77, 3, true),
          last = frag(53, 0x77, 6, false);
    Bytes orphan = frag(53, 0x88, 3, false);  // its first fragment never came
    Bytes denied_first = frag(54, 0x99, 0, true), denied_later = frag(54, 0x99, 3, false);
    // IPv6: a fragment header before UDP.
    auto frag6_of = [&](std::uint16_t offset8, bool more, Bytes rest) {
        return packet(kA, kHost, kIpv6,
                      ipv6(addr6(0x2001, 0xdb8, 5), kA6, 44,
                           cat(frag6(kUdp, offset8, more, 0x1234), rest)))
            .bytes();
    };
    Bytes first6 = frag6_of(0, true, udp(53, 1000, 16));
    Bytes later6 = frag6_of(3, false, Bytes(16, std::byte{0x5a}));
    run_.input("up0", {first, later, last, orphan, denied_first, denied_later, first6, later6});
    go(kRules);
    EXPECT_THAT(out("g/a"), ElementsAre(first, later, last, first6, later6));
    EXPECT_EQ(run_.drops("up0", "fragment_unknown"), 2u);
    EXPECT_EQ(run_.drops("up0", "firewall"), 1u);
    EXPECT_EQ(hits("ingress", "dns"), 2u);  // first fragments only
}

const char* kStateful = R"(        firewall:
          ingress:
            - {id: web, action: allow, proto: tcp, dst_port: 80}
            - {id: dns, action: allow, proto: udp, src_port: 53}
)";

TEST_F(FirewallPcap, StatefulLaterPacketsOfAConnectionPassAsEstablished) {
    const auto src = v4(198, 51, 100, 1);
    Bytes syn = to_a(src, kTcp, tcp(1000, 80, 0x02));
    Bytes ack = to_a(src, kTcp, tcp(1000, 80, 0x10));
    Bytes rst = to_a(src, kTcp, tcp(1000, 80, 0x14));
    Bytes syn_again = to_a(src, kTcp, tcp(1000, 80, 0x02));
    Bytes denied = to_a(src, kTcp, tcp(1000, 81, 0x02));
    run_.input("up0", {syn, ack, ack, rst, syn_again, denied, denied});
    go(kStateful, "  conntrack: {capacity: 4096}\n");
    EXPECT_THAT(out("g/a"), ElementsAre(syn, ack, ack, rst, syn_again));
    // The SYN meets the rule; ACKs and the RST pass as established; after the RST a new SYN is a
    // new connection and meets the rule again. Denied packets leave no connection behind.
    EXPECT_EQ(hits("ingress", "web"), 2u);
    EXPECT_EQ(hits("ingress", "(established)"), 3u);
    EXPECT_EQ(hits("ingress", "(default)"), 2u);
    EXPECT_EQ(run_.drops("up0", "firewall"), 2u);
}

TEST_F(FirewallPcap, AFullConnectionTableEvictsUnansweredConnectionsAndCountsThem) {
    // 1100 new connections, none answered, into a table of 1024: the last 76 take the places of
    // the oldest (a flood must not lock new connections out); nothing is dropped.
    std::vector<Bytes> flows;
    for (std::uint16_t i = 0; i < 1100; ++i) {
        flows.push_back(
            to_a(v4(198, 51, 100, 1), kUdp, udp(53, static_cast<std::uint16_t>(2000 + i))));
    }
    run_.input("up0", flows);
    nlohmann::json ct;
    run_.before_stop([&] {
        if (auto r = jsonl::call(run_.socket(), "firewall.conntrack")) ct = *r;
    });
    go(kStateful, "  conntrack: {capacity: 1024}\n");
    EXPECT_EQ(out("g/a").size(), 1100u);
    EXPECT_EQ(run_.drops("up0", "conntrack_full"), 0u);
    ASSERT_TRUE(ct.contains("workers")) << ct.dump();
    EXPECT_EQ(ct["workers"][0]["created"], 1100) << ct.dump();
    EXPECT_EQ(ct["workers"][0]["evicted"], 76) << ct.dump();
    EXPECT_EQ(ct["workers"][0]["entries"], 1024) << ct.dump();
}

}  // namespace
}  // namespace vfgate::test
