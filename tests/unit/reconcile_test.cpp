// vfgated's reconcile step: the ordered plan from a config and a hand-written observation of the
// host. Plans are compared with golden files in tests/unit/golden/reconcile/
// (VFGATE_UPDATE_GOLDEN=1 rewrites them); the order and the reasons are what a user reads in
// `vfgatectl plan`.
#include "reconcile.hpp"

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vfgate/config/load.hpp>

#include "../common/golden.hpp"

namespace vfgate::control {
namespace {

using ::testing::HasSubstr;

const std::string kGoldenDir = std::string(VFGATE_SOURCE_ROOT) + "/tests/unit/golden/reconcile/";
const std::string kGuestRoot = "/run/vfgate/guests";

config::Config load(const std::string& text) {
    config::LoadResult r = config::load_string(text, "test.yaml");
    if (!r.ok()) {
        for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
        return {};
    }
    return *r.config;
}

// web and db boot kernels on vhost-user NICs; ext is managed elsewhere (no boot).
std::string config_text(const std::string& dataplane_extra = "",
                        const std::string& web_rules = "[{id: ping, action: allow, proto: icmp}]",
                        bool with_db = true) {
    std::string text = R"(version: 1
dataplane:
  hugepages: false
  control_socket: /run/vfgate/dataplane.sock
)" + dataplane_extra + R"(  uplinks:
    - {name: up0, device: "net_null0"}
guests:
  - name: web
    memory_mb: 256
    accel: tcg
    boot: {kernel: /img/vmlinux, initrd: /img/initrd.gz, cmdline: "console=ttyS0"}
    nics:
      - name: eth0
        type: vhost-user
        mac: "52:54:00:00:00:02"
        firewall: {ingress: )" +
                       web_rules + R"(}
  - name: ext
    nics:
      - {name: eth0, type: vhost-user, mac: "52:54:00:00:00:09"}
)";
    if (with_db) {
        text += R"(  - name: db
    memory_mb: 256
    accel: tcg
    boot: {kernel: /img/vmlinux, initrd: /img/initrd.gz, cmdline: "console=ttyS0 db"}
    nics:
      - {name: eth0, type: vhost-user, mac: "52:54:00:00:00:03"}
)";
    }
    return text;
}

vm::HostFacts facts() {
    vm::HostFacts f;
    f.kvm = {false, "a guest kernel under KVM did not finish booting within 20 s"};
    f.cpus = {0, 1};
    f.mem_available_mb = 8192;
    f.files["/img/vmlinux"] = {true, "", ""};
    f.files["/img/initrd.gz"] = {true, "", ""};
    f.vf_state_file = "/run/vfgate/vfs.json";
    return f;
}

std::vector<std::string> argv_of(const config::Config& cfg, const std::string& guest) {
    auto p = vm::plan_guest(cfg, guest, facts(), kGuestRoot);
    EXPECT_TRUE(p.has_value()) << (p ? "" : p.error().to_string());
    return p ? p->argv : std::vector<std::string>{};
}

// The host as `cfg` declares it: the dataplane runs `cfg`, its guests run their planned argv.
Observed as_declared(const config::Config& cfg) {
    Observed o;
    o.dataplane = {true, 100, true, "", cfg};
    int pid = 200;
    for (const auto& g : cfg.guests) {
        if (!g.boot) continue;
        o.facts[g.name] = facts();
        o.guests[g.name] = GuestSeen{"running", ++pid, argv_of(cfg, g.name)};
    }
    return o;
}

Observed nothing_running(const config::Config& cfg) {
    Observed o;
    for (const auto& g : cfg.guests) {
        if (g.boot) o.facts[g.name] = facts();
    }
    return o;
}

std::string text_of(const Plan& p) {
    std::string out = describe(p) + "\n";
    for (const auto& u : p.unchanged) out += "unchanged: " + u + "\n";
    return out;
}

