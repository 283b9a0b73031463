// Flooding in a busy broadcast domain, on real mbufs: every port of a domain of four guest NICs
// and the uplink sends full bursts that mix broadcast, multicast and unicast frames. Asserts
// that every frame config-v1's forwarding rules require leaves every port it should (in order
// per source), and that the counters account for every frame: received + copies = sent + drops,
// per worker and in total, and that vfgatectl shows users the counters the control socket has.

#include <algorithm>
#include <iterator>
#include <map>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../common/dataplane_run.hpp"
#include "../common/raw_client.hpp"

namespace vfgate::test {
namespace {

constexpr int kGuests = 4;
constexpr int kFramesPerPort = 160;  // five bursts of 32 per port
const char* kHost = "52:54:00:99:99:99";
const char* kOtherHost = "52:54:00:99:99:98";  // no NIC has it: unknown unicast

std::string guest_mac(int g) { return "02:00:00:00:00:0" + std::to_string(g + 1); }
std::string guest_port(int g) { return "g/n" + std::to_string(g); }

// A frame that says where it came from and its number there, so that every copy is told apart.
Frame numbered(const std::string& dst, const std::string& src, int from, int seq) {
    Bytes l3(46, std::byte{0});
    l3[0] = std::byte(from);
    l3[1] = std::byte(seq >> 8);
    l3[2] = std::byte(seq & 0xff);
    return packet(dst, src, 0x0800, l3);
}

struct Expected {
    std::map<std::string, std::vector<Bytes>> in;   // per input port, in order
    std::map<std::string, std::vector<Bytes>> out;  // per output port, per-source order kept
};

// The mix each port sends: broadcast, IPv4 and IPv6 multicast, unicast to each other guest, to
// the uplink's host (unknown unicast from a guest), and from the uplink to each guest.
Expected traffic(int vlan) {
    Expected e;
    const std::vector<std::string> groups = {"ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:fb",
                                             "33:33:00:00:00:01"};
    auto tag = [&](const Frame& f) {
        return vlan == 0 ? f : tagged(f, static_cast<std::uint16_t>(vlan));
    };
    for (int g = 0; g < kGuests; ++g) {
        const std::string self = guest_port(g);
        for (int seq = 0; seq < kFramesPerPort; ++seq) {
            const int kind = seq % 7;
            std::string dst;
            if (kind < 3) {
                dst = groups[static_cast<std::size_t>(kind)];
            } else if (kind == 6) {
                dst = seq % 2 ? kHost : kOtherHost;
            } else {
                dst = guest_mac((g + kind - 2) % kGuests);  // another guest
            }
            Frame f = numbered(dst, guest_mac(g), g + 1, seq);
            e.in[self].push_back(f.bytes());
            if (kind < 3) {
                for (int o = 0; o < kGuests; ++o) {
                    if (o != g) e.out[guest_port(o)].push_back(f.bytes());
                }
                e.out["up0"].push_back(tag(f).bytes());
            } else if (kind == 6) {
                e.out["up0"].push_back(tag(f).bytes());
            } else {
                e.out[guest_port((g + kind - 2) % kGuests)].push_back(f.bytes());
            }
        }
    }
    for (int seq = 0; seq < kFramesPerPort; ++seq) {
        const int kind = seq % 5;
        std::string dst =
            kind < 3 ? groups[static_cast<std::size_t>(kind)] : guest_mac(seq % kGuests);
        Frame f = numbered(dst, kHost, 0, seq);
        e.in["up0"].push_back(tag(f).bytes());
        if (kind < 3) {
            for (int o = 0; o < kGuests; ++o) e.out[guest_port(o)].push_back(f.bytes());
        } else {
            e.out[guest_port(seq % kGuests)].push_back(f.bytes());
        }
    }
    return e;
}

// The frames of `all` that came from source number `from` (first payload byte), in order, each
// as "#SEQ" and its bytes in hex: short enough to read in a failure, exact enough to compare.
std::vector<std::string> from_source(const std::vector<Bytes>& all, int from) {
    std::vector<std::string> out;
    for (const auto& f : all) {
        std::size_t at = f.size() - 46;  // the payload starts 46 bytes before the end
        if (f[at] != std::byte(from)) continue;
        std::string s = "#" +
                        std::to_string(std::to_integer<int>(f[at + 1]) * 256 +
                                       std::to_integer<int>(f[at + 2])) +
                        " ";
        static const char* kHex = "0123456789abcdef";
        for (std::size_t i = 0; i < at; ++i) {  // the headers; the rest is zeros
            s += kHex[std::to_integer<int>(f[i]) >> 4];
            s += kHex[std::to_integer<int>(f[i]) & 0xf];
        }
        out.push_back(s);
    }
    return out;
}

// Has `vfgatectl dataplane stats` run on the dataplane just before it stops, into `out`.
void watch_with_vfgatectl(DataplaneRun& run, ProgramResult& out) {
    run.before_stop([&run, &out] {
        out = run_program({VFGATECTL, "dataplane", "-s", run.socket(), "stats"}, run.dir());
    });
}

// What users read in the worker table of `vfgatectl dataplane stats` is what the stats reply
// says: IN, COPIES, OUT and DROPS of each worker.
void expect_vfgatectl_shows(const ProgramResult& ctl, const jsonl::Json& stats) {
    ASSERT_EQ(ctl.status, 0) << ctl.err;
    std::map<std::string, std::vector<std::string>> rows;  // WORKER -> IN, COPIES, OUT, DROPS
    std::istringstream in(ctl.out);
    bool table = false;
    for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        std::vector<std::string> w{std::istream_iterator<std::string>(words), {}};
        if (!table) {
            table = !w.empty() && w[0] == "WORKER";
            if (table) {
                ASSERT_THAT(w, testing::ElementsAre("WORKER", "CORE", "IN", "COPIES", "OUT",
                                                    "DROPS", testing::_, testing::_));
            }
            continue;
        }
        if (w.size() >= 6) rows[w[0]] = {w[2], w[3], w[4], w[5]};
    }
    ASSERT_EQ(rows.size(), stats["workers"].size()) << ctl.out;
    for (const auto& w : stats["workers"]) {
        const std::vector<std::string> want{w["packets_in"].dump(), w["copies"].dump(),
                                            w["packets_out"].dump(), w["drops"].dump()};
        EXPECT_EQ(rows[w["index"].dump()], want) << ctl.out;
    }
}

class BusyDomain : public testing::TestWithParam<int> {
  protected:
    DataplaneRun run_{VFGATE_DATAPLANE};

