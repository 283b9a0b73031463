// The firewall stage without EAL: crafted bursts through the switch stage and the firewall
// stage, with the reference matcher as the classifier and a connection table on the heap. What
// is asserted is what a user sees: each packet's fate and drop reason, the rule and
// "established" counters, and the connection table's counters.

#include "firewall_stage.hpp"

#include <random>

#include <gtest/gtest.h>

#include <vfgate/config/load.hpp>

#include "../common/frames.hpp"
#include "reference_matcher.hpp"
#include "switch_stage.hpp"

namespace vfgate::dataplane {
namespace {

using test::Bytes;
using test::v4;

// The reference matcher as a classifier (walks every rule: tests only).
class Reference final : public Classifier {
  public:
    explicit Reference(std::span<const config::Rule> rules) : rules_(rules.begin(), rules.end()) {}
    void classify(std::uint8_t /*family*/, const FlowKey* const* keys, std::uint32_t* out,
                  std::uint32_t n) const noexcept override {
        for (std::uint32_t i = 0; i < n; ++i) {
            const RuleMatch m = reference_match(rules_, config::Action::kDeny, *keys[i]);
            out[i] = m.index < 0 ? 0 : static_cast<std::uint32_t>(m.index) + 1;
        }
    }
    std::string describe() const override { return "reference matcher"; }

  private:
    std::vector<config::Rule> rules_;
};

const ClassifierFactory kReference = [](std::span<const config::Rule> rules) {
    return Result<std::shared_ptr<const Classifier>>(std::make_shared<Reference>(rules));
};

constexpr std::uint64_t kHz = 1'000'000'000;  // "TSC" cycles are nanoseconds here
constexpr std::uint64_t kSecond = kHz;

// Guest a: stateful, ssh and DNS in, everything else in denied, nothing out but replies.
// Guest b: stateless, allows UDP 53 in. Both untagged on up0, so one broadcast domain.
constexpr const char* kConfig = R"(version: 1
dataplane:
  uplinks:
    - {name: up0, device: net_null0}
  conntrack: {capacity: 1024, timeouts: {udp: 30, denied: 10}}
guests:
  - name: g
    nics:
      - name: a
        type: dpdk
        devargs: net_null1
        mac: "02:00:00:00:00:0a"
        addresses: [10.0.0.10/24]
        firewall:
          egress_default: deny
          ingress:
            - {id: ssh, action: allow, proto: tcp, dst_port: 22}
            - {id: dns, action: allow, proto: udp, dst_port: 53}
            - {id: scan, action: deny, proto: udp, dst_port: 9999}
      - name: b
        type: dpdk
        devargs: net_null2
        mac: "02:00:00:00:00:0b"
        firewall:
          stateful: false
          ingress:
            - {id: dns, action: allow, proto: udp, dst_port: 53}
)";

constexpr const char* kUplinkMac = "52:54:00:99:99:99";
constexpr const char* kMacA = "02:00:00:00:00:0a";
constexpr const char* kMacB = "02:00:00:00:00:0b";
const std::array<std::uint8_t, 4> kHost = v4(192, 0, 2, 1);
const std::array<std::uint8_t, 4> kA = v4(10, 0, 0, 10);

test::Frame udp_frame(const char* dst_mac, const char* src_mac, std::array<std::uint8_t, 4> src,
                      std::array<std::uint8_t, 4> dst, std::uint16_t sport, std::uint16_t dport) {
    return test::packet(dst_mac, src_mac, kEtherIpv4,
                        test::ipv4(src, dst, kIpProtoUdp, test::udp(sport, dport)));
}

test::Frame tcp_frame(const char* dst_mac, const char* src_mac, std::array<std::uint8_t, 4> src,
                      std::array<std::uint8_t, 4> dst, std::uint16_t sport, std::uint16_t dport,
                      std::uint8_t flags) {
    return test::packet(dst_mac, src_mac, kEtherIpv4,
                        test::ipv4(src, dst, kIpProtoTcp, test::tcp(sport, dport, flags)));
}

class Firewall : public testing::Test {
  protected:
    void SetUp() override { load(kConfig, 64); }

