// The forwarding rules of config-v1 on the pure switch stage: which port, which tag operation,
// or which counted drop, for frames from guests and from uplinks.

#include "switch_stage.hpp"

#include <random>

#include <gtest/gtest.h>

#include <vfgate/config/load.hpp>

#include "../common/frames.hpp"

namespace vfgate::dataplane {
namespace {

using test::Frame;
using test::tagged;

// up0 carries VLAN 100 (a, b) and untagged (c); up1 carries VLAN 100 (d), another domain.
constexpr const char* kConfig = R"(version: 1
dataplane:
  uplinks:
    - {name: up0, device: net_null0, mtu: 1500}
    - {name: up1, device: net_null1, mtu: 9000}
guests:
  - name: g
    nics:
      - {name: a, type: dpdk, devargs: net_null2, mac: "02:00:00:00:00:0a", vlan: 100}
      - {name: b, type: dpdk, devargs: net_null3, mac: "02:00:00:00:00:0b", vlan: 100}
      - {name: c, type: dpdk, devargs: net_null4, mac: "02:00:00:00:00:0c"}
      - {name: d, type: dpdk, devargs: net_null5, mac: "02:00:00:00:00:0d", vlan: 100, uplink: up1}
)";

class Switch : public testing::Test {
  protected:
    void SetUp() override {
        auto r = config::load_string(kConfig);
        ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
        auto t = SwitchTable::build(*r.config);
        ASSERT_TRUE(t);
        table_ = std::move(*t);
    }

    PortIdx port(const char* name) const { return table_.by_name(name); }

    Step send(const char* from, const Frame& f) const { return decide(from, f.bytes()); }

    // The step for `bytes` alone in a burst from port `from`.
    Step decide(const char* from, std::span<const std::byte> bytes) const {
        Burst b;
        b.in = port(from);
        b.count = 1;
        parse_l2(bytes, b.meta[0]);
        stage_.process(b, table_);
        return b.step[0];
    }

    void expect_unicast(const Step& s, const char* to, TagOp tag, std::uint16_t vlan = 0) const {
        EXPECT_EQ(s.verdict, Verdict::kUnicast);
        EXPECT_EQ(s.out, port(to)) << "expected " << to;
        EXPECT_EQ(s.tag, tag);
        if (tag == TagOp::kPush) {
            EXPECT_EQ(s.vlan, vlan);
        }
    }

    void expect_drop(const Step& s, DropReason r) const {
        EXPECT_EQ(s.verdict, Verdict::kDrop);
        EXPECT_EQ(name(s.reason), name(r));
    }

