// config.reload on a running dataplane: guest NICs come and go live; a bad file, or a change
// that needs a restart, is rejected whole and the running state stays.

#include <filesystem>
#include <fstream>
#include <signal.h>
#include <sys/stat.h>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../common/dataplane_run.hpp"

namespace vfgate::test {
namespace {

using jsonl::Json;
using testing::HasSubstr;

class Reload : public testing::Test {
  protected:
    DataplaneRun run_{VFGATE_DATAPLANE};
    std::string cfg_ = (run_.dir() / "vfgate.yaml").string();
    int pid_ = -1;

    std::string nic(const char* name, const char* dev, const char* mac, const char* extra = "") {
        return std::string("      - {name: ") + name + ", type: dpdk, devargs: " + dev +
               ", mac: \"" + mac + "\"" + extra + "}\n";
    }
    void write(const std::string& nics, const std::string& dataplane_extra = "") {
        std::ofstream(cfg_) << "version: 1\ndataplane:\n  hugepages: false\n  memory_mb: 256\n"
                            << "  control_socket: " << run_.socket() << "\n"
                            << dataplane_extra
                            << "  uplinks:\n    - {name: up0, device: net_null0}\n"
                            << "guests:\n  - name: g\n    nics:\n"
                            << nics;
    }
    void SetUp() override {
        write(nic("a", "net_null1", "02:00:00:00:00:0a") +
              nic("b", "net_null2", "02:00:00:00:00:0b"));
        pid_ = run_.spawn(cfg_);
        for (int i = 0; i < 400 && !jsonl::call(run_.socket(), "status"); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        ASSERT_TRUE(jsonl::call(run_.socket(), "status")) << run_.log();
    }
    void TearDown() override {
        ::kill(pid_, SIGTERM);
        EXPECT_EQ(run_.wait(pid_, std::chrono::seconds(20)), 0) << run_.log();
    }
    std::vector<std::string> port_names() {
        std::vector<std::string> names;
        auto ports = jsonl::call(run_.socket(), "ports");
        if (!ports) return names;
        for (const auto& p : *ports) names.push_back(p["name"]);
        return names;
    }
    std::uint64_t generation() { return (*jsonl::call(run_.socket(), "status"))["generation"]; }
};

TEST_F(Reload, AddsAndRemovesGuestNicsLive) {
    write(nic("a", "net_null1", "02:00:00:00:00:0a") +
          nic("c", "net_null3", "02:00:00:00:00:0c", ", vlan: 7"));
    auto r = jsonl::call(run_.socket(), "config.reload");
    ASSERT_TRUE(r) << r.error().to_string() << run_.log();
    EXPECT_EQ((*r)["added"], Json::array({"g/c"}));
    EXPECT_EQ((*r)["removed"], Json::array({"g/b"}));
    EXPECT_EQ((*r)["generation"], 3);  // an interim snapshot without b, then the final one
    EXPECT_EQ(port_names(), (std::vector<std::string>{"up0", "g/a", "g/c"}));
    auto fdb = *jsonl::call(run_.socket(), "fdb");
    ASSERT_EQ(fdb.size(), 2u);
    EXPECT_EQ(fdb[1]["mac"], "02:00:00:00:00:0c");
    EXPECT_EQ(fdb[1]["vlan"], 7);
}

TEST_F(Reload, ChangedMacOrVlanUpdatesInPlace) {
    write(nic("a", "net_null1", "02:00:00:00:00:0a", ", vlan: 9") +
          nic("b", "net_null2", "02:00:00:00:00:0b"));
    auto r = jsonl::call(run_.socket(), "config.reload");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ((*r)["updated"], Json::array({"g/a"}));
    EXPECT_TRUE((*r)["added"].empty());
    EXPECT_EQ((*jsonl::call(run_.socket(), "fdb"))[0]["vlan"], 9);
}

TEST_F(Reload, ChangedDeviceReopensThePort) {
    write(nic("a", "net_null1", "02:00:00:00:00:0a") + nic("b", "net_null7", "02:00:00:00:00:0b"));
    auto r = jsonl::call(run_.socket(), "config.reload");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ((*r)["updated"], Json::array({"g/b"}));
    auto ports = *jsonl::call(run_.socket(), "ports");
    EXPECT_EQ(ports[2]["devargs"], "net_null7");
}

TEST_F(Reload, BadFileIsRejectedWholeAndNothingChanges) {
    auto before = generation();
    write(nic("a", "net_null1", "02:00:00:00:00:0a") + nic("c", "net_null3", "02:00:00:00:00:0a"));
    auto r = jsonl::call(run_.socket(), "config.reload");
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("config rejected, nothing changed: 1 error(s)"));
    EXPECT_THAT(r.error().to_string(), HasSubstr("(line 12:"));
    // What the file says stays in the dataplane's log: the caller may not be able to read it.
    EXPECT_THAT(r.error().to_string(), testing::Not(HasSubstr("found")));
    EXPECT_THAT(run_.log(), HasSubstr("guests[0].nics[1].mac: found 02:00:00:00:00:0a, "
                                      "already the MAC of guests[0].nics[0].mac"));
    EXPECT_EQ(generation(), before);
    EXPECT_EQ(port_names(), (std::vector<std::string>{"up0", "g/a", "g/b"}));
}

TEST_F(Reload, DeviceThatWontProbeRestoresThePreviousPorts) {
    auto before = generation();
    write(nic("a", "net_null1", "02:00:00:00:00:0a") +
          nic("c", "\"net_af_packet9,iface=vfg-nosuchif\"", "02:00:00:00:00:0c"));
    auto r = jsonl::call(run_.socket(), "config.reload");
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("reload failed, previous state restored"));
    EXPECT_THAT(r.error().to_string(), HasSubstr("net_af_packet9"));
    EXPECT_EQ(port_names(), (std::vector<std::string>{"up0", "g/a", "g/b"}));
    EXPECT_GT(generation(), before);
}

// A reload that fails after compiling a NIC's new firewall leaves the running one in charge,
// and the reloads after it build on what runs, not on what the failed one compiled (a later
// reload that removed a port failed: "firewall not compiled").
TEST_F(Reload, AFailedReloadsFirewallIsNotTakenForTheRunningOne) {
    const auto with_rule = [](const char* id, const char* port) {
        return std::string(", firewall: {ingress: [{id: ") + id +
               ", action: allow, proto: tcp, dst_port: " + port + "}]}";
    };
    const auto a = [&](const char* id, const char* port) {
        return nic("a", "net_null1", "02:00:00:00:00:0a", with_rule(id, port).c_str());
    };
    const std::string b = nic("b", "net_null2", "02:00:00:00:00:0b");
    const auto ingress_rule = [&] {
        const auto rules = jsonl::call(run_.socket(), "firewall.rules");
        if (!rules) return rules.error().to_string();
        for (const auto& n : *rules) {
            if (n["nic"] == "g/a") return n["ingress"]["rules"][0]["id"].get<std::string>();
        }
        return std::string("(none)");
    };
    write(a("ssh", "22") + b);
    ASSERT_TRUE(jsonl::call(run_.socket(), "config.reload")) << run_.log();
    write(a("telnet", "23") + b +
          nic("c", "\"net_af_packet9,iface=vfg-nosuchif\"", "02:00:00:00:00:0c"));
    auto failed = jsonl::call(run_.socket(), "config.reload");
    ASSERT_FALSE(failed);
    EXPECT_THAT(failed.error().to_string(), HasSubstr("reload failed, previous state restored"));
    EXPECT_EQ(ingress_rule(), "ssh");
    write(a("http", "80"));  // another firewall for a, and b gone: an interim snapshot first
    auto r = jsonl::call(run_.socket(), "config.reload");
    ASSERT_TRUE(r) << r.error().to_string() << run_.log();
    EXPECT_EQ((*r)["removed"], Json::array({"g/b"}));
    EXPECT_EQ(ingress_rule(), "http");
}

// Its firewall is compiled again (a new epoch: connections re-checked, those from an address it
// no longer has revoked) when a NIC's rules change or its addresses do, and only then.
TEST_F(Reload, ANicsFirewallIsRebuiltWhenItsAddressesChange) {
    const auto a = [&](const char* addresses) {
        const std::string extra =
            std::string(", addresses: [") + addresses + "], firewall: {egress_default: allow}";
        return nic("a", "net_null1", "02:00:00:00:00:0a", extra.c_str()) +
               nic("b", "net_null2", "02:00:00:00:00:0b");
    };
    const auto compiles = [&] {
        const std::string log = run_.log();
        std::size_t n = 0;
        for (auto at = log.find("g/a: firewall compiled"); at != std::string::npos;
             at = log.find("g/a: firewall compiled", at + 1)) {
            ++n;
        }
        return n;
    };
    write(a("10.0.0.10/24"));
    ASSERT_TRUE(jsonl::call(run_.socket(), "config.reload")) << run_.log();
    EXPECT_EQ(compiles(), 1U) << run_.log();
    ASSERT_TRUE(jsonl::call(run_.socket(), "config.reload"));
    EXPECT_EQ(compiles(), 1U) << "nothing changed";
    write(a("10.0.0.12/24"));
    ASSERT_TRUE(jsonl::call(run_.socket(), "config.reload"));
    EXPECT_EQ(compiles(), 2U) << run_.log();
}

TEST_F(Reload, UnknownDriverIsNamed) {
    write(nic("a", "net_null1", "02:00:00:00:00:0a") + nic("b", "net_null2", "02:00:00:00:00:0b") +
          nic("c", "\"net_foo0,x=1\"", "02:00:00:00:00:0c"));
    auto r = jsonl::call(run_.socket(), "config.reload");
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("port g/c (net_foo0,x=1): no DPDK driver "
                                                 "'net_foo' (device net_foo0)"));
    EXPECT_THAT(r.error().to_string(), testing::Not(HasSubstr("Bad address")));
    EXPECT_EQ(port_names(), (std::vector<std::string>{"up0", "g/a", "g/b"}));
}