    void load(const char* yaml, std::uint32_t capacity) {
        auto r = config::load_string(yaml);
        ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
        cfg_ = *r.config;
        auto t = SwitchTable::build(cfg_);
        ASSERT_TRUE(t);
        table_ = std::move(*t);
        ++epoch_;
        for (const auto& g : cfg_.guests) {
            for (const auto& n : g.nics) {
                if (!n.firewall) continue;
                const std::string name = g.name + "/" + n.name;
                auto f =
                    NicFirewall::build(*n.firewall, zone(name), epoch_, 1, kReference,
                                       compiled_.contains(name) ? compiled_[name].get() : nullptr);
                ASSERT_TRUE(f) << f.error().message();
                compiled_[name] = *f;
            }
        }
        auto fw = FirewallTables::build(
            cfg_, table_,
            [this](const std::string& nic, const config::Firewall&) { return compiled_[nic]; },
            kHz);
        ASSERT_TRUE(fw) << fw.error().message();
        tables_ = std::move(*fw);
        if (conntrack_ == nullptr) {
            auto ct = ConnTable::create(capacity, kHz, heap_memory());
            ASSERT_TRUE(ct) << ct.error().message();
            conntrack_ = std::move(*ct);
            stage_.conntrack.store(conntrack_.get());
        }
        if (verdicts_ == nullptr) {
            auto vc = VerdictCache::create(capacity, heap_memory());
            ASSERT_TRUE(vc) << vc.error().message();
            verdicts_ = std::move(*vc);
            stage_.verdicts.store(verdicts_.get());
        }
    }

    std::uint16_t zone(const std::string& nic) {
        auto [it, added] = zones_.emplace(nic, static_cast<std::uint16_t>(zones_.size() + 1));
        return it->second;
    }

    // One burst from port `from` (through `stage`, else stage_); returns each packet's step.
    std::vector<Step> burst(const char* from, const std::vector<test::Frame>& frames,
                            FirewallStage* stage = nullptr) {
        bytes_.clear();
        for (const auto& f : frames) bytes_.push_back(f.bytes());
        Burst b;
        b.in = table_.by_name(from);
        b.count = static_cast<std::uint16_t>(frames.size());
        for (std::size_t i = 0; i < frames.size(); ++i) {
            b.frame[i] = std::span<const std::byte>(bytes_[i]);
            parse_l2(b.frame[i], b.meta[i]);
        }
        switch_.process(b, table_);
        (stage != nullptr ? *stage : stage_).process(b, table_, tables_, now_);
        return {b.step.begin(), b.step.begin() + b.count};
    }
    Step one(const char* from, const test::Frame& f) { return burst(from, {f})[0]; }

    const RuleSet& rules(const char* nic, Dir d) const {
        return tables_.nic[index(table_.by_name(nic))]->dir[d];
    }
    std::uint64_t hits(const char* nic, Dir d, const std::string& id) const {
        const RuleSet& rs = rules(nic, d);
        for (std::size_t i = 0; i < rs.rules(); ++i) {
            if (rs.id(i) == id) return rs.total(i);
        }
        ADD_FAILURE() << "no rule " << id;
        return 0;
    }
    std::uint64_t established(const char* nic, Dir d) const {
        return rules(nic, d).total(rules(nic, d).established_slot());
    }
    std::uint64_t defaults(const char* nic, Dir d) const {
        return rules(nic, d).total(rules(nic, d).default_slot());
    }

    static void expect_pass(const Step& s) {
        EXPECT_NE(s.verdict, Verdict::kDrop) << "dropped: " << name(s.reason);
    }
    static void expect_drop(const Step& s, DropReason r) {
        EXPECT_EQ(s.verdict, Verdict::kDrop);
        if (s.verdict == Verdict::kDrop) {
            EXPECT_EQ(name(s.reason), name(r));
        }
    }