    SwitchTable table_;
    SwitchStage stage_;
};

Frame from_a(std::string dst) { return test::eth(std::move(dst), "02:00:00:00:00:0a"); }

TEST_F(Switch, TableHasPortsAndDomains) {
    ASSERT_EQ(table_.ports().size(), 6u);
    EXPECT_EQ(table_.ports()[0].name, "up0");
    EXPECT_EQ(table_.ports()[2].name, "g/a");
    ASSERT_EQ(table_.domains().size(), 3u);  // up0/100, up0/untagged, up1/100
    EXPECT_EQ(table_.domain(table_.port(port("g/a")).domain).members.size(), 2u);
}

TEST_F(Switch, GuestToGuestSameVlanIsLocalAndUntagged) {
    expect_unicast(send("g/a", from_a("02:00:00:00:00:0b")), "g/b", TagOp::kNone);
}

TEST_F(Switch, GuestToUnknownMacGoesToUplinkTagged) {
    expect_unicast(send("g/a", from_a("52:54:00:99:99:99")), "up0", TagOp::kPush, 100);
}

TEST_F(Switch, GuestToOtherVlanGuestGoesToUplinkNotAcross) {
    // c is untagged on up0: a different domain, so a's frame to c's MAC leaves by the uplink.
    expect_unicast(send("g/a", from_a("02:00:00:00:00:0c")), "up0", TagOp::kPush, 100);
    // d is VLAN 100 on up1: a different domain too.
    expect_unicast(send("g/a", from_a("02:00:00:00:00:0d")), "up0", TagOp::kPush, 100);
}

TEST_F(Switch, UntaggedGuestToUplinkStaysUntagged) {
    expect_unicast(send("g/c", test::eth("52:54:00:99:99:99", "02:00:00:00:00:0c")), "up0",
                   TagOp::kNone);
}

TEST_F(Switch, GuestBroadcastAndMulticastFlood) {
    for (const char* dst : {"ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "33:33:00:00:00:01"}) {
        auto s = send("g/a", from_a(dst));
        EXPECT_EQ(s.verdict, Verdict::kFlood) << dst;
        EXPECT_EQ(s.domain, table_.port(port("g/a")).domain);
        EXPECT_EQ(s.tag, TagOp::kPush);
        EXPECT_EQ(s.vlan, 100);
    }
}

TEST_F(Switch, GuestDropsWithReasons) {
    expect_drop(send("g/a", tagged(from_a("02:00:00:00:00:0b"), 100)), DropReason::kGuestTagged);
    expect_drop(send("g/a", tagged(from_a("02:00:00:00:00:0b"), 0, 5)), DropReason::kGuestTagged);
    Frame qinq = from_a("02:00:00:00:00:0b");
    qinq.tags = {0x88a8, 100};
    expect_drop(send("g/a", qinq), DropReason::kGuestTagged);
    expect_drop(send("g/a", test::eth("02:00:00:00:00:0b", "02:00:00:00:00:0c")),
                DropReason::kSpoofedMac);
    expect_drop(send("g/a", from_a("02:00:00:00:00:0a")), DropReason::kToOwnMac);
    Frame lldp = from_a("01:80:c2:00:00:0e");
    lldp.ethertype = 0x88cc;
    expect_drop(send("g/a", lldp), DropReason::kNonIp);
    Frame big = from_a("02:00:00:00:00:0b");
    big.payload = 1501;
    expect_drop(send("g/a", big), DropReason::kOversize);
    big.payload = 1500;
    expect_unicast(send("g/a", big), "g/b", TagOp::kNone);
}

TEST_F(Switch, ArpAndIpv6PassTheSwitch) {
    Frame arp = from_a("ff:ff:ff:ff:ff:ff");
    arp.ethertype = 0x0806;
    EXPECT_EQ(send("g/a", arp).verdict, Verdict::kFlood);
    Frame v6 = from_a("02:00:00:00:00:0b");
    v6.ethertype = 0x86dd;
    expect_unicast(send("g/a", v6), "g/b", TagOp::kNone);
}

TEST_F(Switch, RuntsAreDropped) {
    Burst b;
    b.in = port("g/a");
    b.count = 2;
    std::vector<std::byte> short13(13, std::byte{0});
    parse_l2(short13, b.meta[0]);
    auto tag_cut = tagged(from_a("02:00:00:00:00:0b"), 100).bytes();
    tag_cut.resize(16);  // announces a tag it doesn't carry whole
    parse_l2(tag_cut, b.meta[1]);
    stage_.process(b, table_);
    expect_drop(b.step[0], DropReason::kRunt);
    expect_drop(b.step[1], DropReason::kRunt);
    b.in = port("up0");
    stage_.process(b, table_);
    expect_drop(b.step[0], DropReason::kRunt);
}

TEST_F(Switch, UplinkTaggedToGuestIsPopped) {
    Frame f = test::eth("02:00:00:00:00:0a", "52:54:00:99:99:99");
    expect_unicast(send("up0", tagged(f, 100)), "g/a", TagOp::kPop);
    expect_unicast(send("up0", tagged(f, 100, 7)), "g/a", TagOp::kPop);  // any PCP
    expect_unicast(send("up1", tagged(test::eth("02:00:00:00:00:0d"), 100)), "g/d", TagOp::kPop);
}

TEST_F(Switch, UplinkUntaggedAndPriorityTaggedReachUntaggedDomain) {
    Frame f = test::eth("02:00:00:00:00:0c", "52:54:00:99:99:99");
    expect_unicast(send("up0", f), "g/c", TagOp::kNone);
    expect_unicast(send("up0", tagged(f, 0, 3)), "g/c", TagOp::kPop);
}

TEST_F(Switch, UplinkDropsWithReasons) {
    Frame to_a = test::eth("02:00:00:00:00:0a", "52:54:00:99:99:99");
    // a lives on VLAN 100: untagged frames for it, or on VLAN 200, don't reach it.
    expect_drop(send("up0", to_a), DropReason::kUnknownDst);
    expect_drop(send("up0", tagged(to_a, 200)), DropReason::kUnknownVlan);
    // d's VLAN 100 is on up1, not up0's VLAN 100 domain.
    expect_drop(send("up0", tagged(test::eth("02:00:00:00:00:0d"), 100)), DropReason::kUnknownDst);
    Frame qinq = to_a;
    qinq.tags = {0x88a8, 100, 0x8100, 100};
    expect_drop(send("up0", qinq), DropReason::kUnknownVlan);
    Frame stacked = to_a;
    stacked.tags = {0x8100, 100, 0x8100, 100};
    expect_drop(send("up0", stacked), DropReason::kUnknownVlan);
    Frame lldp = tagged(to_a, 100);
    lldp.ethertype = 0x88cc;
    expect_drop(send("up0", lldp), DropReason::kNonIp);
    Frame big = tagged(to_a, 100);
    big.payload = 1501;
    expect_drop(send("up0", big), DropReason::kOversize);
    big.payload = 1500;  // 1518 bytes tagged: fits an MTU of 1500
    expect_unicast(send("up0", big), "g/a", TagOp::kPop);
}

TEST_F(Switch, UplinkBroadcastFloodsItsDomainOnly) {
    auto s = send("up0", tagged(test::eth("ff:ff:ff:ff:ff:ff", "52:54:00:99:99:99"), 100));
    EXPECT_EQ(s.verdict, Verdict::kFlood);
    EXPECT_EQ(s.domain, table_.port(port("g/a")).domain);
    EXPECT_EQ(s.tag, TagOp::kPop);
    auto u = send("up0", test::eth("ff:ff:ff:ff:ff:ff", "52:54:00:99:99:99"));
    EXPECT_EQ(u.domain, table_.port(port("g/c")).domain);
    EXPECT_EQ(u.tag, TagOp::kNone);
}

// Bursts remember their last MAC lookup and decide the common case from it: every frame of a
// burst must get the step it gets alone. Random bursts from a pool of frames that differ from
// each other in one field at a time (tags, EtherType, size, source, destination), repeats
// likely, from every kind of port.
TEST_F(Switch, BurstsDecideAsFramesOneAtATime) {
    std::vector<test::Bytes> pool;
    for (const char* dst :
         {"02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c", "02:00:00:00:00:0d",
          "52:54:00:99:99:99", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "00:00:00:00:00:00"}) {
        for (const char* src : {"02:00:00:00:00:0a", "02:00:00:00:00:0c", "52:54:00:99:99:99"}) {
            for (std::uint16_t type : {0x0800, 0x86dd, 0x0806, 0x88cc}) {
                for (std::size_t payload : {46, 1500, 1501}) {
                    Frame f = test::eth(dst, src);
                    f.ethertype = type;
                    f.payload = payload;
                    pool.push_back(f.bytes());
                    pool.push_back(tagged(f, 100).bytes());
                    pool.push_back(tagged(f, 200).bytes());
                    pool.push_back(tagged(f, 0, 3).bytes());
                    f.tags = {0x88a8, 100};
                    pool.push_back(f.bytes());
                }
            }
        }
    }
    pool.emplace_back(13, std::byte{0});
    auto cut = tagged(from_a("02:00:00:00:00:0b"), 100).bytes();
    cut.resize(16);
    pool.push_back(cut);

    constexpr std::array<std::size_t, 6> kStrides = {1, 5, 15, 60, 180, 540};
    std::mt19937 rng(7);
    // Untagged unicast IPv4 frames right after the same frame: the fast path's common case.
    std::size_t common = 0;
    for (const char* from : {"g/a", "g/c", "up0", "up1"}) {
        std::vector<Step> alone;
        for (const auto& f : pool) alone.push_back(decide(from, f));
        for (int round = 0; round < 3000; ++round) {
            Burst b;
            b.in = port(from);
            b.count = static_cast<std::uint16_t>(1 + rng() % kBurstSize);
            std::array<std::size_t, kBurstSize> picked{};
            for (std::uint16_t i = 0; i < b.count; ++i) {
                // Mostly the frame before (what the remembered lookup serves), or one that
                // differs from it in one field (the pool's strides: tags, size, EtherType,
                // source, destination), or any.
                const std::size_t at = i > 0 ? picked[i - 1] : rng() % pool.size();
                const std::size_t stride = kStrides[rng() % kStrides.size()];
                switch (rng() % 4) {
                    case 0:
                    case 1:
                        picked[i] = at;
                        break;
                    case 2:
                        picked[i] = (at + stride) % pool.size();
                        break;
                    default:
                        picked[i] = rng() % pool.size();
                }
                parse_l2(pool[picked[i]], b.meta[i]);
            }
            stage_.process(b, table_);
            for (std::uint16_t i = 0; i < b.count; ++i) {
                const Step& want = alone[picked[i]];
                const Step& got = b.step[i];
                SCOPED_TRACE(testing::Message() << from << ", frame " << picked[i] << " at " << i);
                ASSERT_EQ(got.verdict, want.verdict);
                ASSERT_EQ(name(got.reason), name(want.reason));
                ASSERT_EQ(got.tag, want.tag);
                ASSERT_EQ(got.out, want.out);
                ASSERT_EQ(got.domain, want.domain);
                ASSERT_EQ(got.vlan, want.vlan);
                const bool again = i > 0 && picked[i - 1] == picked[i];
                const bool untagged = b.meta[i].outer_type == 0x0800;
                common += again && untagged && got.verdict == Verdict::kUnicast ? 1 : 0;
            }
        }
    }
    EXPECT_GT(common, 300u);
}

TEST(MacTable, FindsEveryKeyAndMissesOthers) {
    std::vector<std::pair<std::uint64_t, PortIdx>> entries;
    for (std::uint16_t i = 0; i < 1000; ++i) {
        entries.emplace_back(MacTable::make_key(i % 7, 0x020000000000ULL + i * 7919), PortIdx{i});
    }
    MacTable t;
    t.build(entries);
    EXPECT_GE(t.capacity(), 2000u);
    for (const auto& [key, port] : entries) {
        EXPECT_EQ(t.find(static_cast<std::uint16_t>(key >> 48), key & 0xffffffffffffULL), port);
    }
    EXPECT_EQ(t.find(0, 0x020000000001ULL), kNoPort);
    EXPECT_EQ(t.find(8, 0x020000000000ULL), kNoPort);
}

}  // namespace
}  // namespace vfgate::dataplane
