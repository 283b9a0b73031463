// vf-manager's planner against hand-written observations of a host; plans are compared with
// golden files in tests/unit/golden/vf_plan/ (VFGATE_UPDATE_GOLDEN=1 rewrites them).
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vfgate/config/load.hpp>
#include <vfgate/vfmgr/plan.hpp>

#include "../common/golden.hpp"

namespace vfgate::vfmgr {
namespace {

using ::testing::HasSubstr;

const std::string kGoldenDir = std::string(VFGATE_SOURCE_ROOT) + "/tests/unit/golden/vf_plan/";

// A config with one PF of 4 VFs and two guests' VF NICs: web/eth0 on VF 2, db/eth0 auto.
std::string config_text(int num_vfs = 4, const std::string& extra_nic = "") {
    return R"(version: 1
pfs:
  - {name: pf0, device: "0000:01:00.0", num_vfs: )" +
           std::to_string(num_vfs) + R"(}
guests:
  - name: web
    nics:
      - {name: eth0, type: vf, pf: pf0, vf: 2, mac: "52:54:00:00:01:01", vlan: 100, rate_mbps: 100}
  - name: db
    nics:
      - {name: eth0, type: vf, pf: pf0, vf: auto, mac: "52:54:00:00:02:01", trust: true}
)" + extra_nic;
}

Desired desired(const std::string& text) {
    config::LoadResult r = config::load_string(text, "test.yaml");
    if (!r.ok()) {
        for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
        return {};
    }
    return desired_from_config(*r.config);
}

ObservedPf fresh_pf() {
    ObservedPf pf;
    pf.pci = "0000:01:00.0";
    pf.netdev = "enp1s0";
    pf.driver = "igb";
    pf.total_vfs = 7;
    return pf;
}

// The PF after the first config was applied.
Observed applied() {
    Observed o;
    ObservedPf pf = fresh_pf();
    pf.num_vfs = 4;
    pf.up = true;
    pf.carrier = true;
    for (std::uint32_t i = 0; i < 4; ++i) {
        ObservedVf vf;
        vf.index = i;
        vf.pci = "0000:01:10." + std::to_string(2 * i);
        vf.attrs = kScrubbed;
        pf.vfs.push_back(vf);
    }
    pf.vfs[2].driver = "vfio-pci";
    pf.vfs[2].attrs->mac = *parse_mac("52:54:00:00:01:01");
    pf.vfs[2].attrs->vlan.vlan = 100;
    pf.vfs[2].attrs->max_tx_rate_mbps = 100;
    pf.vfs[0].driver = "vfio-pci";
    pf.vfs[0].attrs->mac = *parse_mac("52:54:00:00:02:01");
    pf.vfs[0].attrs->trust = true;
    o.pfs.push_back(pf);
    o.assignments = {{"0000:01:00.0", 2, "web", "eth0"}, {"0000:01:00.0", 0, "db", "eth0"}};
    return o;
}

std::string render(const Plan& p) {
    std::ostringstream out;
    for (const Action& a : p.actions) out << describe(a) << "\n";
    for (const std::string& n : p.notes) out << "note: " << n << "\n";
    for (const Assignment& a : p.assignments) {
        out << "assign: " << a.pf_pci << " vf " << a.vf << " -> " << a.guest << "/" << a.nic
            << "\n";
    }
    return out.str();
}

void expect_golden(const std::string& name, const std::string& text) {
    vfgate::testing::expect_golden(kGoldenDir + name + ".txt", text);
}

TEST(VfPlan, FreshPfIsBroughtUpThenVfsCreatedConfiguredAndBound) {
    Observed o;
    o.pfs.push_back(fresh_pf());
    auto p = plan(desired(config_text()), o, {});
    ASSERT_TRUE(p) << p.error().to_string();
    expect_golden("fresh", render(*p));
    // The order real drivers need: PF up, autoprobe off before VFs exist, MACs before binding.
    ASSERT_GE(p->actions.size(), 4U);
    EXPECT_EQ(p->actions[0].kind, ActionKind::kPfUp);
    EXPECT_EQ(p->actions[1].kind, ActionKind::kAutoprobe);
    EXPECT_EQ(p->actions[2].kind, ActionKind::kNumVfs);
    EXPECT_EQ(p->actions.back().kind, ActionKind::kAutoprobe);
}

TEST(VfPlan, AppliedStateNeedsNothing) {
    auto p = plan(desired(config_text()), applied(), {});
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_TRUE(p->actions.empty());
    expect_golden("idempotent", render(*p));
}

TEST(VfPlan, FewerVfsAndChangedAttributes) {
    std::string text = config_text(3);
    text.replace(text.find("vlan: 100"), 9, "vlan: 200");
    text.replace(text.find("vf: 2,"), 6, "vf: 1,");
    auto p = plan(desired(text), applied(), {});
    ASSERT_TRUE(p) << p.error().to_string();
    expect_golden("shrink", render(*p));
}

TEST(VfPlan, AVfCountChangeKnowsHowToRestoreTheVfsItRecreates) {
    auto p = plan(desired(config_text(3)), applied(), {});
    ASSERT_TRUE(p) << p.error().to_string();
    const Action& count = p->actions[1];
    ASSERT_EQ(count.kind, ActionKind::kNumVfs);
    std::string restore;
    for (const Action& a : count.restore) restore += describe(a) + "\n";
    EXPECT_EQ(restore,
              "pf0 0000:01:00.0 vf 0: mac 00:00:00:00:00:00 -> 52:54:00:00:02:01\n"
              "pf0 0000:01:00.0 vf 0: trust off -> on\n"
              "pf0 0000:01:00.0 vf 0: driver (none) -> vfio-pci\n"
              "pf0 0000:01:00.0 vf 2: mac 00:00:00:00:00:00 -> 52:54:00:00:01:01\n"
              "pf0 0000:01:00.0 vf 2: vlan none -> 100\n"
              "pf0 0000:01:00.0 vf 2: max_tx_rate unlimited -> 100 Mb/s\n"
              "pf0 0000:01:00.0 vf 2: driver (none) -> vfio-pci\n");
}

TEST(VfPlan, AttributeChangeWithoutRecreatingVfs) {
    std::string text = config_text();
    text.replace(text.find("rate_mbps: 100"), 14, "rate_mbps: 500");
    auto p = plan(desired(text), applied(), {});
    ASSERT_TRUE(p) << p.error().to_string();
    ASSERT_EQ(p->actions.size(), 1U);
    EXPECT_EQ(describe(p->actions[0]), "pf0 0000:01:00.0 vf 2: max_tx_rate 100 Mb/s -> 500 Mb/s");
}

TEST(VfPlan, AutoVfKeepsItsEarlierIndex) {
    Observed o = applied();
    o.assignments[1].vf = 3;  // db was given VF 3 last time
    o.pfs[0].vfs[3].attrs = o.pfs[0].vfs[0].attrs;
    o.pfs[0].vfs[3].driver = "vfio-pci";
    o.pfs[0].vfs[0].attrs = kScrubbed;
    o.pfs[0].vfs[0].driver.clear();
    auto p = plan(desired(config_text()), o, {});
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_TRUE(p->actions.empty()) << render(*p);
    EXPECT_THAT(render(*p), HasSubstr("vf 3 -> db/eth0"));
}

TEST(VfPlan, VfOfARemovedNicIsScrubbed) {
    std::string text = config_text();
    text = text.substr(0, text.find("  - name: db"));
    auto p = plan(desired(text), applied(), {});
    ASSERT_TRUE(p) << p.error().to_string();
    expect_golden("nic_removed", render(*p));
}

TEST(VfPlan, RefusesToChangeNumVfsWhileAGuestHoldsAVf) {
    Observed o = applied();
    o.pfs[0].vfs[2].holder = "qemu-system-x86 (pid 4242)";
    auto p = plan(desired(config_text(3)), o, {});
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().kind(), ErrorKind::kConflict);
    EXPECT_THAT(p.error().to_string(),
                HasSubstr("can't change num_vfs from 4 to 3 while VFs are held (VF 2 by "
                          "qemu-system-x86 (pid 4242)); stop those guests first"));
    // Attribute changes don't recreate VFs: allowed while held.
    std::string text = config_text();
    text.replace(text.find("rate_mbps: 100"), 14, "rate_mbps: 500");
    EXPECT_TRUE(plan(desired(text), o, {}));
}