    config::Config cfg_;
    SwitchTable table_;
    SwitchStage switch_;
    FirewallStage stage_;
    FirewallTables tables_;
    std::unique_ptr<ConnTable> conntrack_;
    std::unique_ptr<VerdictCache> verdicts_;
    std::map<std::string, std::shared_ptr<const NicFirewall>> compiled_;
    std::map<std::string, std::uint16_t> zones_;
    std::uint32_t epoch_ = 0;
    std::uint64_t now_ = 1000 * kSecond;
    std::vector<Bytes> bytes_;
};

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

// One stateful side per packet takes the established path; a packet with another firewall (b's
// stateless one) sends the whole burst down the general path, from that packet or from the
// start: the verdicts and counters are the same either way.
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
        udp_to(kMacB, 53),      // b allows: the burst turns general here
        udp_to(kMacB, 54),      // b denies (its default)
        to_a(40001, 23, 0x02),  // a denies (its default)
        udp_to(kMacA, 53),      // a new connection a allows
        to_a(40000, 22, 0x10),  // established, now on the general path
    };
    for (int round = 0; round < 2; ++round) {
        std::vector<test::Frame> frames = mixed;
        if (round == 1) std::swap(frames[0], frames[1]);  // general from the first packet
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
TEST_F(Firewall, CachedVerdictsAreTheClassifiers) {
    FirewallStage uncached;
    std::mt19937 rng(17);
    std::vector<test::Frame> flows;
    for (int f = 0; f < 300; ++f) {
        const std::array<std::uint8_t, 4> src = v4(192, 0, 2, static_cast<std::uint8_t>(rng() % 4));
        const auto sport = static_cast<std::uint16_t>(1024 + rng() % 8);
        const std::array<std::uint16_t, 4> ports = {53, 54, 22, 80};
        const std::uint16_t dport = ports[rng() % ports.size()];
        if (f % 2 == 0) {
            flows.push_back(udp_frame(kMacB, kUplinkMac, src, kA, sport, dport));
        } else {
            flows.push_back(tcp_frame(kMacB, kUplinkMac, src, kA, sport, dport, 0x10));
        }
    }
    // Not plain: a burst with one goes down the general path whole, the cache unasked.
    const test::Frame ping = test::packet(kMacB, kUplinkMac, kEtherIpv4,
                                          test::ipv4(kHost, kA, kIpProtoIcmp, test::icmp(8, 0)));
    std::size_t passed = 0;
    for (int round = 0; round < 40; ++round) {
        std::vector<test::Frame> frames;
        for (std::size_t i = 0; i < kBurstSize; ++i) {
            frames.push_back(rng() % 128 == 0 ? ping : flows[rng() % flows.size()]);
        }
        const std::vector<Step> want = burst("up0", frames, &uncached);
        const std::vector<Step> got = burst("up0", frames);
        for (std::size_t i = 0; i < frames.size(); ++i) {
            ASSERT_EQ(got[i].verdict, want[i].verdict) << "round " << round << " packet " << i;
            ASSERT_EQ(got[i].reason, want[i].reason) << "round " << round << " packet " << i;
            passed += static_cast<std::size_t>(got[i].verdict != Verdict::kDrop);
        }
    }
    EXPECT_GT(passed, 0U);
    EXPECT_GT(stage_.cached.hits.get(), 200U);
    EXPECT_GT(stage_.cached.misses.get(), 64U) << "more flows than the cache holds";
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
}

TEST_F(Firewall, EachCopyOfAFloodMeetsItsReceiversIngressRules) {
    const auto frame = udp_frame("ff:ff:ff:ff:ff:ff", kUplinkMac, kHost, v4(10, 0, 0, 255), 68, 53);
    auto steps = burst("up0", {frame});
    ASSERT_EQ(steps[0].verdict, Verdict::kFlood);
    EXPECT_TRUE(stage_.admits_copy(0, table_.by_name("g/a"), tables_));
    EXPECT_TRUE(stage_.admits_copy(0, table_.by_name("g/b"), tables_));
    EXPECT_EQ(hits("g/b", kIngress, "dns"), 1U);
    const auto other = udp_frame("ff:ff:ff:ff:ff:ff", kUplinkMac, kHost, v4(10, 0, 0, 255), 68, 67);
    steps = burst("up0", {other});
    EXPECT_FALSE(stage_.admits_copy(0, table_.by_name("g/a"), tables_));
    EXPECT_FALSE(stage_.admits_copy(0, table_.by_name("g/b"), tables_));
    EXPECT_EQ(stage_.ct.created.get(), 0U) << "a flood is no connection";
}

}  // namespace
}  // namespace vfgate::dataplane
