// The switch on real mbufs: vfgate-dataplane on net_pcap ports, fed crafted frames; asserts
// exactly which frames leave which port, with which tag, and which drops were counted.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../common/dataplane_run.hpp"

namespace vfgate::test {
namespace {

// up0 carries VLAN 100 (a, b) and untagged (c).
std::string topology(const DataplaneRun& r) {
    return "  uplinks:\n    - {name: up0, device: \"" + r.pcap_devargs("up0", 0) +
           "\"}\nguests:\n  - name: g\n    nics:\n"
           "      - {name: a, type: dpdk, devargs: \"" +
           r.pcap_devargs("g/a", 1) +
           "\", mac: \"02:00:00:00:00:0a\", vlan: 100}\n"
           "      - {name: b, type: dpdk, devargs: \"" +
           r.pcap_devargs("g/b", 2) +
           "\", mac: \"02:00:00:00:00:0b\", vlan: 100}\n"
           "      - {name: c, type: dpdk, devargs: \"" +
           r.pcap_devargs("g/c", 3) + "\", mac: \"02:00:00:00:00:0c\"}\n";
}

const char* kA = "02:00:00:00:00:0a";
const char* kB = "02:00:00:00:00:0b";
const char* kC = "02:00:00:00:00:0c";
const char* kHost = "52:54:00:99:99:99";

Frame ip(const char* dst, const char* src, std::uint8_t fill) {
    Frame f = eth(dst, src);
    f.fill = fill;  // tells frames apart
    return f;
}

class SwitchPcap : public testing::Test {
  protected:
    DataplaneRun run_{VFGATE_DATAPLANE};
    // Whatever the scenario, every frame is sent or counted as a drop.
    void TearDown() override { EXPECT_EQ(run_.accounting_gap(), ""); }

    void go(bool hugepages = false) {
        int status = run_.run(topology(run_), hugepages);
        ASSERT_EQ(status, 0) << run_.log();
    }
    std::vector<Bytes> out(const char* port) const { return run_.output(port); }
};

using testing::ElementsAre;
using testing::IsEmpty;

TEST_F(SwitchPcap, GuestToGuestOnOneVlanIsSwitchedLocallyUntouched) {
    Frame f = ip(kB, kA, 1);
    run_.input("g/a", {f.bytes()});
    go();
    EXPECT_THAT(out("g/b"), ElementsAre(f.bytes()));
    EXPECT_THAT(out("up0"), IsEmpty());
    EXPECT_THAT(out("g/c"), IsEmpty());
}

TEST_F(SwitchPcap, GuestToUnknownMacLeavesTheUplinkWithItsVlan) {
    Frame f = ip(kHost, kA, 2);
    run_.input("g/a", {f.bytes()});
    go();
    EXPECT_THAT(out("up0"), ElementsAre(tagged(f, 100).bytes()));  // PCP 0, DEI 0
    EXPECT_THAT(out("g/b"), IsEmpty());
}

TEST_F(SwitchPcap, UntaggedGuestLeavesTheUplinkUntagged) {
    Frame f = ip(kHost, kC, 3);
    run_.input("g/c", {f.bytes()});
    go();
    EXPECT_THAT(out("up0"), ElementsAre(f.bytes()));
}

TEST_F(SwitchPcap, UplinkVlanFrameReachesItsGuestUntaggedWhateverThePcp) {
    Frame f1 = ip(kA, kHost, 4), f2 = ip(kB, kHost, 5);
    run_.input("up0", {tagged(f1, 100).bytes(), tagged(f2, 100, 5).bytes()});
    go();
    EXPECT_THAT(out("g/a"), ElementsAre(f1.bytes()));
    EXPECT_THAT(out("g/b"), ElementsAre(f2.bytes()));
    EXPECT_THAT(out("up0"), IsEmpty());
}

TEST_F(SwitchPcap, UplinkUntaggedAndPriorityTaggedReachTheUntaggedGuest) {
    Frame f1 = ip(kC, kHost, 6), f2 = ip(kC, kHost, 7);
    run_.input("up0", {f1.bytes(), tagged(f2, 0, 3).bytes()});
    go();
    EXPECT_THAT(out("g/c"), ElementsAre(f1.bytes(), f2.bytes()));
}

TEST_F(SwitchPcap, TheSwitchNeverPads) {
    Frame f = ip(kA, kHost, 8);  // 60 bytes tagged: 56 once the tag is gone
    f.payload = 42;
    run_.input("up0", {tagged(f, 100).bytes()});
    go();
    auto got = out("g/a");
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].size(), 56u);
    EXPECT_EQ(got[0], f.bytes());
}

