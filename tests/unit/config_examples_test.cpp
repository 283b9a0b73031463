// The bundled examples load, and what they declare reads back as written.

#include <gtest/gtest.h>

#include <vfgate/config/describe.hpp>
#include <vfgate/config/load.hpp>
#include <vfgate/config/validate.hpp>

namespace vfgate::config {
namespace {

std::string example(const char* name) {
    return std::string(VFGATE_SOURCE_ROOT) + "/config/examples/" + name;
}

Config must_load(const char* name) {
    auto r = load_file(example(name));
    std::string errs;
    for (const auto& d : r.errors) errs += d.to_string() + "\n";
    EXPECT_TRUE(r.ok()) << errs;
    return r.ok() ? *r.config : Config{};
}

TEST(Examples, DemoIsSoftwareOnly) {
    auto cfg = must_load("demo.yaml");
    ASSERT_TRUE(cfg.dataplane);
    EXPECT_FALSE(cfg.dataplane->hugepages);
    EXPECT_TRUE(cfg.pfs.empty());
    ASSERT_EQ(cfg.guests.size(), 3u);
    for (const auto& g : cfg.guests) {
        EXPECT_FALSE(g.boot) << g.name;
        for (const auto& nic : g.nics) {
            EXPECT_EQ(nic.type, NicType::kDpdk) << g.name;
            EXPECT_TRUE(nic.devargs.starts_with("net_af_packet")) << g.name;
            EXPECT_EQ(nic.uplink, "up0") << "uplink defaults to the first";
        }
    }
    EXPECT_EQ(cfg.guests[2].nics[0].vlan, 200);
    EXPECT_FALSE(cfg.guests[0].nics[0].vlan);
}

TEST(Examples, DemoFirewallReadsBack) {
    auto cfg = must_load("demo.yaml");
    const auto& fw = *cfg.guests[0].nics[0].firewall;
    EXPECT_TRUE(fw.stateful);  // defaults of a present `firewall`
    EXPECT_EQ(fw.ingress_default, Action::kDeny);
    EXPECT_EQ(fw.egress_default, Action::kAllow);
    ASSERT_EQ(fw.ingress.size(), 4u);
    const Rule& http = fw.ingress[1];
    EXPECT_EQ(http.id, "http");
    EXPECT_EQ(http.proto, kProtoTcp);
    EXPECT_EQ(http.dst_ports, (std::vector<PortRange>{{80, 80}, {8000, 8080}}));
    EXPECT_EQ(fw.ingress[0].src, std::vector<Cidr>{*parse_cidr("198.18.10.0/24")});
    EXPECT_EQ(fw.ingress[3].proto, kProtoIcmpv6);
    EXPECT_EQ(fw.ingress[3].icmp_type, 128);
    EXPECT_FALSE(cfg.guests[2].nics[0].firewall) << "no firewall key: not filtered";
}

TEST(Examples, NfvHostReadsBack) {
    auto cfg = must_load("nfv-host.yaml");
    EXPECT_EQ(cfg.host_name, "nfv-host-1");
    ASSERT_EQ(cfg.pfs.size(), 2u);
    EXPECT_EQ(cfg.pfs[0].eswitch_mode, EswitchMode::kSwitchdev);
    EXPECT_EQ(cfg.pfs[1].vf_driver, "vfio-pci");  // default
    ASSERT_EQ(cfg.guests.size(), 4u);
    const Guest& web = cfg.guests[0];
    EXPECT_EQ(web.vcpus, 4);
    EXPECT_EQ(web.cpu_pinning, (std::vector<std::int64_t>{4, 5, 6, 7}));
    EXPECT_EQ(web.accel, Accel::kKvm);
    EXPECT_EQ(web.restart, RestartPolicy::kAlways);
    EXPECT_EQ(web.nics[0].vf, 0);
    EXPECT_EQ(web.nics[0].rate_mbps, 10000);
    EXPECT_EQ(web.nics[0].trust, false);
    EXPECT_FALSE(cfg.guests[1].nics[0].vf) << "vf: auto";
    EXPECT_EQ(cfg.guests[2].boot->kernel, "/var/lib/vfgate/dns/vmlinuz");
    EXPECT_FALSE(cfg.guests[3].boot) << "dns-b is managed elsewhere";
    // YAML anchors: web-b shares web-a's rules.
    EXPECT_EQ(cfg.guests[1].nics[0].firewall, web.nics[0].firewall);
    std::set<std::int64_t> vlans;
    for (const auto& g : cfg.guests) vlans.insert(*g.nics[0].vlan);
    EXPECT_EQ(vlans, (std::set<std::int64_t>{100, 200}));
}

TEST(Examples, SummaryAndDescribe) {
    auto cfg = must_load("nfv-host.yaml");
    EXPECT_EQ(summary_line(cfg), "host nfv-host-1: 2 uplinks, 2 PFs, 4 guests, 4 NICs, 26 rules");
    auto text = describe(cfg);
    EXPECT_NE(text.find("up0 vlan 100: web-a/data0"), std::string::npos) << text;
    EXPECT_NE(text.find("guest dns-b: managed elsewhere"), std::string::npos) << text;
    EXPECT_NE(text.find("ingress ssh-mgmt: allow tcp src 10.0.0.0/8,2001:db8::/48 dst_port 22"),
              std::string::npos)
        << text;
}

TEST(Examples, ValidateIsCleanOnLoadedConfig) {
    for (const char* name : {"demo.yaml", "nfv-host.yaml", "appliance.yaml"}) {
        EXPECT_TRUE(validate(must_load(name)).empty()) << name;
    }
}

}  // namespace
}  // namespace vfgate::config