void expect_plan(const std::string& name, const config::Config& desired, const Observed& o) {
    auto p = reconcile(desired, o, {kGuestRoot, false});
    ASSERT_TRUE(p.has_value()) << p.error().to_string();
    testing::expect_golden(kGoldenDir + name + ".txt", text_of(*p));
}

TEST(Reconcile, NothingRunningBringsTheWholeHostUpInOrder) {
    const auto cfg = load(config_text());
    expect_plan("boot", cfg, nothing_running(cfg));
}

TEST(Reconcile, AHostAsDeclaredNeedsNothing) {
    const auto cfg = load(config_text());
    auto p = reconcile(cfg, as_declared(cfg), {kGuestRoot, false});
    ASSERT_TRUE(p.has_value());
    EXPECT_TRUE(p->empty());
    expect_plan("as_declared", cfg, as_declared(cfg));
}

// A guest running on hugepages holds them: planned again (a restart of vfgated, a SIGHUP) it is
// planned on them as when it started, not restarted on shared memory, nor refused for want of
// memory.
TEST(Reconcile, AGuestOnHugepagesIsPlannedOnThemAgainWhileItRuns) {
    const auto cfg = load(config_text());
    vm::HostFacts free = facts();
    free.hugepage_dir = "/dev/hugepages";
    free.hugepages_free_mb = 4096;
    Observed o = as_declared(cfg);
    for (auto& [name, seen] : o.guests) {
        auto p = vm::plan_guest(cfg, name, free, kGuestRoot);
        ASSERT_TRUE(p.has_value()) << p.error().to_string();
        seen.argv = p->argv;
        ASSERT_TRUE(std::any_of(seen.argv.begin(), seen.argv.end(), [](const std::string& a) {
            return a.starts_with("memory-backend-file,");
        }));
    }
    // Now the guests hold the hugepages, and little else is left.
    for (auto& [name, f] : o.facts) {
        f = free;
        f.hugepages_free_mb = 0;
        f.mem_available_mb = 64;
    }
    auto p = reconcile(cfg, o, {kGuestRoot, false});
    ASSERT_TRUE(p.has_value()) << p.error().to_string();
    EXPECT_TRUE(p->empty()) << describe(*p);
}

TEST(Reconcile, ARuleChangeIsALiveReloadAndRestartsNoGuest) {
    const auto before = load(config_text());
    const auto after = load(config_text("",
                                        "[{id: ping, action: allow, proto: icmp}, "
                                        "{id: web, action: allow, proto: tcp, dst_port: 80}]"));
    expect_plan("rule_change", after, as_declared(before));
}

TEST(Reconcile, AKeyTheDataplaneCannotReloadRestartsItAndSaysWhich) {
    const auto before = load(config_text());
    const auto after = load(config_text("  memory_mb: 1024\n  worker_cores: [1]\n"));
    expect_plan("restart_keys", after, as_declared(before));
}

TEST(Reconcile, AGuestAddedStartsAfterTheDataplaneHasItsPort) {
    const auto before = load(config_text("", "[{id: ping, action: allow, proto: icmp}]", false));
    const auto after = load(config_text());
    Observed o = as_declared(before);
    o.facts["db"] = facts();
    expect_plan("guest_added", after, o);
}

TEST(Reconcile, AGuestRemovedStopsBeforeTheDataplaneDropsItsPort) {
    const auto before = load(config_text());
    const auto after = load(config_text("", "[{id: ping, action: allow, proto: icmp}]", false));
    expect_plan("guest_removed", after, as_declared(before));
}

TEST(Reconcile, AGuestWhoseCommandLineChangesIsRestartedAloneWithTheReason) {
    const auto before = load(config_text());
    std::string text = config_text();
    text.replace(text.find("memory_mb: 256"), 14, "memory_mb: 512");
    const auto after = load(text);
    expect_plan("guest_changed", after, as_declared(before));
}

TEST(Reconcile, ACrashedGuestAndAHungDataplaneAreBroughtBack) {
    const auto cfg = load(config_text());
    Observed o = as_declared(cfg);
    o.guests["db"].state = "crashed";
    o.guests["db"].pid = 0;
    o.dataplane.answering = false;
    o.dataplane.problem = "connect /run/vfgate/dataplane.sock: Connection refused (ECONNREFUSED)";
    expect_plan("recover", cfg, o);
}