TEST_F(SwitchPcap, BroadcastFromAGuestFloodsItsVlanAndTheUplinkOnly) {
    Frame arp =
        packet("ff:ff:ff:ff:ff:ff", kA, 0x0806, test::arp(kA, v4(10, 0, 0, 10), v4(10, 0, 0, 1)));
    run_.input("g/a", {arp.bytes()});
    go();
    EXPECT_THAT(out("g/b"), ElementsAre(arp.bytes()));
    EXPECT_THAT(out("up0"), ElementsAre(tagged(arp, 100).bytes()));
    EXPECT_THAT(out("g/a"), IsEmpty());  // never back to the sender
    EXPECT_THAT(out("g/c"), IsEmpty());  // another VLAN
}

TEST_F(SwitchPcap, MulticastFromTheUplinkFloodsTheVlanUntagged) {
    Frame mc = ip("01:00:5e:00:00:fb", kHost, 10);
    Frame v6 = ip("33:33:00:00:00:01", kHost, 11);
    v6.ethertype = 0x86dd;
    run_.input("up0", {tagged(mc, 100).bytes(), v6.bytes()});
    go();
    EXPECT_THAT(out("g/a"), ElementsAre(mc.bytes()));
    EXPECT_THAT(out("g/b"), ElementsAre(mc.bytes()));
    EXPECT_THAT(out("g/c"), ElementsAre(v6.bytes()));
    EXPECT_THAT(out("up0"), IsEmpty());
}

TEST_F(SwitchPcap, UplinkDropsAreCountedByReason) {
    Frame unknown = ip("02:00:00:00:00:ee", kHost, 12);
    Frame other_vlan = ip(kA, kHost, 13);
    Frame lldp = ip("01:80:c2:00:00:0e", kHost, 14);
    lldp.ethertype = 0x88cc;
    Frame qinq = ip(kA, kHost, 15);
    qinq.tags = {0x88a8, 100, 0x8100, 100};
    Frame big = ip(kA, kHost, 16);
    big.payload = 1501;
    run_.input("up0", {tagged(unknown, 100).bytes(), tagged(other_vlan, 200).bytes(),
                       tagged(lldp, 100).bytes(), qinq.bytes(), tagged(big, 100).bytes(),
                       Bytes(10, std::byte{1})});
    go();
    for (const char* p : {"g/a", "g/b", "g/c"}) EXPECT_THAT(out(p), IsEmpty()) << p;
    EXPECT_EQ(run_.drops("up0", "unknown_dst"), 1u);
    EXPECT_EQ(run_.drops("up0", "unknown_vlan"), 2u);
    EXPECT_EQ(run_.drops("up0", "non_ip"), 1u);
    EXPECT_EQ(run_.drops("up0", "oversize"), 1u);
    EXPECT_EQ(run_.drops("up0", "runt"), 1u);
}

TEST_F(SwitchPcap, GuestDropsAreCountedByReason) {
    Frame ok = ip(kB, kA, 20);
    Frame spoofed = ip(kB, kC, 21);
    Frame self = ip(kA, kA, 22);
    Frame lldp = ip("01:80:c2:00:00:0e", kA, 23);
    lldp.ethertype = 0x88cc;
    Frame big = ip(kB, kA, 24);
    big.payload = 1501;
    Frame max = ip(kB, kA, 25);
    max.payload = 1500;  // exactly the MTU: passes
    run_.input("g/a", {ok.bytes(), tagged(ip(kB, kA, 26), 100).bytes(),
                       tagged(ip(kB, kA, 27), 0, 6).bytes(), spoofed.bytes(), self.bytes(),
                       lldp.bytes(), big.bytes(), max.bytes(), Bytes(13, std::byte{2})});
    go();
    EXPECT_THAT(out("g/b"), ElementsAre(ok.bytes(), max.bytes()));
    EXPECT_THAT(out("up0"), IsEmpty());
    EXPECT_EQ(run_.drops("g/a", "guest_tagged"), 2u);
    EXPECT_EQ(run_.drops("g/a", "spoofed_mac"), 1u);
    EXPECT_EQ(run_.drops("g/a", "to_own_mac"), 1u);
    EXPECT_EQ(run_.drops("g/a", "non_ip"), 1u);
    EXPECT_EQ(run_.drops("g/a", "oversize"), 1u);
    EXPECT_EQ(run_.drops("g/a", "runt"), 1u);
}