TEST_F(Reload, RestartOnlyChangesAreRefused) {
    auto before = generation();
    write(nic("a", "net_null1", "02:00:00:00:00:0a") + nic("b", "net_null2", "02:00:00:00:00:0b"),
          "  mbufs: 20000\n");
    auto r = jsonl::call(run_.socket(), "config.reload");
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("changed dataplane.mbufs: these need a restart"));
    EXPECT_EQ(generation(), before);
}

TEST_F(Reload, ConntrackCapacityNeedsARestartItsTimeoutsDoNot) {
    auto before = generation();
    const std::string nics =
        nic("a", "net_null1", "02:00:00:00:00:0a") + nic("b", "net_null2", "02:00:00:00:00:0b");
    write(nics, "  conntrack: {capacity: 2048}\n");
    auto r = jsonl::call(run_.socket(), "config.reload");
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("changed dataplane.conntrack.capacity"));
    EXPECT_EQ(generation(), before);
    write(nics, "  conntrack: {timeouts: {udp: 5, tcp_established: 3600}}\n");
    auto ok = jsonl::call(run_.socket(), "config.reload");
    ASSERT_TRUE(ok) << ok.error().to_string();
    EXPECT_GT(generation(), before);
}

TEST_F(Reload, TooManyAddressesForTheDataplaneRejectTheReloadWhole) {
    auto before = generation();
    std::string many;
    for (int i = 1; i <= 17; ++i) {
        many += (i > 1 ? ", " : "") + ("10.0.0." + std::to_string(i) + "/32");
    }
    const std::string extra = ", addresses: [" + many + "]";
    write(nic("a", "net_null1", "02:00:00:00:00:0a") + nic("b", "net_null2", "02:00:00:00:00:0b") +
          nic("c", "net_null3", "02:00:00:00:00:0c", extra.c_str()));
    auto r = jsonl::call(run_.socket(), "config.reload");
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("g/c: more than 16 addresses of one IP version"));
    EXPECT_THAT(r.error().to_string(), HasSubstr("nothing changed"));
    EXPECT_EQ(port_names(), (std::vector<std::string>{"up0", "g/a", "g/b"}));
    EXPECT_EQ(generation(), before);
}

