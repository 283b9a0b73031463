// What a reload takes (plan_reload): configs from strings, the plan compared whole.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vfgate/config/load.hpp>
#include <vfgate/dataplane/reload_plan.hpp>

namespace vfgate::dataplane {
namespace {

using testing::ElementsAre;
using testing::IsEmpty;

// A host with one uplink, a vhost-user NIC with a firewall, a dpdk NIC, and a VF on a legacy
// PF (switched by the NIC: never the dataplane's). `edit` replaces one line with another.
std::string base() {
    return R"(version: 1
dataplane:
  worker_cores: [1]
  hugepages: false
  control_socket: /run/vfgate/t.sock
  uplinks:
    - {name: up0, device: net_null0}
pfs:
  - {name: pf0, device: "0000:01:00.0", num_vfs: 2}
guests:
  - name: web
    nics:
      - name: eth0
        type: vhost-user
        mac: "02:00:00:00:01:01"
        addresses: [198.18.10.11/24]
        firewall:
          ingress:
            - {id: ssh, action: allow, proto: tcp, dst_port: 22}
      - {name: eth1, type: dpdk, devargs: net_null1, mac: "02:00:00:00:01:02"}
      - {name: vf0, type: vf, pf: pf0, mac: "02:00:00:00:01:03"}
)";
}

std::string edit(std::string text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return text;
}

config::Config load(const std::string& text) {
    auto r = config::load_string(text);
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].to_string());
    return r.ok() ? *r.config : config::Config{};
}

ReloadPlan plan(const std::string& next) { return plan_reload(load(base()), load(next)); }

// The plan as one text, so that a test states all of it.
std::string show(const ReloadPlan& p) {
    auto list = [](const char* what, const std::vector<std::string>& v) {
        std::string s = what;
        for (const auto& x : v) s += " " + x;
        return s + "\n";
    };
    return list("restart:", p.restart_keys) + list("added:", p.added) +
           list("removed:", p.removed) + list("updated:", p.updated) +
           list("firewalls:", p.firewalls_changed) + list("addresses:", p.addresses_changed) +
           "timeouts: " + (p.conntrack_timeouts_changed ? "changed" : "same") + "\n";
}

TEST(ReloadPlan, NoChangeIsEmpty) {
    auto p = plan(base());
    EXPECT_TRUE(p.empty());
    EXPECT_FALSE(p.needs_restart());
    EXPECT_EQ(show(p),
              "restart:\nadded:\nremoved:\nupdated:\nfirewalls:\naddresses:\ntimeouts: same\n");
}

TEST(ReloadPlan, ARuleChangeIsAFirewallChangeOnly) {
    auto p = plan(edit(base(), "dst_port: 22", "dst_port: 2222"));
    EXPECT_FALSE(p.empty());
    EXPECT_FALSE(p.needs_restart());
    EXPECT_EQ(show(p),
              "restart:\nadded:\nremoved:\nupdated:\nfirewalls: web/eth0\naddresses:\n"
              "timeouts: same\n");
}

TEST(ReloadPlan, AFirewallTakenAwayOrADefaultChangedIsAFirewallChange) {
    auto gone = plan(edit(base(), R"(        firewall:
          ingress:
            - {id: ssh, action: allow, proto: tcp, dst_port: 22}
)",
                          ""));
    EXPECT_THAT(gone.firewalls_changed, ElementsAre("web/eth0"));
    EXPECT_THAT(gone.updated, IsEmpty());
    auto deflt = plan(
        edit(base(), "        firewall:\n", "        firewall:\n          egress_default: deny\n"));
    EXPECT_THAT(deflt.firewalls_changed, ElementsAre("web/eth0"));
}

TEST(ReloadPlan, NicsAddedAndRemoved) {
    auto next = edit(
        base(),
        "      - {name: eth1, type: dpdk, devargs: net_null1, mac: \"02:00:00:00:01:02\"}\n", "");
    next +=
        "  - name: db\n    nics:\n      - {name: eth0, type: vhost-user, mac: "
        "\"02:00:00:00:02:01\"}\n";
    EXPECT_EQ(show(plan(next)),
              "restart:\nadded: db/eth0\nremoved: web/eth1\nupdated:\n"
              "firewalls:\naddresses:\ntimeouts: same\n");
}

