// The firewall stage without EAL (firewall_fixture.hpp): what is asserted is what a user sees: each
// packet's fate and drop reason, the rule and "established" counters, and the connection table's
// counters.

#include <utility>

#include "firewall_fixture.hpp"

namespace vfgate::dataplane {
namespace {

using namespace firewall_fixture;

TEST_F(Firewall, AnAllowedConnectionLetsItsRepliesOutAndNothingElse) {
    expect_pass(one("up0", tcp_frame(kMacA, kUplinkMac, kHost, kA, 40000, 22, 0x02)));
    EXPECT_EQ(hits("g/a", kIngress, "ssh"), 1U);
    EXPECT_EQ(stage_.ct.created.get(), 1U);
    EXPECT_EQ(conntrack_->size(), 1U);
    // The reply passes though egress denies everything: conntrack, not the rules.
    expect_pass(one("g/a", tcp_frame(kUplinkMac, kMacA, kA, kHost, 22, 40000, 0x12)));
    EXPECT_EQ(established("g/a", kEgress), 1U);
    EXPECT_EQ(defaults("g/a", kEgress), 0U);
    // The originator's next packet too, counted as established on ingress.
    expect_pass(one("up0", tcp_frame(kMacA, kUplinkMac, kHost, kA, 40000, 22, 0x10)));
    EXPECT_EQ(established("g/a", kIngress), 1U);
    EXPECT_EQ(hits("g/a", kIngress, "ssh"), 1U);
    // A connection the guest opens itself meets its egress default.
    expect_drop(one("g/a", tcp_frame(kUplinkMac, kMacA, kA, kHost, 5555, 80, 0x02)),
                DropReason::kFirewall);
    EXPECT_EQ(defaults("g/a", kEgress), 1U);
    EXPECT_EQ(stage_.ct.created.get(), 1U);
}

TEST_F(Firewall, ADeniedFlowIsRememberedAndCountedOnItsRule) {
    for (int i = 0; i < 3; ++i) {
        expect_drop(one("up0", udp_frame(kMacA, kUplinkMac, kHost, kA, 1234, 9999)),
                    DropReason::kFirewall);
    }
    EXPECT_EQ(hits("g/a", kIngress, "scan"), 3U);
    EXPECT_EQ(conntrack_->denied(), 1U) << "one entry remembers the denied flow";
    EXPECT_EQ(stage_.ct.denied.load(), 1U);
    EXPECT_EQ(stage_.ct.created.get(), 0U) << "a denial is no connection";
    // A flow no rule names falls to the default, also remembered.
    expect_drop(one("up0", udp_frame(kMacA, kUplinkMac, kHost, kA, 1234, 7)),
                DropReason::kFirewall);
    EXPECT_EQ(defaults("g/a", kIngress), 1U);
    EXPECT_EQ(conntrack_->denied(), 2U);
}

TEST_F(Firewall, PacketsOfOneNewConnectionInOneBurstMakeOneEntry) {
    std::vector<test::Frame> frames(8, udp_frame(kMacA, kUplinkMac, kHost, kA, 4444, 53));
    frames.push_back(udp_frame(kMacA, kUplinkMac, kHost, kA, 4445, 53));
    for (const Step& s : burst("up0", frames)) expect_pass(s);
    EXPECT_EQ(stage_.ct.created.get(), 2U);
    EXPECT_EQ(conntrack_->size(), 2U);
    EXPECT_EQ(hits("g/a", kIngress, "dns"), 2U) << "the rules met each connection once";
    EXPECT_EQ(established("g/a", kIngress), 7U);
}

// One stateful side per packet takes the established path, b's stateless one the verdict cache,
// in either order: the verdicts and counters are those of one-packet bursts. (Bursts that turn
// general mid-way, with packets of two firewalls, are in BurstsDecideAsPacketsOneAtATime.)
TEST_F(Firewall, ABurstMixingFirewallsKeepsEachVerdict) {
    const auto to_a = [](std::uint16_t sport, std::uint16_t dport, std::uint8_t flags) {
        return tcp_frame(kMacA, kUplinkMac, kHost, kA, sport, dport, flags);
    };
    const auto udp_to = [](const char* mac, std::uint16_t dport) {
        return udp_frame(mac, kUplinkMac, kHost, kA, 5353, dport);
    };
    expect_pass(one("up0", to_a(40000, 22, 0x02)));  // a connection to a
    const std::vector<test::Frame> mixed = {
        to_a(40000, 22, 0x10),  // established, on the established path
        udp_to(kMacB, 53),      // b allows
        udp_to(kMacB, 54),      // b denies (its default)
        to_a(40001, 23, 0x02),  // a denies (its default)
        udp_to(kMacA, 53),      // a new connection a allows
        to_a(40000, 22, 0x10),  // established again
    };
    for (int round = 0; round < 2; ++round) {
        std::vector<test::Frame> frames = mixed;
        if (round == 1) std::swap(frames[0], frames[1]);  // b's first
        const std::vector<Step> st = burst("up0", frames);
        expect_pass(st[round == 0 ? 0 : 1]);
        expect_pass(st[round == 0 ? 1 : 0]);
        expect_drop(st[2], DropReason::kFirewall);
        expect_drop(st[3], DropReason::kFirewall);
        expect_pass(st[4]);
        expect_pass(st[5]);
    }
    EXPECT_EQ(established("g/a", kIngress), 5U) << "2 per round, and the DNS flow's second";
    EXPECT_EQ(hits("g/a", kIngress, "dns"), 1U);
    EXPECT_EQ(hits("g/b", kIngress, "dns"), 2U) << "stateless: the rules meet every packet";
    EXPECT_EQ(defaults("g/b", kIngress), 2U);
    EXPECT_EQ(defaults("g/a", kIngress), 2U) << "the denied SYN, then its remembered denial";
    EXPECT_EQ(stage_.ct.created.get(), 2U);
    // The same packets one side each, a burst apiece: the established path alone.
    for (const auto& f : {to_a(40000, 22, 0x10), udp_to(kMacA, 53)}) expect_pass(one("up0", f));
    expect_drop(one("up0", to_a(40001, 23, 0x02)), DropReason::kFirewall);
    EXPECT_EQ(established("g/a", kIngress), 7U);
    EXPECT_EQ(defaults("g/a", kIngress), 3U);
}

TEST_F(Firewall, AFullTableDropsNewConnectionsAndKeepsTheEstablished) {
    stage_.conntrack.store(nullptr);  // the table is made on the first load only: remake it
    conntrack_.reset();
    load(kConfig, 4);
    for (std::uint16_t p = 0; p < 4; ++p) {
        expect_pass(one("up0", udp_frame(kMacA, kUplinkMac, kHost, kA, 1000 + p, 53)));
        expect_pass(one("g/a", udp_frame(kUplinkMac, kMacA, kA, kHost, 53, 1000 + p)));
    }
    // Every entry answered: nothing may be evicted.
    expect_drop(one("up0", udp_frame(kMacA, kUplinkMac, kHost, kA, 2000, 53)),
                DropReason::kConntrackFull);
    EXPECT_EQ(stage_.ct.full.get(), 1U);
    EXPECT_EQ(stage_.ct.evicted.load(), 0U);
    for (std::uint16_t p = 0; p < 4; ++p) {
        expect_pass(one("g/a", udp_frame(kUplinkMac, kMacA, kA, kHost, 53, 1000 + p)));
    }
    EXPECT_EQ(established("g/a", kEgress), 8U);
}

TEST_F(Firewall, AFloodOfNewConnectionsEvictsOnlyUnansweredOnes) {
    stage_.conntrack.store(nullptr);
    conntrack_.reset();
    load(kConfig, 8);
    for (std::uint16_t p = 0; p < 2; ++p) {  // two answered connections
        expect_pass(one("up0", udp_frame(kMacA, kUplinkMac, kHost, kA, 1000 + p, 53)));
        expect_pass(one("g/a", udp_frame(kUplinkMac, kMacA, kA, kHost, 53, 1000 + p)));
    }
    // A flood of SYNs from ever new ports, in bursts of 32: none is refused.
    for (std::uint16_t base = 0; base < 320; base += 32) {
        std::vector<test::Frame> syns;
        for (std::uint16_t p = 0; p < 32; ++p) {
            syns.push_back(tcp_frame(kMacA, kUplinkMac, kHost, kA, 20000 + base + p, 22, 0x02));
        }
        for (const Step& s : burst("up0", syns)) expect_pass(s);
    }
    EXPECT_EQ(stage_.ct.full.get(), 0U);
    EXPECT_EQ(stage_.ct.created.get(), 2U + 320U);
    EXPECT_EQ(stage_.ct.evicted.load(), 320U - 6U) << "the flood filled 6 free entries first";
    // The answered connections kept their entries: their replies pass without the rules.
    for (std::uint16_t p = 0; p < 2; ++p) {
        expect_pass(one("g/a", udp_frame(kUplinkMac, kMacA, kA, kHost, 53, 1000 + p)));
    }
    EXPECT_EQ(defaults("g/a", kEgress), 0U);
}

// Two NICs with stateful firewalls: c's egress and d's ingress allow DNS, c's ingress SSH; the
// rest is denied.
constexpr const char* kTwoStateful = R"(version: 1
dataplane:
  uplinks:
    - {name: up0, device: net_null0}
guests:
  - name: h
    nics:
      - name: c
        type: dpdk
        devargs: net_null1
        mac: "02:00:00:00:00:0c"
        addresses: [10.0.0.12/24]
        firewall:
          egress_default: deny
          egress: [{id: dns-out, action: allow, proto: udp, dst_port: 53}]
          ingress: [{id: ssh-in, action: allow, proto: tcp, dst_port: 22}]
      - name: d
        type: dpdk
        devargs: net_null2
        mac: "02:00:00:00:00:0d"
        firewall:
          ingress: [{id: dns-in, action: allow, proto: udp, dst_port: 53}]
)";

constexpr const char* kMacC = "02:00:00:00:00:0c";
constexpr const char* kMacD = "02:00:00:00:00:0d";
const std::array<std::uint8_t, 4> kC = v4(10, 0, 0, 12);
const std::array<std::uint8_t, 4> kD = v4(10, 0, 0, 13);

test::Frame c_to_d(std::uint16_t sport) { return udp_frame(kMacD, kMacC, kC, kD, sport, 53); }

// A packet with two stateful sides whose connection a new one evicted earlier in its burst makes
// the connection again under the rule that allowed it, as the listing shows it.
TEST_F(Firewall, AConnectionMadeAgainAfterAnEvictionKeepsItsRule) {
    stage_.conntrack.store(nullptr);
    conntrack_.reset();
    load(kTwoStateful, 2);
    // c's egress entry and d's ingress one: the table is full.
    expect_pass(one("h/c", c_to_d(1000)));
    ASSERT_EQ(conntrack_->size(), 2U);
    // The new connection's sides evict the flow's entries (never answered); the flow's packet,
    // established when the burst was looked up, then evicts them back.
    const std::vector<Step> st = burst("h/c", {c_to_d(2000), c_to_d(1000)});
    expect_pass(st[0]);
    expect_pass(st[1]);
    EXPECT_EQ(stage_.ct.evicted.load(), 4U);
    for (std::int32_t p = 0; p < conntrack_->positions(); ++p) {
        const CtEntry& e = conntrack_->at(p);
        EXPECT_NE(e.flags & CtEntry::kInUse, 0);
        EXPECT_TRUE(e.key.port_a == 1000 || e.key.port_b == 1000) << "the flow's entry, made again";
        EXPECT_EQ(e.rule, 1U) << "dns-out or dns-in (index 0), not the default";
    }
}

// The same for a reply: its connection is made again as it was, its originator's (c's egress
// connection under dns-out), then answered; not as a new connection of the reply's.
TEST_F(Firewall, AReplyWhoseConnectionWasEvictedInItsBurstKeepsItsOriginator) {
    stage_.conntrack.store(nullptr);
    conntrack_.reset();
    load(kTwoStateful, 2);
    expect_pass(one("h/c", c_to_d(1000)));  // c's egress entry and d's ingress one: full
    // From d: a new connection to the uplink's host (d's egress allows it), then d's reply to c.
    const std::vector<Step> st = burst("h/d", {udp_frame(kUplinkMac, kMacD, kD, kHost, 5000, 53),
                                               udp_frame(kMacC, kMacD, kD, kC, 53, 1000)});
    expect_pass(st[0]);
    expect_pass(st[1]);
    int found = 0;
    for (std::int32_t p = 0; p < conntrack_->positions(); ++p) {
        const CtEntry& e = conntrack_->at(p);
        if ((e.flags & CtEntry::kInUse) == 0 || e.key.zone != zone("h/c")) continue;
        ++found;
        EXPECT_NE(e.flags & CtEntry::kEgress, 0) << "c's egress rules allowed it";
        EXPECT_EQ(e.rule, 1U) << "dns-out";
        EXPECT_EQ(e.state, CtState::kUdpReplied);
        EXPECT_EQ(e.packets[1], 1U) << "the reply, counted as one";
    }
    EXPECT_EQ(found, 1);
}

// Packets of two stateful sides keep their connection's order too: d opened a connection to
// c's SSH; c's RST and then a SYN in one burst: the RST closes it, so the SYN meets c's egress
// rules, which don't allow it.
TEST_F(Firewall, TwoStatefulSidesKeepAConnectionsPacketsInOrder) {
    load(kTwoStateful, 64);
    const auto from_c = [](std::uint8_t flags) {
        return tcp_frame(kMacD, kMacC, kC, kD, 22, 5000, flags);
    };
    expect_pass(one("h/d", tcp_frame(kMacC, kMacD, kD, kC, 5000, 22, 0x02)));
    expect_pass(one("h/c", from_c(0x12)));  // a reply on both sides
    const std::vector<Step> st = burst("h/c", {from_c(0x04), from_c(0x02)});
    expect_pass(st[0]);
    expect_drop(st[1], DropReason::kFirewall);
}

// ICMP errors between two hosts share one connection key (no identifier), but the rules read
// their type and code: one that the rules allow is not dropped for following one they deny.
TEST_F(Firewall, AnIcmpErrorIsNotDeniedForFollowingAnotherType) {
    stage_.conntrack.store(nullptr);
    conntrack_.reset();
    load(R"(version: 1
dataplane:
  uplinks:
    - {name: up0, device: net_null0}
guests:
  - name: g
    nics:
      - name: a
        type: dpdk
        devargs: net_null1
        mac: "02:00:00:00:00:0a"
        firewall:
          ingress: [{id: unreachable, action: allow, proto: icmp, icmp_type: 3}]
)",
         64);
    const auto icmp_to_a = [](std::uint8_t type) {
        return test::packet(kMacA, kUplinkMac, kEtherIpv4,
                            test::ipv4(kHost, kA, kIpProtoIcmp, test::icmp(type, 0)));
    };
    // As one at a time: 11 denied (ICMP denials are not remembered), 3 allowed and tracked, then
    // 11 again a packet of that connection (tracked like UDP: by addresses and protocol).
    const std::vector<Step> st = burst("up0", {icmp_to_a(11), icmp_to_a(3), icmp_to_a(11)});
    expect_drop(st[0], DropReason::kFirewall);
    expect_pass(st[1]);
    expect_pass(st[2]);
    EXPECT_EQ(hits("g/a", kIngress, "unreachable"), 1U);
    EXPECT_EQ(defaults("g/a", kIngress), 1U);
    EXPECT_EQ(established("g/a", kIngress), 1U);
    EXPECT_EQ(stage_.ct.created.get(), 1U);
}