TEST_F(SwitchPcap, CountersAddUp) {
    std::vector<Bytes> in;
    for (std::uint8_t i = 0; i < 100; ++i) in.push_back(ip(i % 2 ? kB : kHost, kA, i).bytes());
    run_.input("g/a", in);
    go();
    EXPECT_EQ(out("g/b").size(), 50u);
    EXPECT_EQ(out("up0").size(), 50u);
    const auto& ports = run_.stats()["ports"];
    auto port = [&](const char* name) {
        for (const auto& p : ports) {
            if (p["name"] == name) return p;
        }
        return jsonl::Json();
    };
    EXPECT_EQ(port("g/a")["rx_packets"], 100);
    EXPECT_EQ(port("g/b")["tx_packets"], 50);
    EXPECT_EQ(port("up0")["tx_packets"], 50);
    EXPECT_EQ(port("up0")["tx_bytes"], 50 * 64);  // tagged
}

// Full bursts whose packets all go one way untouched are sent straight from the burst; the
// others through the TX buffers. Either way every frame leaves in order, and the counters see
// each one once. Here: bursts to c alone (some dropped by the switch), then bursts that also go
// to a (tagged, so popped), then bursts to c alone again.
TEST_F(SwitchPcap, FullBurstsKeepOrderAndCountOnEitherPath) {
    std::vector<Bytes> in;
    std::vector<Bytes> to_c, to_a;
    std::uint8_t fill = 0;
    const auto add = [&](bool mixed, int n) {
        for (int i = 0; i < n; ++i, ++fill) {
            if (i % 9 == 4) {
                in.push_back(ip(kA, kHost, fill).bytes());  // a is on VLAN 100: unknown_dst
            } else if (mixed && i % 2 == 1) {
                Frame f = ip(kA, kHost, fill);
                in.push_back(tagged(f, 100).bytes());
                to_a.push_back(f.bytes());
            } else {
                in.push_back(ip(kC, kHost, fill).bytes());
                to_c.push_back(in.back());
            }
        }
    };
    add(false, 96);
    add(true, 64);
    add(false, 96);
    run_.input("up0", in);
    go();
    // Frames compared whole, and then by their fill byte for a readable order on failure.
    const auto fills = [](const std::vector<Bytes>& frames) {
        std::vector<int> f;
        for (const auto& b : frames)
            f.push_back(std::to_integer<int>(b.at(14)));  // after the header
        return f;
    };
    EXPECT_EQ(fills(out("g/c")), fills(to_c));
    EXPECT_TRUE(out("g/c") == to_c);
    EXPECT_EQ(fills(out("g/a")), fills(to_a));
    EXPECT_TRUE(out("g/a") == to_a);
    const std::uint64_t unknown = in.size() - to_c.size() - to_a.size();
    EXPECT_EQ(run_.drops("up0", "unknown_dst"), unknown);
    const auto port = [&](const char* name) {
        for (const auto& p : run_.stats()["ports"]) {
            if (p["name"] == name) return p;
        }
        return jsonl::Json();
    };
    EXPECT_EQ(port("up0")["rx_packets"], in.size());
    EXPECT_EQ(port("g/c")["tx_packets"], to_c.size());
    EXPECT_EQ(port("g/c")["tx_bytes"], to_c.size() * 60);  // 60-byte frames
    EXPECT_EQ(port("g/a")["tx_packets"], to_a.size());
    EXPECT_EQ(port("g/a")["tx_bytes"], to_a.size() * 60);  // 64 with the tag, popped
    // Which path the bursts took: the first three straight out (c's TX buffer empty), the mixed
    // two through the buffers, and of the last three, the first straight out only if the drain
    // timer emptied c's buffer in between.
    std::uint64_t direct = 0;
    for (const auto& w : run_.stats()["workers"]) direct += w["direct_bursts"].get<std::uint64_t>();
    EXPECT_GE(direct, 5U);
    EXPECT_LE(direct, 6U);
}

TEST_F(SwitchPcap, RunsOnHugepagesToo) {
    Frame f = ip(kB, kA, 30);
    run_.input("g/a", {f.bytes()});
    go(true);
    EXPECT_THAT(out("g/b"), ElementsAre(f.bytes()));
    EXPECT_THAT(run_.log(), testing::HasSubstr("--in-memory"));
}

}  // namespace
}  // namespace vfgate::test