TEST(ReloadPlan, MacVlanOrDeviceChangesUpdateThePort) {
    auto mac = plan(edit(base(), "02:00:00:00:01:02", "02:00:00:00:01:22"));
    EXPECT_EQ(show(mac),
              "restart:\nadded:\nremoved:\nupdated: web/eth1\nfirewalls:\n"
              "addresses:\ntimeouts: same\n");
    auto vlan = plan(edit(base(), "devargs: net_null1,", "devargs: net_null1, vlan: 100,"));
    EXPECT_THAT(vlan.updated, ElementsAre("web/eth1"));
    auto dev = plan(edit(base(), "devargs: net_null1", "devargs: net_null7"));
    EXPECT_THAT(dev.updated, ElementsAre("web/eth1"));
}

TEST(ReloadPlan, AddressesAreTheirOwnChange) {
    auto p = plan(edit(base(), "198.18.10.11/24", "198.18.10.21/24"));
    EXPECT_EQ(show(p),
              "restart:\nadded:\nremoved:\nupdated:\nfirewalls:\naddresses: web/eth0\n"
              "timeouts: same\n");
}

TEST(ReloadPlan, WorkerCoresNeedARestart) {
    auto p = plan(edit(base(), "worker_cores: [1]", "worker_cores: [1, 2]"));
    EXPECT_TRUE(p.needs_restart());
    EXPECT_EQ(show(p),
              "restart: dataplane.worker_cores\nadded:\nremoved:\nupdated:\nfirewalls:\n"
              "addresses:\ntimeouts: same\n");
}

TEST(ReloadPlan, RestartKeysComeInAFixedOrder) {
    auto next = edit(base(), "hugepages: false", "hugepages: true\n  mbufs: 16384");
    next = edit(next, "worker_cores: [1]", "worker_cores: [2]\n  main_core: 1");
    next = edit(next, "device: net_null0}", "device: net_null0, mtu: 9000}");
    EXPECT_THAT(plan(next).restart_keys,
                ElementsAre("dataplane.main_core", "dataplane.worker_cores", "dataplane.hugepages",
                            "dataplane.uplinks", "dataplane.mbufs"));
    EXPECT_THAT(plan(next).updated, ElementsAre("up0"));
}

TEST(ReloadPlan, ConntrackTimeoutsChangeLiveItsCapacityNeedsARestart) {
    auto timeouts = plan(edit(base(), "  hugepages: false\n",
                              "  hugepages: false\n  conntrack: {timeouts: {udp: 5}}\n"));
    EXPECT_EQ(show(timeouts),
              "restart:\nadded:\nremoved:\nupdated:\nfirewalls:\naddresses:\n"
              "timeouts: changed\n");
    auto capacity = plan(edit(base(), "  hugepages: false\n",
                              "  hugepages: false\n  conntrack: {capacity: 1024}\n"));
    EXPECT_THAT(capacity.restart_keys, ElementsAre("dataplane.conntrack.capacity"));
    EXPECT_FALSE(capacity.conntrack_timeouts_changed);
    auto cache =
        plan(edit(base(), "  hugepages: false\n", "  hugepages: false\n  verdict_cache: 0\n"));
    EXPECT_THAT(cache.restart_keys, ElementsAre("dataplane.verdict_cache"));
}

TEST(ReloadPlan, AVfTheNicSwitchesIsNotTheDataplanes) {
    auto legacy = plan(edit(base(), "02:00:00:00:01:03", "02:00:00:00:01:33"));
    EXPECT_TRUE(legacy.empty()) << show(legacy);
    // In switchdev mode the dataplane switches it through its representor: a port that comes.
    auto switchdev = plan(edit(base(), "num_vfs: 2}", "num_vfs: 2, eswitch_mode: switchdev}"));
    EXPECT_THAT(switchdev.added, ElementsAre("web/vf0"));
}

TEST(ReloadPlan, ADataplaneSectionGivenOrTakenNeedsARestart) {
    config::Config none = load(base());
    none.dataplane.reset();
    EXPECT_THAT(plan_reload(load(base()), none).restart_keys, ElementsAre("dataplane"));
}

}  // namespace
}  // namespace vfgate::dataplane