// A connection's packets in one burst change its entry in their order, as one at a time would.
TEST_F(Firewall, AConnectionsPacketsInOneBurstChangeItsEntryInTheirOrder) {
    const auto to_a = [](std::uint8_t flags) {
        return tcp_frame(kMacA, kUplinkMac, kHost, kA, 40000, 22, flags);
    };
    expect_pass(one("up0", to_a(0x02)));  // SYN: ssh allows
    expect_pass(one("up0", to_a(0x04)));  // RST: closed
    ASSERT_EQ(hits("g/a", kIngress, "ssh"), 1U);
    // A new SYN on the closed connection meets the rules and opens it again; its RST, next in
    // the burst, closes it.
    for (const Step& s : burst("up0", {to_a(0x02), to_a(0x04)})) expect_pass(s);
    EXPECT_EQ(hits("g/a", kIngress, "ssh"), 2U);
    // So the next SYN meets the rules too. (Had the RST been settled before the SYN, the
    // connection would have been left open, and this SYN passed as established.)
    expect_pass(one("up0", to_a(0x02)));
    EXPECT_EQ(hits("g/a", kIngress, "ssh"), 3U);
}

TEST_F(Firewall, AnExpiredConnectionNoLongerLetsRepliesThrough) {
    expect_pass(one("up0", udp_frame(kMacA, kUplinkMac, kHost, kA, 4444, 53)));
    now_ += 29 * kSecond;
    expect_pass(one("g/a", udp_frame(kUplinkMac, kMacA, kA, kHost, 53, 4444)));
    now_ += 31 * kSecond;  // udp_replied_s defaults to more than this: the reply renewed it
    expect_pass(one("g/a", udp_frame(kUplinkMac, kMacA, kA, kHost, 53, 4444)));
    now_ += 24 * 3600 * kSecond;
    EXPECT_EQ(conntrack_->sweep(conntrack_->ticks(now_), 64), 1U) << "the sweep frees it";
    expect_drop(one("g/a", udp_frame(kUplinkMac, kMacA, kA, kHost, 53, 4444)),
                DropReason::kFirewall);
}

