// The firewall stage on bursts that mix what its paths do: the verdict cache of stateless
// firewalls, and bursts of random connections against the same packets one burst each.

#include <algorithm>
#include <random>

#include "firewall_fixture.hpp"

namespace vfgate::dataplane {
namespace {

using namespace firewall_fixture;

// A stateless firewall's verdict for a plain IPv4 TCP or UDP flow is remembered: the flow's
// next packets get it from the cache, and still count on their rule.
TEST_F(Firewall, AStatelessFlowsVerdictIsCachedAndCountedOnItsRule) {
    const auto to_b = [](std::uint16_t dport) {
        return udp_frame(kMacB, kUplinkMac, kHost, kA, 5353, dport);
    };
    for (int round = 0; round < 3; ++round) {
        const std::vector<Step> st = burst("up0", {to_b(53), to_b(54)});
        expect_pass(st[0]);
        expect_drop(st[1], DropReason::kFirewall);
    }
    EXPECT_EQ(stage_.cached.misses.get(), 2U);
    EXPECT_EQ(stage_.cached.hits.get(), 4U);
    EXPECT_EQ(hits("g/b", kIngress, "dns"), 3U);
    EXPECT_EQ(defaults("g/b", kIngress), 3U);
}

// New rules never meet the verdicts of the rules they replaced.
TEST_F(Firewall, NewRulesAreNeverAnsweredFromTheCache) {
    const test::Frame dns = udp_frame(kMacB, kUplinkMac, kHost, kA, 5353, 53);
    expect_pass(one("up0", dns));
    expect_pass(one("up0", dns));
    EXPECT_EQ(stage_.cached.hits.get(), 1U);
    std::string yaml = kConfig;
    const std::string allow = "{id: dns, action: allow, proto: udp, dst_port: 53}";
    yaml.replace(yaml.rfind(allow), allow.size(),
                 "{id: dns, action: deny, proto: udp, dst_port: 53}");  // b's rule
    load(yaml.c_str(), 64);
    expect_drop(one("up0", dns), DropReason::kFirewall);
    expect_drop(one("up0", dns), DropReason::kFirewall);
    EXPECT_EQ(stage_.cached.misses.get(), 2U);
    EXPECT_EQ(stage_.cached.hits.get(), 2U);
}

// Random flows to b, many more than the cache holds, in bursts: every verdict is the one a
// stage without the cache gives.
// Random plain flows through b's stateless rules, in bursts: every verdict from the cache is the
// classifier's. Both ways (the uplink's to b, b's to the uplink: ingress and egress rules), and
// with b on a VLAN (its uplink frames tagged: the IP header 4 bytes further).
TEST_F(Firewall, CachedVerdictsAreTheClassifiers) {
    std::string plain = kConfig;
    std::string tagged = kConfig;
    const std::string b_mac = "        mac: \"02:00:00:00:00:0b\"\n";
    tagged.insert(tagged.find(b_mac) + b_mac.size(), "        vlan: 100\n");
    tagged.replace(tagged.find("          stateful: false\n"), 26,
                   "          stateful: false\n          egress_default: deny\n"
                   "          egress:\n"
                   "            - {id: no-web, action: deny, proto: tcp, dst_port: 80}\n"
                   "            - {id: out-dns, action: allow, proto: udp, src_port: [53, 54]}\n"
                   "            - {id: out-ssh, action: allow, proto: tcp, src_port: 22}\n");
    for (const std::string* config : {&plain, &tagged}) {
        const bool vlan = config == &tagged;
        stage_.verdicts.store(nullptr);
        verdicts_.reset();
        load(config->c_str(), 64);
        FirewallStage uncached;
        std::mt19937 rng(17);
        std::vector<test::Frame> flows, back;
        for (int f = 0; f < 300; ++f) {
            const std::array<std::uint8_t, 4> src =
                v4(192, 0, 2, static_cast<std::uint8_t>(rng() % 4));
            const auto sport = static_cast<std::uint16_t>(1024 + rng() % 8);
            const std::array<std::uint16_t, 4> ports = {53, 54, 22, 80};
            const std::uint16_t dport = ports[rng() % ports.size()];
            const bool udp = f % 2 == 0;
            test::Frame in = udp ? udp_frame(kMacB, kUplinkMac, src, kA, sport, dport)
                                 : tcp_frame(kMacB, kUplinkMac, src, kA, sport, dport, 0x10);
            flows.push_back(vlan ? test::tagged(in, 100) : in);
            back.push_back(udp ? udp_frame(kUplinkMac, kMacB, kA, src, dport, sport)
                               : tcp_frame(kUplinkMac, kMacB, kA, src, dport, sport, 0x10));
        }
        // Not plain: a ping becomes a stateless side of its own (the classifier decides it),
        // while its burst's other packets still ask the cache.
        const test::Frame ping0 = test::packet(
            kMacB, kUplinkMac, kEtherIpv4, test::ipv4(kHost, kA, kIpProtoIcmp, test::icmp(8, 0)));
        const test::Frame ping = vlan ? test::tagged(ping0, 100) : ping0;
        std::size_t passed = 0, dropped = 0;
        const std::uint64_t hits0 = stage_.cached.hits.get(), misses0 = stage_.cached.misses.get();
        for (int round = 0; round < 80; ++round) {
            const bool from_b = round % 2 == 1;
            std::vector<test::Frame> frames;
            for (std::size_t i = 0; i < kBurstSize; ++i) {
                const auto& pool = from_b ? back : flows;
                frames.push_back(!from_b && rng() % 128 == 0 ? ping : pool[rng() % pool.size()]);
            }
            const char* from = from_b ? "g/b" : "up0";
            const std::vector<Step> want = burst(from, frames, &uncached);
            const std::vector<Step> got = burst(from, frames);
            for (std::size_t i = 0; i < frames.size(); ++i) {
                ASSERT_EQ(got[i].verdict, want[i].verdict) << "round " << round << " packet " << i;
                ASSERT_EQ(got[i].reason, want[i].reason) << "round " << round << " packet " << i;
                (got[i].verdict != Verdict::kDrop ? passed : dropped) += 1;
            }
        }
        EXPECT_GT(passed, 500U) << (vlan ? "tagged" : "untagged");
        EXPECT_GT(dropped, 500U) << (vlan ? "tagged" : "untagged");
        EXPECT_GT(stage_.cached.hits.get() - hits0, 400U);
        EXPECT_GT(stage_.cached.misses.get() - misses0, 128U) << "more flows than the cache holds";
    }
}

// Every counter slot of a's and b's rule sets (each rule, the default, established), in order,
// and their names.
class Bursts : public Firewall {
  protected:
    template <typename F>
    void each_slot(F f) const {
        for (const char* nic : {"g/a", "g/b"}) {
            for (Dir d : {kIngress, kEgress}) {
                const RuleSet& rs = rules(nic, d);
                for (std::size_t slot = 0; slot <= rs.established_slot(); ++slot) {
                    f(rs, slot,
                      std::string(nic) + (d == kIngress ? " in " : " out ") +
                          (slot < rs.rules()           ? rs.id(slot)
                           : slot == rs.default_slot() ? "(default)"
                                                       : "(established)"));
                }
            }
        }
    }
    std::vector<std::uint64_t> counts() const {
        std::vector<std::uint64_t> v;
        each_slot([&](const RuleSet& rs, std::size_t slot, const std::string&) {
            v.push_back(rs.total(slot));
        });
        return v;
    }
    std::vector<std::string> slots() const {
        std::vector<std::string> v;
        each_slot([&](const RuleSet&, std::size_t, const std::string& n) { v.push_back(n); });
        return v;
    }
};

// Bursts of random packets of random connections (TCP with any of SYN, SYN-ACK, ACK, RST and
// FIN; UDP; ICMP echo or errors of two types, one of which a's rules allow; between the uplink's
// host and a or b, or between a and b: one firewall or two, stateful or stateless, plain or not),
// from the uplink and from a, up to three packets of a connection per burst, a few forged (a
// reply's addresses from the originator's side): every verdict is
// the one the same packets get one burst each, without the verdict cache, and every rule,
// default and established count moves as theirs do. Twice: b stateless, then b stateful with a's
// egress open (two stateful sides).
TEST_F(Bursts, DecideAndCountAsPacketsOneAtATime) {
    std::string yaml = kConfig;
    const std::string scan = "            - {id: scan, action: deny, proto: udp, dst_port: 9999}\n";
    yaml.insert(yaml.find(scan) + scan.size(),
                "            - {id: unreachable, action: allow, proto: icmp, icmp_type: 3}\n");
    // Then with b stateful and a's egress open: a's packets to b meet two stateful sides.
    std::string two = yaml;
    two.replace(two.find("stateful: false"), 15, "stateful: true");
    two.replace(two.find("egress_default: deny"), 20, "egress_default: allow");
    for (const std::string* config : {&yaml, &two}) {
        // A table of its own for each, never full: a burst keeps the connections its lookup
        // found, where one packet at a time could evict one first (docs/firewall.md).
        const std::uint32_t capacity = config == &yaml ? 64 : 1024;
        stage_.conntrack.store(nullptr);
        conntrack_.reset();
        load(config->c_str(), capacity);
        auto table = ConnTable::create(capacity, kHz, heap_memory());
        ASSERT_TRUE(table);
        FirewallStage single;
        single.conntrack.store(table->get());
        const std::array<std::uint8_t, 4> kB = v4(10, 0, 0, 11);
        struct Conn {
            bool from_a;  // else from the uplink's host
            const char*
                peer;  // the MAC of the other end: a's or b's (from the host), b's or the uplink
            std::uint8_t proto;
            std::uint16_t port;
            bool icmp_error;  // ICMP: destination unreachable or time exceeded, else echo
        };
        std::mt19937 rng(29);
        std::vector<Conn> conns;
        for (std::uint16_t c = 0; c < 200; ++c) {
            const bool from_a = rng() % 2 == 0;
            const char* peer =
                from_a ? (rng() % 2 == 0 ? kMacB : kUplinkMac) : (rng() % 2 == 0 ? kMacA : kMacB);
            const std::array<std::uint8_t, 3> protos = {kIpProtoTcp, kIpProtoUdp, kIpProtoIcmp};
            const std::array<std::uint16_t, 4> ports = {22, 53, 9999, 80};
            conns.push_back({from_a, peer, protos[rng() % 3], ports[rng() % 4], rng() % 2 == 0});
        }
        // A packet of connection `c`, the originator's or a reply; `forged`: with the other
        // orientation's addresses and ports, sent from the same side.
        const auto frame = [&](std::size_t c, bool reply, std::uint8_t tcp_flags,
                               bool forged = false) {
            const Conn& k = conns[c];
            const auto sport = static_cast<std::uint16_t>(30000 + c);
            const char* peer_mac = k.peer;
            const auto peer_ip = std::string(k.peer) == kMacB ? kB : (k.from_a ? kHost : kA);
            const char* own_mac = k.from_a ? kMacA : kUplinkMac;
            const auto own_ip = k.from_a ? kA : kHost;
            const bool mac_reply = forged ? !reply : reply;
            const char* dst_mac = mac_reply ? own_mac : peer_mac;
            const char* src_mac = mac_reply ? peer_mac : own_mac;
            const auto src = reply ? peer_ip : own_ip;
            const auto dst = reply ? own_ip : peer_ip;
            const std::uint16_t sp = reply ? k.port : sport, dp = reply ? sport : k.port;
            if (k.proto == kIpProtoTcp)
                return tcp_frame(dst_mac, src_mac, src, dst, sp, dp, tcp_flags);
            if (k.proto == kIpProtoUdp) return udp_frame(dst_mac, src_mac, src, dst, sp, dp);
            // An error's type: unreachable or time exceeded, as the (random) ACK bit says.
            const std::uint8_t type =
                k.icmp_error ? ((tcp_flags & 0x10) != 0 ? 3 : 11) : (reply ? 0 : 8);
            return test::packet(dst_mac, src_mac, kEtherIpv4,
                                test::ipv4(src, dst, kIpProtoIcmp,
                                           test::icmp(type, 0, static_cast<std::uint16_t>(c))));
        };
        std::size_t passed = 0, dropped = 0;
        for (int round = 0; round < 200; ++round) {
            // One sender per burst: the uplink (its host's packets, and b's and a's replies to them
            // arrive elsewhere) or a (its packets, and replies to the host's connections to a).
            const bool from_uplink = rng() % 2 == 0;
            std::vector<std::size_t> order(conns.size());
            for (std::size_t c = 0; c < order.size(); ++c) order[c] = c;
            std::shuffle(order.begin(), order.end(), rng);
            std::vector<test::Frame> frames;
            for (std::size_t c : order) {
                const Conn& k = conns[c];
                // Who sends what: the opener's packets come from its side, replies from the peer's.
                const bool opener_here = k.from_a ? !from_uplink : from_uplink;
                const bool peer_here = k.from_a ? std::string(k.peer) == kUplinkMac && from_uplink
                                                : std::string(k.peer) == kMacA && !from_uplink;
                if (!opener_here && !peer_here) continue;
                const std::array<std::uint8_t, 5> flags = {0x02, 0x12, 0x10, 0x04, 0x11};
                for (std::uint32_t copies = 1 + rng() % 3; copies > 0; --copies) {
                    const std::uint8_t fl = flags[rng() % flags.size()];
                    frames.push_back(rng() % 8 == 0 ? frame(c, opener_here, fl, true)
                                                    : frame(c, !opener_here, fl));
                    if (frames.size() == kBurstSize) break;
                }
                if (frames.size() == kBurstSize) break;
            }
            const char* from = from_uplink ? "up0" : "g/a";
            const std::vector<std::uint64_t> before = counts();
            const std::vector<Step> got = burst(from, frames);
            const std::vector<std::uint64_t> mid = counts();
            for (std::size_t i = 0; i < frames.size(); ++i) {
                const Step want = burst(from, {frames[i]}, &single)[0];
                ASSERT_EQ(got[i].verdict, want.verdict) << "round " << round << " packet " << i;
                ASSERT_EQ(got[i].reason, want.reason) << "round " << round << " packet " << i;
                (got[i].verdict == Verdict::kDrop ? dropped : passed) += 1;
            }
            // And every rule, default and established count moved as much.
            const std::vector<std::uint64_t> after = counts();
            for (std::size_t c = 0; c < before.size(); ++c) {
                ASSERT_EQ(mid[c] - before[c], after[c] - mid[c])
                    << "round " << round << " slot " << c << " (" << slots()[c] << ")";
            }
        }
        EXPECT_GT(passed, 250U) << dropped << " dropped";
        EXPECT_GT(dropped, 250U) << passed << " passed";
        if (config == &yaml) {
            EXPECT_GT(stage_.cached.hits.get(), 100U);
        }
        EXPECT_GT(stage_.ct.created.get(), 3U);
    }
}

}  // namespace
}  // namespace vfgate::dataplane