    std::string config(int vlan) const {
        std::string y = "  uplinks:\n    - {name: up0, device: \"" + run_.pcap_devargs("up0", 0) +
                        "\"}\nguests:\n  - name: g\n    nics:\n";
        for (int g = 0; g < kGuests; ++g) {
            y += "      - {name: n" + std::to_string(g) + ", type: dpdk, devargs: \"" +
                 run_.pcap_devargs(guest_port(g), g + 1) + "\", mac: \"" + guest_mac(g) + "\"" +
                 (vlan == 0 ? std::string() : ", vlan: " + std::to_string(vlan)) + "}\n";
        }
        // A NIC on another VLAN: nothing of the busy domain may reach it.
        y += "      - {name: other, type: dpdk, devargs: \"" +
             run_.pcap_devargs("g/other", kGuests + 1) +
             "\", mac: \"02:00:00:00:00:ff\", vlan: " + std::to_string(vlan == 7 ? 8 : 7) + "}\n";
        return y;
    }
};

TEST_P(BusyDomain, EveryFloodedCopyLeavesOrIsCounted) {
    const int vlan = GetParam();
    Expected e = traffic(vlan);
    for (auto& [port, frames] : e.in) run_.input(port, frames);
    ProgramResult ctl;
    watch_with_vfgatectl(run_, ctl);
    ASSERT_EQ(run_.run(config(vlan)), 0) << run_.log();
    expect_vfgatectl_shows(ctl, run_.stats());

    for (const auto& [port, want] : e.out) {
        auto got = run_.output(port);
        EXPECT_EQ(got.size(), want.size()) << port;
        // Ports are polled in turn, so sources interleave; each source's own order is kept.
        for (int from = 0; from <= kGuests; ++from) {
            EXPECT_EQ(from_source(got, from), from_source(want, from))
                << port << ": frames from source " << from;
        }
    }
    EXPECT_THAT(run_.output("g/other"), testing::IsEmpty());

    // The accounting identity, per worker and over the ports.
    const auto& stats = run_.stats();
    std::uint64_t rx = 0, tx = 0, drops = 0, copies = 0, offered = 0, expected_out = 0;
    for (const auto& [port, frames] : e.in) offered += frames.size();
    for (const auto& [port, frames] : e.out) expected_out += frames.size();
    for (const auto& p : stats["ports"]) {
        rx += p["rx_packets"].get<std::uint64_t>();
        tx += p["tx_packets"].get<std::uint64_t>();
        drops += p["drops_total"].get<std::uint64_t>();
    }
    ASSERT_FALSE(stats["workers"].empty());
    for (const auto& w : stats["workers"]) {
        const auto in = w["packets_in"].get<std::uint64_t>();
        const auto made = w["copies"].get<std::uint64_t>();
        const auto out = w["packets_out"].get<std::uint64_t>();
        const auto dropped = w["drops"].get<std::uint64_t>();
        EXPECT_EQ(in + made, out + dropped) << w.dump();
        copies += made;
    }
    EXPECT_EQ(rx, offered);
    EXPECT_EQ(tx, expected_out);
    EXPECT_EQ(drops, 0u) << stats.dump();
    EXPECT_EQ(rx + copies, tx + drops);
}

// A flood in a domain where buffers or room to send run out: every copy that finds no buffer
// is counted no_mbuf, every frame a port refuses is counted tx_failed, what the counters call
// sent is what the ports wrote, and received + copies = sent + drops still holds.
class ShortOfRoom : public testing::Test {
  protected:
    DataplaneRun run_{VFGATE_DATAPLANE};