TEST_F(Firewall, NewRulesRevokeConnectionsTheyNoLongerAllow) {
    expect_pass(one("up0", udp_frame(kMacA, kUplinkMac, kHost, kA, 4444, 53)));
    expect_pass(one("up0", tcp_frame(kMacA, kUplinkMac, kHost, kA, 40000, 22, 0x02)));
    std::string without_dns = kConfig;
    without_dns.erase(without_dns.find("            - {id: dns, action: allow, proto: udp"),
                      sizeof("            - {id: dns, action: allow, proto: udp, dst_port: 53}"));
    load(without_dns.c_str(), 64);
    expect_drop(one("g/a", udp_frame(kUplinkMac, kMacA, kA, kHost, 53, 4444)),
                DropReason::kFirewall);
    EXPECT_EQ(stage_.ct.revoked.get(), 1U);
    expect_pass(one("g/a", tcp_frame(kUplinkMac, kMacA, kA, kHost, 22, 40000, 0x12)));
    EXPECT_EQ(stage_.ct.revoked.get(), 1U);
}

// A NIC's addresses change (a new epoch, as the dataplane builds on a reload): connections the
// guest opened from an address it still has pass; those from one it no longer has are revoked.
TEST_F(Firewall, ConnectionsFromAnAddressTheGuestNoLongerHasAreRevoked) {
    std::string open = kConfig;
    open.replace(open.find("egress_default: deny"), 20, "egress_default: allow");
    load(open.c_str(), 64);
    expect_pass(one("g/a", udp_frame(kUplinkMac, kMacA, kA, kHost, 4444, 53)));
    const auto reply = udp_frame(kMacA, kUplinkMac, kHost, kA, 53, 4444);
    expect_pass(one("up0", reply));
    std::string both = open;
    both.replace(both.find("[10.0.0.10/24]"), 14, "[10.0.0.10/24, 10.0.0.12/24]");
    load(both.c_str(), 64);
    expect_pass(one("up0", reply));
    EXPECT_EQ(stage_.ct.revoked.get(), 0U);
    std::string moved = open;
    moved.replace(moved.find("[10.0.0.10/24]"), 14, "[10.0.0.12/24]");
    load(moved.c_str(), 64);
    const std::uint64_t defaults_before = defaults("g/a", kEgress);
    expect_drop(one("up0", reply), DropReason::kFirewall);
    EXPECT_EQ(stage_.ct.revoked.get(), 1U);
    EXPECT_EQ(defaults("g/a", kEgress), defaults_before) << "no rule decided it";
}

