#pragma once
// The firewall stage's test fixture, without EAL: crafted bursts through the switch stage and
// the firewall stage, with the reference matcher as the classifier and a connection table and a
// verdict cache on the heap (firewall_stage_test, firewall_bursts_test).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <vfgate/config/load.hpp>

#include "../common/frames.hpp"
#include "firewall_stage.hpp"
#include "reference_matcher.hpp"
#include "switch_stage.hpp"

namespace vfgate::dataplane::firewall_fixture {

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

inline const ClassifierFactory kReference = [](std::span<const config::Rule> rules) {
    return Result<std::shared_ptr<const Classifier>>(std::make_shared<Reference>(rules));
};

inline constexpr std::uint64_t kHz = 1'000'000'000;  // "TSC" cycles are nanoseconds here
inline constexpr std::uint64_t kSecond = kHz;

// Guest a: stateful, ssh and DNS in, everything else in denied, nothing out but replies.
// Guest b: stateless, allows UDP 53 in. Both untagged on up0, so one broadcast domain.
inline constexpr const char* kConfig = R"(version: 1
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

inline constexpr const char* kUplinkMac = "52:54:00:99:99:99";
inline constexpr const char* kMacA = "02:00:00:00:00:0a";
inline constexpr const char* kMacB = "02:00:00:00:00:0b";
inline const std::array<std::uint8_t, 4> kHost = v4(192, 0, 2, 1);
inline const std::array<std::uint8_t, 4> kA = v4(10, 0, 0, 10);

inline test::Frame udp_frame(const char* dst_mac, const char* src_mac,
                             std::array<std::uint8_t, 4> src, std::array<std::uint8_t, 4> dst,
                             std::uint16_t sport, std::uint16_t dport) {
    return test::packet(dst_mac, src_mac, kEtherIpv4,
                        test::ipv4(src, dst, kIpProtoUdp, test::udp(sport, dport)));
}

inline test::Frame tcp_frame(const char* dst_mac, const char* src_mac,
                             std::array<std::uint8_t, 4> src, std::array<std::uint8_t, 4> dst,
                             std::uint16_t sport, std::uint16_t dport, std::uint8_t flags) {
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

}  // namespace vfgate::dataplane::firewall_fixture