    // `count` broadcast frames from `mac`, numbered.
    static std::vector<Bytes> broadcasts(const std::string& mac, int from, int count) {
        std::vector<Bytes> out;
        for (int seq = 0; seq < count; ++seq) {
            out.push_back(numbered("ff:ff:ff:ff:ff:ff", mac, from, seq).bytes());
        }
        return out;
    }
    static std::string pcap_nic(const std::string& name, const std::string& devargs,
                                const std::string& mac, const std::string& extra = "") {
        return "      - {name: " + name + ", type: dpdk, devargs: \"" + devargs + "\", mac: \"" +
               mac + "\"" + extra + "}\n";
    }
    const jsonl::Json& port(const std::string& name) const {
        for (const auto& p : run_.stats()["ports"]) {
            if (p["name"] == name) return p;
        }
        static const jsonl::Json kNone = jsonl::Json::object();
        return kNone;
    }
    std::uint64_t counter(const std::string& name, const char* key) const {
        return port(name).value(key, ~std::uint64_t{0});
    }

    // Every port wrote what the dataplane counted as sent by it; the identity holds per worker
    // and over the ports.
    void expect_accounted(const std::vector<std::string>& pcap_ports) const {
        for (const auto& p : pcap_ports) {
            EXPECT_EQ(run_.output(p).size(), counter(p, "tx_packets")) << p;
        }
        EXPECT_EQ(run_.accounting_gap(), "");
        std::uint64_t rx = 0, tx = 0, drops = 0, copies = 0;
        for (const auto& p : run_.stats()["ports"]) {
            rx += p["rx_packets"].get<std::uint64_t>();
            tx += p["tx_packets"].get<std::uint64_t>();
            drops += p["drops_total"].get<std::uint64_t>();
        }
        for (const auto& w : run_.stats()["workers"]) copies += w["copies"].get<std::uint64_t>();
        EXPECT_GT(copies, 0u);
        EXPECT_EQ(rx + copies, tx + drops) << run_.stats().dump();
    }
};

// The pool holds the validator's minimum, 1024 buffers, and a net_pcap port with infinite_rx
// keeps 1000 of them for its capture (docs/config.md warns of it): fewer than a burst are left,
// so that port never receives, and the broadcasts of a guest find no buffer for their copies.
TEST_F(ShortOfRoom, CopiesThatFindNoBufferAreCountedNoMbuf) {
    constexpr int kFrames = 64;
    write_pcap(run_.dir() / "g_hog.in.pcap", broadcasts("02:00:00:00:00:99", 9, 1000));
    run_.input("g/src", broadcasts(guest_mac(0), 1, kFrames));
    std::string y = "  mbufs: 1024\n  uplinks:\n    - {name: up0, device: \"" +
                    run_.pcap_devargs("up0", 0) + "\"}\nguests:\n  - name: g\n    nics:\n";
    y += pcap_nic("src", run_.pcap_devargs("g/src", 1), guest_mac(0));
    y += pcap_nic("t1", run_.pcap_devargs("g/t1", 2), guest_mac(1));
    y += pcap_nic("t2", run_.pcap_devargs("g/t2", 3), guest_mac(2));
    y += pcap_nic("hog", run_.pcap_devargs("g/hog", 4) + ",infinite_rx=1", "02:00:00:00:00:99",
                  ", vlan: 7");
    jsonl::Json status;
    run_.before_stop([&] {
        if (auto r = jsonl::call(run_.socket(), "status")) status = *r;
    });
    ASSERT_EQ(run_.run(y), 0) << run_.log();
    ASSERT_LT(status["mbufs"]["available"].get<std::uint64_t>(), 32u) << status.dump();

    // Every frame the source offered was received, or counted lost by its device.
    const auto rx = counter("g/src", "rx_packets");
    EXPECT_GT(rx, 0u);
    EXPECT_EQ(rx + port("g/src")["device"]["rx_nombuf"].get<std::uint64_t>(), kFrames);
    EXPECT_EQ(counter("g/hog", "rx_packets"), 0u);
    // Copies failed, counted on the port the frame came in on; the original always leaves
    // (the uplink is a guest's last flood target).
    const auto no_mbuf = run_.drops("g/src", "no_mbuf");
    EXPECT_GT(no_mbuf, 0u) << run_.stats().dump();
    EXPECT_EQ(run_.output("up0").size(), rx);
    // Each received broadcast owed t1 and t2 a copy: sent, or counted.
    EXPECT_EQ(run_.output("g/t1").size() + run_.output("g/t2").size() + no_mbuf, 2 * rx);
    expect_accounted({"up0", "g/t1", "g/t2"});
}

// A guest NIC on net_ring: its TX ring (1023 frames) loops back to its RX, which the worker
// drains a burst per pass, while four ports flood a burst each per pass into it: the ring
// fills and the port refuses frames. What it took comes back, from MACs not the NIC's own.
TEST_F(ShortOfRoom, FramesAPortRefusesAreCountedTxFailed) {
    constexpr int kFrames = 640;  // per source: twenty bursts
    run_.input("up0", broadcasts(kHost, 0, kFrames));
    std::string y = "  uplinks:\n    - {name: up0, device: \"" + run_.pcap_devargs("up0", 0) +
                    "\"}\nguests:\n  - name: g\n    nics:\n";
    for (int g = 0; g < 3; ++g) {
        run_.input(guest_port(g), broadcasts(guest_mac(g), g + 1, kFrames));
        y += pcap_nic("n" + std::to_string(g), run_.pcap_devargs(guest_port(g), g + 1),
                      guest_mac(g));
    }
    y += pcap_nic("ring", "net_ring0", "02:00:00:00:00:77");
    ProgramResult ctl;
    watch_with_vfgatectl(run_, ctl);
    ASSERT_EQ(run_.run(y), 0) << run_.log();
    expect_vfgatectl_shows(ctl, run_.stats());

    // Every broadcast owed the ring NIC a frame: it took it, or it was counted tx_failed.
    const auto failed = run_.drops("g/ring", "tx_failed");
    const auto took = counter("g/ring", "tx_packets");
    EXPECT_GT(failed, 0u) << run_.stats().dump();
    EXPECT_EQ(took + failed, 4u * kFrames);
    // What it took came back, and was dropped as not from its own MAC.
    EXPECT_EQ(counter("g/ring", "rx_packets"), took);
    EXPECT_EQ(run_.drops("g/ring", "spoofed_mac"), took);
    expect_accounted({"up0", "g/n0", "g/n1", "g/n2"});
}

INSTANTIATE_TEST_SUITE_P(Vlans, BusyDomain, testing::Values(4094, 100, 0),
                         [](const testing::TestParamInfo<int>& i) {
                             return i.param == 0 ? std::string("Untagged")
                                                 : "Vlan" + std::to_string(i.param);
                         });

}  // namespace
}  // namespace vfgate::test