TEST_F(Reload, SighupReloadsTheFile) {
    write(nic("a", "net_null1", "02:00:00:00:00:0a"));
    ::kill(pid_, SIGHUP);
    for (int i = 0; i < 200 && port_names().size() != 2; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    EXPECT_EQ(port_names(), (std::vector<std::string>{"up0", "g/a"}));
}

// Someone replaced the running config by a FIFO (nobody writes it): SIGHUP must not wait for a
// writer. The dataplane logs why it can't reload, keeps answering and keeps its config.
TEST_F(Reload, SighupWithTheFileReplacedByAFifoKeepsTheOldConfig) {
    const auto before = generation();
    std::filesystem::remove(cfg_);
    ASSERT_EQ(::mkfifo(cfg_.c_str(), 0600), 0);
    const auto t0 = std::chrono::steady_clock::now();
    ::kill(pid_, SIGHUP);
    // The verdict is the last line logged. A dataplane blocked in open() on the FIFO would never
    // log it, so a generous bound still tells the two apart on a loaded host.
    while (run_.log().find("config rejected, nothing changed") == std::string::npos &&
           std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_THAT(run_.log(), HasSubstr(cfg_ + ": cannot read: not a regular file (a FIFO)"));
    EXPECT_THAT(run_.log(), HasSubstr("reload on SIGHUP: config rejected, nothing changed"));
    auto status = jsonl::call(run_.socket(), "status", Json::object(), std::chrono::seconds(1));
    ASSERT_TRUE(status) << status.error().to_string();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(6));
    EXPECT_EQ((*status)["generation"], before);
    EXPECT_EQ(port_names(), (std::vector<std::string>{"up0", "g/a", "g/b"}));

    // A regular file again: the next SIGHUP reloads it.
    std::filesystem::remove(cfg_);
    write(nic("a", "net_null1", "02:00:00:00:00:0a"));
    ::kill(pid_, SIGHUP);
    for (int i = 0; i < 200 && port_names().size() != 2; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    EXPECT_EQ(port_names(), (std::vector<std::string>{"up0", "g/a"}));
}

TEST_F(Reload, UnknownMethodAndBadJsonGetErrorsNotACrash) {
    auto r = jsonl::call(run_.socket(), "frobnicate");
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("unknown method 'frobnicate'; expected one of"));
    EXPECT_TRUE(jsonl::call(run_.socket(), "status"));
}

}  // namespace
}  // namespace vfgate::test