TEST(VfPlan, RefusesAPfTheHostDependsOnUnlessForced) {
    Observed o;
    o.pfs.push_back(fresh_pf());
    o.pfs[0].host_uses = {"carries the default route"};
    auto p = plan(desired(config_text()), o, {});
    ASSERT_FALSE(p);
    EXPECT_THAT(p.error().to_string(),
                HasSubstr("pf0 (0000:01:00.0, enp1s0): the host depends on it (carries the "
                          "default route); refusing to change it (--force to do it anyway)"));
    EXPECT_TRUE(plan(desired(config_text()), o, {.force = true}));
    // Nothing to change: no refusal either.
    Observed done = applied();
    done.pfs[0].host_uses = {"has address 192.0.2.10/24"};
    EXPECT_TRUE(plan(desired(config_text()), done, {}));
}

TEST(VfPlan, UnknownPfNamesWhatWasFound) {
    Observed o;
    o.pfs.push_back(fresh_pf());
    o.pfs[0].pci = "0000:02:00.0";
    auto p = plan(desired(config_text()), o, {});
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().kind(), ErrorKind::kNotFound);
    EXPECT_EQ(p.error().to_string(),
              "no SR-IOV PF on this host for pf0 (0000:01:00.0); found: 0000:02:00.0 (enp1s0)");
}