// A packet with a connection's reply addresses arriving on its originator's side (from the
// uplink, "from" the guest's own address and port) is forged: dropped, with no rule counted, and
// the connection carries on. Alone, and in the burst that opens the connection. (a without
// `addresses` here: with them, its own address as a source is dropped before, as spoofed_ip.)
TEST_F(Firewall, AReplyArrivingOnTheOriginatorsSideIsDropped) {
    std::string anonymous = kConfig;
    anonymous.erase(anonymous.find("        addresses: [10.0.0.10/24]\n"), 34);
    load(anonymous.c_str(), 64);
    const auto syn = tcp_frame(kMacA, kUplinkMac, kHost, kA, 40000, 22, 0x02);
    const auto forged = tcp_frame(kMacA, kUplinkMac, kA, kHost, 22, 40000, 0x12);
    const auto syn_ack = tcp_frame(kUplinkMac, kMacA, kA, kHost, 22, 40000, 0x12);
    const auto ack = tcp_frame(kMacA, kUplinkMac, kHost, kA, 40000, 22, 0x10);
    auto steps = burst("up0", {syn, forged});
    expect_pass(steps[0]);
    expect_drop(steps[1], DropReason::kFirewall);
    expect_pass(one("g/a", syn_ack));
    expect_drop(one("up0", forged), DropReason::kFirewall);
    expect_pass(one("up0", ack));
    EXPECT_EQ(hits("g/a", kIngress, "ssh"), 1U);
    EXPECT_EQ(defaults("g/a", kIngress), 0U);
    EXPECT_EQ(stage_.ct.created.get(), 1U);
}

