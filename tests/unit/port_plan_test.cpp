// Which ports and which EAL arguments a config gives the dataplane.

#include "port_plan.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vfgate/config/load.hpp>

namespace vfgate::dataplane {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;

config::Config load(const std::string& path_or_text, bool is_file) {
    auto r = is_file ? config::load_file(std::string(VFGATE_SOURCE_ROOT) + "/" + path_or_text)
                     : config::load_string(path_or_text);
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].to_string());
    return r.ok() ? *r.config : config::Config{};
}

std::optional<std::string> no_netdevs(const std::string&) { return std::nullopt; }

bool has_pair(const std::vector<std::string>& args, const std::string& k, const std::string& v) {
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] == k && args[i + 1] == v) return true;
    }
    return false;
}

TEST(PortPlan, DemoUsesVdevsWithoutHugepages) {
    auto cfg = load("config/examples/demo.yaml", true);
    auto plan = plan_ports(cfg, no_netdevs);
    ASSERT_TRUE(plan);
    ASSERT_EQ(plan->ports.size(), 4u);
    EXPECT_EQ(plan->ports[0].name, "up0");
    EXPECT_EQ(plan->ports[0].role, PortRole::kUplink);
    EXPECT_EQ(plan->ports[1].name, "web/eth0");
    EXPECT_EQ(plan->ports[1].devargs, "net_af_packet1,iface=vfg-web");
    EXPECT_FALSE(plan->ports[1].pci);

    auto eal = plan_eal(cfg, *plan, "info");
    const auto& a = eal.args;
    EXPECT_EQ(a[0], "vfgate-dataplane");
    EXPECT_TRUE(has_pair(a, "-l", "0,1"));
    EXPECT_TRUE(has_pair(a, "--main-lcore", "0"));
    EXPECT_TRUE(has_pair(a, "-m", "256"));
    EXPECT_TRUE(has_pair(a, "--file-prefix", eal.file_prefix));
    EXPECT_THAT(eal.file_prefix, testing::MatchesRegex("vfgate-[0-9a-f]{8}"));
    EXPECT_THAT(a, testing::Contains("--no-huge"));
    EXPECT_THAT(a, testing::Not(testing::Contains("--in-memory")));
    EXPECT_THAT(a, testing::Contains("--no-pci"));
    EXPECT_TRUE(has_pair(a, "--vdev", "net_af_packet0,iface=vfg-up0"));
    EXPECT_TRUE(has_pair(a, "--vdev", "net_af_packet3,iface=vfg-lab"));
}

// Guests a and b with `vf: auto` on a switchdev PF were given VFs 0 and 1; a has left the
// config. b keeps VF 1 (vf-manager's rule, docs/vf-manager.md), so the dataplane must open VF 1's
// representor, not VF 0's as config order alone would give.
TEST(PortPlan, AnAutoVfKeepsTheVfVfManagerGaveIt) {
    const std::string text = R"(version: 1
dataplane:
  uplinks: [{name: up0, device: "0000:3b:00.1"}]
pfs:
  - {name: pf0, device: "0000:3b:00.0", num_vfs: 4, eswitch_mode: switchdev}
guests:
  - name: b
    nics: [{name: eth0, type: vf, pf: pf0, uplink: up0, mac: "52:54:00:00:00:0b"}]
  - name: c
    nics: [{name: eth0, type: vf, pf: pf0, vf: 0, uplink: up0, mac: "52:54:00:00:00:0c"}]
  - name: d
    nics: [{name: eth0, type: vf, pf: pf0, uplink: up0, mac: "52:54:00:00:00:0d"}]
)";
    auto unpinned = load(text, false);
    auto plan = plan_ports(unpinned, no_netdevs);
    ASSERT_TRUE(plan) << plan.error().to_string();
    EXPECT_EQ(plan->ports[1].devargs, "0000:3b:00.0,representor=vf1");  // config order: b, 1

    auto cfg = load(text, false);
    // b had VF 2; a (gone) had VF 1; d was given VF 0, which c now names explicitly; an index
    // past num_vfs is not taken.
    config::pin_auto_vfs(cfg, {{"a", "eth0", 1}, {"b", "eth0", 2}, {"d", "eth0", 0}});
    plan = plan_ports(cfg, no_netdevs);
    ASSERT_TRUE(plan) << plan.error().to_string();
    EXPECT_EQ(plan->ports[1].devargs, "0000:3b:00.0,representor=vf2");  // b: kept
    EXPECT_EQ(plan->ports[2].devargs, "0000:3b:00.0,representor=vf0");  // c: explicit
    EXPECT_EQ(plan->ports[3].devargs, "0000:3b:00.0,representor=vf1");  // d: lowest free
    EXPECT_FALSE(cfg.guests[2].nics[0].vf.has_value());

    auto far = load(text, false);
    config::pin_auto_vfs(far, {{"b", "eth0", 4}});
    EXPECT_FALSE(far.guests[0].nics[0].vf.has_value());  // VF 4 of 4: not taken
}