TEST(VfPlan, EveryMissingPfIsNamed) {
    std::string text = config_text();
    text.replace(text.find("guests:"), 7,
                 "  - {name: pf1, device: \"0000:03:00.0\", num_vfs: 1}\n"
                 "  - {name: pf2, device: ens9, num_vfs: 1}\nguests:");
    Observed o;
    o.pfs.push_back(fresh_pf());
    o.pfs[0].pci = "0000:02:00.0";
    auto p = plan(desired(text), o, {});
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().kind(), ErrorKind::kNotFound);
    EXPECT_EQ(p.error().to_string(),
              "no SR-IOV PF on this host for pf0 (0000:01:00.0), pf1 (0000:03:00.0), pf2 (ens9); "
              "found: 0000:02:00.0 (enp1s0)");
}

// The message goes to a terminal: a PF device from the config, or a netdev name from the host,
// can't move the cursor or clear the screen there.
TEST(VfPlan, MissingPfMessageEscapesControlCharacters) {
    std::string text = config_text();
    text.replace(text.find("\"0000:01:00.0\""), 14, "\"eth\\e[2J\"");
    Observed o;
    o.pfs.push_back(fresh_pf());
    o.pfs[0].pci = "0000:02:00.0";
    o.pfs[0].netdev = "en\x1b]0;x\x07";
    auto p = plan(desired(text), o, {});
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().to_string(),
              "no SR-IOV PF on this host for pf0 (eth\\x1b[2J); found: 0000:02:00.0 "
              "(en\\x1b]0;x\\x07)");
}

TEST(VfPlan, ANicsDriverOverridesThePfs) {
    std::string text = config_text();
    text.replace(text.find("trust: true"), 11, "trust: true, driver: igbvf");
    Observed o;
    o.pfs.push_back(fresh_pf());
    auto p = plan(desired(text), o, {});
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_THAT(render(*p), HasSubstr("vf 0: driver (none) -> igbvf\n"));
    EXPECT_THAT(render(*p), HasSubstr("vf 2: driver (none) -> vfio-pci\n"));
}

TEST(VfPlan, EswitchModeChangesBeforeVfsAreCreated) {
    std::string text = config_text();
    text.replace(text.find("num_vfs: 4"), 10, "num_vfs: 4, eswitch_mode: switchdev");
    text = "dataplane: {uplinks: [{name: up0, device: \"net_null0\"}]}\n" + text;
    Observed o;
    o.pfs.push_back(fresh_pf());  // devlink silent: taken as legacy
    auto p = plan(desired(text), o, {});
    ASSERT_TRUE(p) << p.error().to_string();
    ASSERT_GE(p->actions.size(), 3U);
    EXPECT_EQ(describe(p->actions[1]), "pf0 0000:01:00.0: eswitch mode legacy -> switchdev");
    EXPECT_EQ(p->actions[3].kind, ActionKind::kNumVfs);
    o.pfs[0].eswitch_mode = config::EswitchMode::kSwitchdev;
    auto same = plan(desired(text), o, {});
    ASSERT_TRUE(same);
    EXPECT_THAT(render(*same), ::testing::Not(HasSubstr("eswitch")));
}

TEST(VfPlan, PfFoundByNetdevName) {
    Observed o;
    o.pfs.push_back(fresh_pf());
    std::string text = config_text();
    text.replace(text.find("\"0000:01:00.0\""), 14, "enp1s0");
    EXPECT_TRUE(plan(desired(text), o, {}));
}

TEST(VfPlan, MoreVfsThanTheDeviceHas) {
    Observed o;
    o.pfs.push_back(fresh_pf());
    auto p = plan(desired(config_text(8)), o, {});
    ASSERT_FALSE(p);
    EXPECT_THAT(p.error().to_string(),
                HasSubstr("num_vfs 8 is more than the device supports (sriov_totalvfs 7)"));
}

TEST(VfPlan, NoFreeVfForAnAutoNic) {
    // The config validator rules this out; the planner still refuses it on its own.
    Desired d = desired(config_text(2).replace(config_text(2).find("vf: 2,"), 6, "vf: 1,"));
    ASSERT_EQ(d.size(), 1U);
    d[0].vfs.push_back(DesiredVf{"cache", "eth0", {}, kScrubbed, ""});
    Observed o;
    o.pfs.push_back(fresh_pf());
    auto p = plan(d, o, {});
    ASSERT_FALSE(p);
    EXPECT_THAT(p.error().to_string(), HasSubstr("pf0: no free VF for cache/eth0 (num_vfs 2)"));
}

TEST(VfPlanRelease, ScrubsTheGuestsVfsAndForgetsThem) {
    auto p = plan_release("web", applied());
    ASSERT_TRUE(p) << p.error().to_string();
    expect_golden("release", render(*p));
}

TEST(VfPlanRelease, RefusesWhileTheGuestRuns) {
    Observed o = applied();
    o.pfs[0].vfs[2].holder = "qemu-system-x86 (pid 7)";
    auto p = plan_release("web", o);
    ASSERT_FALSE(p);
    EXPECT_THAT(p.error().to_string(), HasSubstr("stop the guest before releasing it"));
}

TEST(VfPlanRelease, UnknownGuest) {
    auto p = plan_release("nobody", applied());
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().kind(), ErrorKind::kNotFound);
    EXPECT_THAT(p.error().to_string(), HasSubstr("guest nobody holds no VF"));
}

}  // namespace
}  // namespace vfgate::vfmgr