// A packet toward a guest from one of the guest's own addresses is forged (a guest with
// `addresses`): dropped before its rules, so that it can't make the connection a's own packets
// then open (they would be misdirected). Plain, ICMP, and in a burst.
TEST_F(Firewall, APacketTowardAGuestFromItsOwnAddressIsDropped) {
    std::string open = kConfig;
    open.replace(open.find("egress_default: deny"), 20, "egress_default: allow");
    load(open.c_str(), 64);
    const auto forged = udp_frame(kMacA, kUplinkMac, kA, kHost, 53, 53);
    expect_drop(one("up0", forged), DropReason::kSpoofedIp);
    const auto ping = test::packet(kMacA, kUplinkMac, kEtherIpv4,
                                   test::ipv4(kA, kHost, kIpProtoIcmp, test::icmp(8, 0)));
    auto steps = burst("up0", {forged, ping, udp_frame(kMacA, kUplinkMac, kHost, kA, 4444, 53)});
    expect_drop(steps[0], DropReason::kSpoofedIp);
    expect_drop(steps[1], DropReason::kSpoofedIp);
    expect_pass(steps[2]);
    EXPECT_EQ(hits("g/a", kIngress, "dns"), 1U) << "the forged ones met no rule";
    expect_pass(one("g/a", udp_frame(kUplinkMac, kMacA, kA, kHost, 53, 53)));
    expect_pass(one("up0", udp_frame(kMacA, kUplinkMac, kHost, kA, 53, 53)));  // its reply
}