// A guest that stopped its QEMU without ending it (an io-error on a full disk, a KVM internal
// error): QEMU lives, so no restart policy acts. Planned as a stop and a start, not a start that
// vm::start would refuse ("already running"); and stopped when the config drops it.
TEST(Reconcile, AGuestCrashedInsideALiveQemuIsStoppedAndStartedAgain) {
    const auto cfg = load(config_text());
    Observed o = as_declared(cfg);
    o.guests["db"].state = "crashed";  // pid kept: QEMU still runs
    expect_plan("crashed_alive", cfg, o);

    const auto without_db =
        load(config_text("", "[{id: ping, action: allow, proto: icmp}]", false));
    auto p = reconcile(without_db, o, {kGuestRoot, false});
    ASSERT_TRUE(p.has_value()) << p.error().to_string();
    ASSERT_FALSE(p->steps.empty());
    EXPECT_EQ(p->steps[0].kind, StepKind::kGuestStop) << describe(*p);
    EXPECT_EQ(p->steps[0].target, "db");
}

TEST(Reconcile, AGuestWhoseSupervisorDiedIsAdoptedNotRestarted) {
    const auto cfg = load(config_text());
    Observed o = as_declared(cfg);
    o.guests["db"].supervised = false;
    auto p = reconcile(cfg, o, {kGuestRoot, false});
    ASSERT_TRUE(p.has_value()) << p.error().to_string();
    ASSERT_EQ(p->steps.size(), 1U) << describe(*p);
    EXPECT_EQ(p->steps[0].kind, StepKind::kGuestAdopt);
    EXPECT_EQ(p->steps[0].target, "db");
    EXPECT_EQ(to_json(p->steps[0])["action"], "adopt-guest");
    expect_plan("unsupervised", cfg, o);
}

TEST(Reconcile, ADataplaneStartedByHandIsRestartedOnTheDaemonsConfig) {
    const auto cfg = load(config_text());
    Observed o = as_declared(cfg);
    o.dataplane.config.reset();
    auto p = reconcile(cfg, o, {kGuestRoot, false});
    ASSERT_TRUE(p.has_value());
    ASSERT_EQ(p->steps.size(), 1U);
    EXPECT_EQ(p->steps[0].kind, StepKind::kDataplaneRestart);
    EXPECT_THAT(p->steps[0].reason, HasSubstr("did not give it"));
}

TEST(Reconcile, NoDataplaneSectionStopsARunningDataplane) {
    const auto before = load(config_text());
    auto after = before;
    after.dataplane.reset();
    after.guests.clear();
    expect_plan("no_dataplane", after, as_declared(before));
}

TEST(Reconcile, VfsGoBetweenTheGuestsStopsAndTheDataplane) {
    const std::string text = R"(version: 1
dataplane:
  hugepages: false
  uplinks: [{name: up0, device: "net_null0"}]
pfs:
  - {name: pf0, device: "0000:01:00.0", num_vfs: 2}
guests:
  - name: vnf
    accel: tcg
    memory_mb: 256
    boot: {kernel: /img/vmlinux}
    nics:
      - {name: data0, type: vf, pf: pf0, mac: "52:54:00:00:01:01", vlan: 200}
)";
    const auto cfg = load(text);
    Observed o;
    o.facts["vnf"] = facts();  // its VF is not assigned yet: planned once the VFs are ready
    vfmgr::ObservedPf pf;
    pf.pci = "0000:01:00.0";
    pf.netdev = "enp1s0";
    pf.driver = "igb";
    pf.total_vfs = 7;
    pf.up = true;
    o.vfs.pfs.push_back(pf);
    expect_plan("vfs", cfg, o);
}

