// Offload on the PMDs this host has: net_null and net_pcap have no rte_flow, and net_tap
// validates flows but can't create them (the kernel lacks cls_flower). What `offload` reports
// for each, that reload and stop work with flows refused, and that verdicts stay the software's.
// NICs that take flows are the testbed's (tests/system).

#include <fstream>
#include <signal.h>
#include <thread>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../common/dataplane_run.hpp"

namespace vfgate::test {
namespace {

using jsonl::Json;
using testing::HasSubstr;

const char* kFirewall = R"(        firewall:
          stateful: false
          ingress:
            - {id: deny-bad, action: deny, proto: tcp, src: 192.0.2.66/32}
            - {id: ssh, action: allow, proto: tcp, dst_port: 22}
)";

class Offload : public testing::Test {
  protected:
    DataplaneRun run_{VFGATE_DATAPLANE};
    std::string cfg_ = (run_.dir() / "vfgate.yaml").string();
    int pid_ = -1;

    void write(const std::string& uplink, const std::string& firewall = kFirewall) {
        std::ofstream(cfg_) << "version: 1\ndataplane:\n  hugepages: false\n  memory_mb: 256\n"
                            << "  control_socket: " << run_.socket() << "\n"
                            << "  uplinks:\n    - " << uplink << "\n"
                            << "guests:\n  - name: g\n    nics:\n"
                            << "      - name: a\n        type: dpdk\n        devargs: net_null1\n"
                            << "        mac: \"02:00:00:00:00:0a\"\n"
                            << firewall;
    }
    void start(const std::string& uplink) {
        write(uplink);
        pid_ = run_.spawn(cfg_);
        for (int i = 0; i < 400 && !jsonl::call(run_.socket(), "status"); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        ASSERT_TRUE(jsonl::call(run_.socket(), "status")) << run_.log();
    }
    void TearDown() override {
        if (pid_ < 0) return;
        ::kill(pid_, SIGTERM);
        EXPECT_EQ(run_.wait(pid_, std::chrono::seconds(20)), 0) << run_.log();
    }
    Json offload() {
        auto r = jsonl::call(run_.socket(), "offload");
        EXPECT_TRUE(r) << (r ? "" : r.error().to_string());
        return r ? *r : Json::object();
    }
    static Json entry(const Json& reply, const std::string& rule) {
        for (const auto& e : reply["entries"]) {
            if (e.value("rule", "") == rule) return e;
        }
        ADD_FAILURE() << "no entry for rule " << rule << " in " << reply.dump();
        return Json::object();
    }
    void reload() {
        auto r = jsonl::call(run_.socket(), "config.reload");
        ASSERT_TRUE(r) << r.error().to_string() << "\n" << run_.log();
    }
};

TEST_F(Offload, APmdWithoutRteFlowIsUnsupportedAndOffTurnsItOff) {
    start("{name: up0, device: net_null0}");
    Json r = offload();
    ASSERT_EQ(r["ports"].size(), 1u) << r.dump();
    EXPECT_EQ(r["ports"][0]["name"], "up0");
    EXPECT_EQ(r["ports"][0]["driver"], "net_null");
    EXPECT_EQ(r["ports"][0]["state"], "unsupported");
    EXPECT_THAT(r["ports"][0].value("note", ""), HasSubstr("Function not implemented"));
    EXPECT_EQ(r["ports"][0]["flows"], 0);
    Json deny = entry(r, "deny-bad");
    EXPECT_EQ(deny["where"], "software");
    EXPECT_THAT(deny.value("why_not", ""), HasSubstr("the PMD (net_null) has no rte_flow"));

    write("{name: up0, device: net_null0, offload: false}");
    reload();
    r = offload();
    EXPECT_EQ(r["ports"][0]["state"], "off") << r.dump();
    EXPECT_EQ(entry(r, "deny-bad")["where"], "software");
}

TEST_F(Offload, NetTapRefusesToCreateAndTheRuleRunsInSoftware) {
    const std::string tap =
        "{name: up0, device: \"net_tap0,iface=vfgtap" + std::to_string(::getpid() % 100000) + "\"}";
    start(tap);
    Json r = offload();
    ASSERT_EQ(r["ports"].size(), 1u) << r.dump();
    EXPECT_EQ(r["ports"][0]["driver"], "net_tap");
    Json deny = entry(r, "deny-bad");
    EXPECT_EQ(deny["where"], "software") << r.dump();
    EXPECT_THAT(deny.value("why_not", ""), HasSubstr("net_tap")) << r.dump();
    EXPECT_EQ(r["ports"][0]["flows"], 0);
    ASSERT_TRUE(r.contains("last_update")) << r.dump();
    EXPECT_GE(r["last_update"]["refused"].get<int>(), 1) << r.dump();

    // A reload with the rule changed asks again, and the dataplane carries on.
    write(tap, std::string(kFirewall) +
                   "            - {id: web, action: allow, proto: tcp, "
                   "dst_port: 80}\n");
    reload();
    r = offload();
    EXPECT_EQ(entry(r, "deny-bad")["where"], "software") << r.dump();
    EXPECT_GT(r["last_update"]["generation"].get<int>(), 1) << r.dump();
}

// On net_pcap (no rte_flow) the deny rule drops in software and counts, as without offload.
TEST(OffloadVerdicts, TheSoftwareRuleStillDrops) {
    DataplaneRun run(VFGATE_DATAPLANE);
    const char* kA = "02:00:00:00:00:0a";
    const char* kHost = "52:54:00:99:99:99";
    const auto to_a = [&](std::array<std::uint8_t, 4> src, std::uint16_t dport) {
        return packet(kA, kHost, 0x0800, ipv4(src, v4(10, 0, 0, 10), 6, tcp(40000, dport))).bytes();
    };
    run.input("up0", {to_a(v4(192, 0, 2, 66), 22), to_a(v4(192, 0, 2, 1), 22)});
    std::string yaml = "  uplinks:\n    - {name: up0, device: \"" + run.pcap_devargs("up0", 0) +
                       "\"}\nguests:\n  - name: g\n    nics:\n"
                       "      - name: a\n        type: dpdk\n        devargs: \"" +
                       run.pcap_devargs("g/a", 1) +
                       "\"\n        mac: \"02:00:00:00:00:0a\"\n"
                       "        addresses: [10.0.0.10/24]\n" +
                       kFirewall;
    ASSERT_EQ(run.run(yaml), 0) << run.log();
    EXPECT_EQ(run.output("g/a").size(), 1u);
    EXPECT_EQ(run.drops("up0", "firewall"), 1u);
    EXPECT_EQ(run.hits("g/a", "ingress", "deny-bad"), 1u);
    EXPECT_EQ(run.hits("g/a", "ingress", "ssh"), 1u);
    EXPECT_THAT(run.log(), HasSubstr("has no rte_flow"));
}

}  // namespace
}  // namespace vfgate::test