// Neighbour discovery (RS, RA, NS, NA) passes without the rules; a redirect from the uplink is
// no neighbour discovery (config-v1) and meets the guest's ingress rules (a's default: deny).
TEST_F(Firewall, NeighbourDiscoveryBypassesTheRulesButARedirectDoesNot) {
    const std::array<std::uint8_t, 16> router{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const std::array<std::uint8_t, 16> a6{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a};
    const auto icmp6 = [&](std::uint8_t type, std::size_t body) {
        Bytes m = test::icmp(type, 0);
        m.insert(m.end(), body, std::byte{0});
        return test::packet(kMacA, kUplinkMac, kEtherIpv6, test::ipv6(router, a6, 58, m));
    };
    expect_pass(one("up0", icmp6(135, 16)));  // a neighbour solicitation
    expect_pass(one("up0", icmp6(134, 8)));   // a router advertisement, from the uplink
    expect_drop(one("up0", icmp6(137, 32)), DropReason::kFirewall);
    EXPECT_EQ(defaults("g/a", kIngress), 1U) << "the redirect, on a's ingress default";
}

TEST_F(Firewall, AGuestSpoofingItsSourceIsDroppedBeforeTheRules) {
    expect_drop(one("g/a", udp_frame(kUplinkMac, kMacA, v4(10, 0, 0, 11), kHost, 53, 4444)),
                DropReason::kSpoofedIp);
    EXPECT_EQ(defaults("g/a", kEgress), 0U);
}

TEST_F(Firewall, LaterFragmentsFollowTheirFirstFragment) {
    const Bytes first = test::ipv4(kHost, kA, kIpProtoUdp, test::udp(4444, 53, 16), 0, true, 7);
    const Bytes later = test::ipv4(kHost, kA, kIpProtoUdp, Bytes(16, std::byte{1}), 3, false, 7);
    const Bytes stray = test::ipv4(kHost, kA, kIpProtoUdp, Bytes(16, std::byte{1}), 3, false, 8);
    auto steps = burst("up0", {test::packet(kMacA, kUplinkMac, kEtherIpv4, first),
                               test::packet(kMacA, kUplinkMac, kEtherIpv4, later),
                               test::packet(kMacA, kUplinkMac, kEtherIpv4, stray)});
    expect_pass(steps[0]);
    expect_pass(steps[1]);  // its first fragment passed earlier in the same burst
    expect_drop(steps[2], DropReason::kFragment);
    expect_pass(one("up0", test::packet(kMacA, kUplinkMac, kEtherIpv4, later)));
    // A later fragment ahead of its first fragment, in one burst: unknown when it comes, as it
    // would be a burst of its own (vfgate does not reassemble).
    const Bytes first9 = test::ipv4(kHost, kA, kIpProtoUdp, test::udp(4445, 53, 16), 0, true, 9);
    const Bytes later9 = test::ipv4(kHost, kA, kIpProtoUdp, Bytes(16, std::byte{1}), 3, false, 9);
    steps = burst("up0", {test::packet(kMacA, kUplinkMac, kEtherIpv4, later9),
                          test::packet(kMacA, kUplinkMac, kEtherIpv4, first9),
                          test::packet(kMacA, kUplinkMac, kEtherIpv4, later9)});
    expect_drop(steps[0], DropReason::kFragment);
    expect_pass(steps[1]);
    expect_pass(steps[2]);
    // IPv6 whose fragmentable part starts with destination options: the later fragment's bytes
    // are payload, and it follows its first fragment all the same.
    const auto to_a6 = [](const Bytes& rest) {
        return test::packet(kMacA, kUplinkMac, kEtherIpv6,
                            test::ipv6(test::v6(1), test::v6(10), 44, rest));
    };
    const Bytes first6 =
        test::cat(test::frag6(60, 0, true, 0x1234), test::cat(test::ext(17), test::udp(4446, 53)));
    const Bytes later6 =
        test::cat(test::frag6(60, 181, false, 0x1234), Bytes(100, std::byte{0x3c}));
    expect_pass(one("up0", to_a6(first6)));
    expect_pass(one("up0", to_a6(later6)));
}

TEST_F(Firewall, EachCopyOfAFloodMeetsItsReceiversIngressRules) {
    const auto frame = udp_frame("ff:ff:ff:ff:ff:ff", kUplinkMac, kHost, v4(10, 0, 0, 255), 68, 53);
    auto steps = burst("up0", {frame});
    ASSERT_EQ(steps[0].verdict, Verdict::kFlood);
    EXPECT_EQ(stage_.copy_refused(0, table_.by_name("g/a"), tables_), std::nullopt);
    EXPECT_EQ(stage_.copy_refused(0, table_.by_name("g/b"), tables_), std::nullopt);
    EXPECT_EQ(hits("g/b", kIngress, "dns"), 1U);
    const auto other = udp_frame("ff:ff:ff:ff:ff:ff", kUplinkMac, kHost, v4(10, 0, 0, 255), 68, 67);
    steps = burst("up0", {other});
    EXPECT_EQ(stage_.copy_refused(0, table_.by_name("g/a"), tables_), DropReason::kFirewall);
    EXPECT_EQ(stage_.copy_refused(0, table_.by_name("g/b"), tables_), DropReason::kFirewall);
    EXPECT_EQ(stage_.ct.created.get(), 0U) << "a flood is no connection";
}

// A flooded datagram's later fragments reach the guests that took its first fragment, and no
// other: b's rules deny the first fragment (TCP to port 22), so b gets none of the rest, even
// within the same burst.
TEST_F(Firewall, AFloodsLaterFragmentsFollowTheirFirstFragmentToEachGuest) {
    const auto bcast = [](const Bytes& ip) {
        return test::packet("ff:ff:ff:ff:ff:ff", kUplinkMac, kEtherIpv4, ip);
    };
    const auto to = v4(10, 0, 0, 255);
    const Bytes first =
        test::ipv4(kHost, to, kIpProtoTcp, test::tcp(40000, 22, 0x02, 16), 0, true, 5);
    const Bytes later = test::ipv4(kHost, to, kIpProtoTcp, Bytes(16, std::byte{1}), 3, false, 5);
    const PortIdx a = table_.by_name("g/a"), b = table_.by_name("g/b");
    auto steps = burst("up0", {bcast(first), bcast(later)});
    ASSERT_EQ(steps[0].verdict, Verdict::kFlood);
    ASSERT_EQ(steps[1].verdict, Verdict::kFlood);
    // The worker asks for the copies in packet order.
    EXPECT_EQ(stage_.copy_refused(0, a, tables_), std::nullopt);
    EXPECT_EQ(stage_.copy_refused(0, b, tables_), DropReason::kFirewall);
    EXPECT_EQ(stage_.copy_refused(1, a, tables_), std::nullopt);
    EXPECT_EQ(stage_.copy_refused(1, b, tables_), DropReason::kFragment);
    // And in a later burst.
    steps = burst("up0", {bcast(later)});
    ASSERT_EQ(steps[0].verdict, Verdict::kFlood);
    EXPECT_EQ(stage_.copy_refused(0, a, tables_), std::nullopt);
    EXPECT_EQ(stage_.copy_refused(0, b, tables_), DropReason::kFragment);
    EXPECT_EQ(hits("g/a", kIngress, "ssh"), 1U) << "the first fragment's copy, only";
}

}  // namespace
}  // namespace vfgate::dataplane