// Guests a and b have `vf: auto` NICs on a switchdev PF; vf-manager gave them VFs 0 and 1. With
// a gone from the config, b keeps VF 1 (docs/vf-manager.md), and so does its representor in the
// dataplane: the plan drops a's port and leaves b's, where config order alone would move b to
// VF 0's representor.
TEST(Reconcile, AnAutoVfLeftByAnotherGuestIsNotAChangeOfTheOnesThatStay) {
    const std::string head = R"(version: 1
dataplane:
  hugepages: false
  uplinks: [{name: up0, device: "0000:01:00.1"}]
pfs:
  - {name: pf0, device: "0000:01:00.0", num_vfs: 2, eswitch_mode: switchdev}
guests:
)";
    const std::string a = R"(  - name: a
    nics: [{name: eth0, type: vf, pf: pf0, uplink: up0, mac: "52:54:00:00:00:0a"}]
)";
    const std::string b = R"(  - name: b
    nics: [{name: eth0, type: vf, pf: pf0, uplink: up0, mac: "52:54:00:00:00:0b"}]
)";
    const auto before = load(head + a + b);
    const auto after = load(head + b);
    Observed o;
    o.dataplane = {true, 100, true, "", before};  // the file it was given: both `auto`
    vfmgr::ObservedPf pf;
    pf.pci = "0000:01:00.0";
    pf.netdev = "enp1s0f0";
    pf.driver = "mlx5_core";
    pf.total_vfs = 8;
    pf.num_vfs = 2;
    pf.eswitch_mode = config::EswitchMode::kSwitchdev;
    pf.up = true;
    for (std::uint32_t i = 0; i < 2; ++i) {
        pf.vfs.push_back({i, "0000:01:00." + std::to_string(i + 2), "", "vfio-pci", 12, {}, ""});
    }
    o.vfs.pfs.push_back(pf);
    o.vfs.assignments = {{"0000:01:00.0", 0, "a", "eth0"}, {"0000:01:00.0", 1, "b", "eth0"}};
    auto p = reconcile(after, o, {kGuestRoot, false});
    ASSERT_TRUE(p.has_value()) << p.error().to_string();
    const auto reload = std::find_if(p->steps.begin(), p->steps.end(), [](const Step& s) {
        return s.kind == StepKind::kDataplaneReload;
    });
    ASSERT_NE(reload, p->steps.end()) << describe(*p);
    EXPECT_EQ(reload->details, std::vector<std::string>{"port a/eth0 removed"}) << describe(*p);
    EXPECT_THAT(describe(*p), ::testing::Not(HasSubstr("restart dataplane")));
}

TEST(Reconcile, EveryReasonTheConfigCannotBeReachedIsListed) {
    const auto cfg = load(config_text());
    Observed o = nothing_running(cfg);
    o.facts.erase("db");
    o.fact_errors["db"] = "cannot read /img/vmlinux: Permission denied (EACCES)";
    o.facts["web"].files["/img/initrd.gz"] = {false, "", ""};
    auto p = reconcile(cfg, o, {kGuestRoot, false});
    ASSERT_FALSE(p.has_value());
    EXPECT_THAT(p.error().to_string(), HasSubstr("guest db: cannot read /img/vmlinux"));
    EXPECT_THAT(p.error().to_string(), HasSubstr("/img/initrd.gz"));
}

TEST(Reconcile, ThePlanAsJsonNamesEachActionAndItsTarget) {
    const auto cfg = load(config_text());
    auto p = reconcile(cfg, nothing_running(cfg), {kGuestRoot, false});
    ASSERT_TRUE(p.has_value());
    auto j = to_json(*p);
    EXPECT_TRUE(j["changes"].get<bool>());
    ASSERT_EQ(j["steps"].size(), 3U);
    EXPECT_EQ(j["steps"][0]["action"], "start-dataplane");
    EXPECT_EQ(j["steps"][1]["action"], "start-guest");
    EXPECT_EQ(j["steps"][1]["target"], "web");
    EXPECT_EQ(j["steps"][2]["target"], "db");
}

}  // namespace
}  // namespace vfgate::control