TEST(PortPlan, NfvHostOpensRepresentorsOnTheAllowList) {
    auto cfg = load("config/examples/nfv-host.yaml", true);
    auto plan = plan_ports(cfg, [](const std::string& dev) -> std::optional<std::string> {
        if (dev == "ens1f1") return "0000:3b:00.1";
        return std::nullopt;
    });
    ASSERT_TRUE(plan) << plan.error().to_string();
    ASSERT_EQ(plan->ports.size(), 6u);                                  // 2 uplinks, 4 representors
    EXPECT_EQ(plan->ports[2].devargs, "0000:3b:00.0,representor=vf0");  // web-a: vf 0
    EXPECT_EQ(plan->ports[3].devargs, "0000:3b:00.1,representor=vf0");  // web-b: auto on pf1
    EXPECT_EQ(plan->ports[4].devargs, "0000:3b:00.0,representor=vf1");  // dns-a: vf 1
    EXPECT_EQ(plan->ports[5].devargs, "0000:3b:00.1,representor=vf1");  // dns-b: next auto
    EXPECT_EQ(plan->ports[0].rx_queues, 2);
    EXPECT_EQ(plan->ports[2].mtu, 9000u);  // its uplink's

    auto eal = plan_eal(cfg, *plan, "debug");
    EXPECT_THAT(eal.args, testing::Contains("--in-memory"));
    EXPECT_THAT(eal.args, testing::Not(testing::Contains("--no-huge")));
    EXPECT_TRUE(has_pair(eal.args, "-a", "0000:3b:00.0,representor=vf[0,1]"));
    EXPECT_TRUE(has_pair(eal.args, "-a", "0000:3b:00.1,representor=vf[0,1]"));
    EXPECT_TRUE(has_pair(eal.args, "-l", "0,1,2"));
    EXPECT_THAT(eal.args, testing::Contains("--log-level=8"));
}

TEST(PortPlan, SwitchdevPfByUnknownNetdevIsAnError) {
    auto cfg = load("config/examples/nfv-host.yaml", true);
    auto plan = plan_ports(cfg, no_netdevs);
    ASSERT_FALSE(plan);
    EXPECT_THAT(plan.error().to_string(),
                HasSubstr("can't find the PCI address of PF pf1 (ens1f1)"));
}

TEST(PortPlan, VhostUserSocketsLiveBesideTheControlSocket) {
    auto cfg = load(R"(version: 1
dataplane:
  worker_cores: [1, 2]
  control_socket: /run/vfgate/x/dp.sock
  eal_args: [--no-telemetry]
  uplinks: [{name: up0, device: "0000:3B:00.0,rxq_cqe_comp_en=0"}]
pfs: [{name: pf0, device: "0000:3b:00.0", num_vfs: 2}]
guests:
  - name: vm1
    nics:
      - {name: eth0, type: vhost-user, mac: "52:54:00:00:00:01"}
      - {name: eth1, type: vf, pf: pf0, mac: "52:54:00:00:00:02"}
)",
                    false);
    auto plan = plan_ports(cfg, no_netdevs);
    ASSERT_TRUE(plan);
    ASSERT_EQ(plan->ports.size(), 2u);
    EXPECT_EQ(plan->ports[1].vhost_socket, "/run/vfgate/x/vhost-vm1-eth0.sock");
    EXPECT_EQ(plan->ports[1].devargs,
              "net_vhost_vm1_eth0,iface=/run/vfgate/x/vhost-vm1-eth0.sock,queues=2");
    ASSERT_EQ(plan->warnings.size(), 1u);
    EXPECT_THAT(plan->warnings[0], HasSubstr("vm1/eth1: a VF of pf0 in legacy eswitch mode is "
                                             "switched by the NIC"));
    auto eal = plan_eal(cfg, *plan, "info");
    EXPECT_TRUE(has_pair(eal.args, "-a", "0000:3b:00.0,rxq_cqe_comp_en=0"));
    EXPECT_EQ(eal.args.back(), "--no-telemetry");  // the user's eal_args come last
    EXPECT_NE(file_prefix(cfg), file_prefix(load("config/examples/demo.yaml", true)));
}

// A VM with one CPU runs main and worker lcores on it: the user's --lcores map replaces -l (EAL
// refuses both), and main_core and worker_cores name lcores of that map.
TEST(PortPlan, AnLcoreMapInEalArgsReplacesTheCoreList) {
    auto cfg = load(R"(version: 1
dataplane:
  hugepages: false
  eal_args: ["--lcores=0@0,1@0"]
  uplinks: [{name: up0, device: "net_null0"}]
)",
                    false);
    auto plan = plan_ports(cfg, no_netdevs);
    ASSERT_TRUE(plan);
    auto eal = plan_eal(cfg, *plan, "info");
    EXPECT_THAT(eal.args, testing::Not(testing::Contains("-l")));
    EXPECT_TRUE(has_pair(eal.args, "--main-lcore", "0"));
    EXPECT_EQ(eal.args.back(), "--lcores=0@0,1@0");
}

}  // namespace
}  // namespace vfgate::dataplane
