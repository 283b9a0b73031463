// One broken config per check: each must be rejected with exactly one error, at the exact key
// path and line, saying what was found and what was expected.

#include <cstring>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vfgate/config/load.hpp>

namespace vfgate::config {
namespace {

// A valid config; every case below changes one thing. Line numbers are in the comments.
constexpr const char* kBase = R"(version: 1
host: {name: h1}
dataplane:
  main_core: 0
  worker_cores: [1]
  hugepages: false
  control_socket: /run/vfgate/t.sock
  uplinks:
    - {name: up0, device: "net_null0", rx_queues: 1, mtu: 1500}
    - {name: up1, device: "net_null1"}
pfs:
  - {name: pf0, device: "0000:3b:00.0", num_vfs: 4}
guests:
  - name: g1
    vcpus: 2
    memory_mb: 1024
    cpu_pinning: [2, 3]
    boot: {image: /var/lib/g1.qcow2}
    nics:
      - name: vf0
        type: vf
        pf: pf0
        vf: 0
        mac: "52:54:00:00:00:01"
        vlan: 100
        rate_mbps: 1000
      - name: vh0
        type: vhost-user
        mac: "52:54:00:00:00:02"
        addresses: [10.0.0.2/24]
        firewall:
          ingress:
            - {id: web, action: allow, proto: tcp, dst_port: 80}
          egress:
            - {action: deny, proto: icmp, icmp_type: 8}
  - name: g2
    nics:
      - {name: d0, type: dpdk, devargs: "net_ring0", mac: "52:54:00:00:00:03"}
)";
// Lines: 5 worker_cores, 14 g1, 18 boot, 20 vf0, 24 vf0 mac, 25 vlan, 27 vh0, 29 vh0 mac,
// 30 addresses, 33 ingress[0], 35 egress[0], 36 g2, 38 d0.

struct Case {
    const char* name;
    const char* from;  // replaced once in kBase; "" means `to` is the whole file
    const char* to;
    int line;
    const char* path;
    const char* message;  // a substring of the message
};

const Case kCases[] = {
    // Structure: version, unknown and duplicate keys, types, required keys, YAML itself.
    {"version_missing", "version: 1\n", "", 1, "version", "found no 'version'"},
    {"version_2", "version: 1", "version: 2", 1, "version",
     "found 2; expected version from 1 to 1"},
    {"unknown_top_key", "host: {name: h1}", "hots: {name: h1}", 2, "hots",
     "unknown key 'hots' (did you mean 'host'?)"},
    {"metrics_address", "host: {name: h1}", "host: {name: h1, metrics: \"localhost:9477\"}", 2,
     "host.metrics", "expected IPV4:PORT (127.0.0.1:9477) or none"},
    {"metrics_port", "host: {name: h1}", "host: {name: h1, metrics: \"127.0.0.1:70000\"}", 2,
     "host.metrics", "expected IPV4:PORT"},
    {"unknown_nested_key", "vlan: 100", "vlna: 100", 25, "guests[0].nics[0].vlna",
     "did you mean 'vlan'?"},
    {"duplicate_key", "        vlan: 100\n", "        vlan: 100\n        vlan: 101\n", 26,
     "guests[0].nics[0].vlan", "a second time (first on line 25)"},
    {"list_for_int", "memory_mb: 1024", "memory_mb: [1]", 16, "guests[0].memory_mb",
     "found a list; expected an integer"},
    {"quoted_int", "vlan: 100", "vlan: \"100\"", 25, "guests[0].nics[0].vlan",
     "found \"100\"; expected an integer, without quotes"},
    {"octal_looking_int", "vlan: 100", "vlan: 0100", 25, "guests[0].nics[0].vlan",
     "no leading zeros"},
    {"bool_yes", "hugepages: false", "hugepages: yes", 6, "dataplane.hugepages",
     "found yes; expected true or false"},
    {"bad_enum", "type: vhost-user", "type: virtio", 28, "guests[0].nics[1].type",
     "expected one of vf, vhost-user, dpdk"},
    {"required_mac", "        mac: \"52:54:00:00:00:02\"\n", "", 27, "guests[0].nics[1].mac",
     "found no 'mac'"},
    {"required_action", "{id: web, action: allow,", "{id: web,", 33,
     "guests[0].nics[1].firewall.ingress[0].action", "found no 'action'"},
    {"required_num_vfs", ", num_vfs: 4}", "}", 12, "pfs[0].num_vfs", "found no 'num_vfs'"},
    {"empty_cidr_list", "addresses: [10.0.0.2/24]", "addresses: []", 30,
     "guests[0].nics[1].addresses", "found a list; expected an address"},
    {"syntax_error", "worker_cores: [1]", "worker_cores: [1", 6, "", "found invalid YAML"},
    {"two_documents", "", "version: 1\n---\nversion: 1\n", 3, "", "a second YAML document"},
    {"empty_file", "", "", 1, "", "found an empty document"},
    // yaml-cpp 0.7's LoadAll loops forever, allocating, on this; we must not.
    {"stray_comma", "", ",\nversion: 1\n", 1, "", "found a token that can't start a value"},
    {"root_not_mapping", "", "- version: 1\n", 1, "", "found a list; expected a mapping"},

    // Unique names.
    {"duplicate_guest", "  - name: g2", "  - name: g1", 36, "guests[1].name",
     "already the name of guests[0].name"},
    {"duplicate_nic", "      - name: vh0", "      - name: vf0", 27, "guests[0].nics[1].name",
     "expected a unique NIC name"},
    {"duplicate_uplink", "{name: up1,", "{name: up0,", 10, "dataplane.uplinks[1].name",
     "expected a unique uplink name"},
    {"duplicate_pf", "num_vfs: 4}", "num_vfs: 4}\n  - {name: pf0, device: ens9, num_vfs: 1}", 13,
     "pfs[1].name", "expected a unique PF name"},
    {"bad_name", "  - name: g2", "  - name: \"g 2\"", 36, "guests[1].name",
     "expected a name of 1-32 letters"},

    // MACs.
    {"mac_malformed", "\"52:54:00:00:00:02\"", "\"52:54:00:00:02\"", 29, "guests[0].nics[1].mac",
     "expected a MAC address"},
    {"mac_multicast", "\"52:54:00:00:00:02\"", "\"01:00:5e:00:00:01\"", 29, "guests[0].nics[1].mac",
     "a multicast address; expected a unicast MAC"},
    {"mac_zero", "\"52:54:00:00:00:02\"", "\"00:00:00:00:00:00\"", 29, "guests[0].nics[1].mac",
     "expected a non-zero unicast MAC"},
    {"mac_duplicate", "mac: \"52:54:00:00:00:03\"", "mac: \"52:54:00:00:00:01\"", 38,
     "guests[1].nics[0].mac", "already the MAC of guests[0].nics[0].mac"},

    // VLANs.
    {"vlan_zero", "vlan: 100", "vlan: 0", 25, "guests[0].nics[0].vlan",
     "found 0; expected a VLAN id from 1 to 4094"},
    {"vlan_4095", "vlan: 100", "vlan: 4095", 25, "guests[0].nics[0].vlan", "from 1 to 4094"},

    // CIDRs (rules reject host bits; interface addresses keep them).
    {"cidr_malformed", "[10.0.0.2/24]", "[10.0.0.300/24]", 30, "guests[0].nics[1].addresses[0]",
     "found 10.0.0.300/24; expected an address with prefix"},
    {"cidr_bad_prefix", "[10.0.0.2/24]", "[10.0.0.2/40]", 30, "guests[0].nics[1].addresses[0]",
     "prefix length must be 0-32"},
    {"cidr_host_bits", "{id: web, action: allow, proto: tcp,",
     "{id: web, action: allow, proto: tcp, src: 10.1.0.0/8,", 33,
     "guests[0].nics[1].firewall.ingress[0].src",
     "has host bits set; expected a network address "
     "such as 10.0.0.0/8"},
    {"address_unusable", "[10.0.0.2/24]", "[224.0.0.1/24]", 30, "guests[0].nics[1].addresses[0]",
     "expected a unicast host address"},
    {"address_duplicate_in_domain", "mac: \"52:54:00:00:00:03\"}",
     "mac: \"52:54:00:00:00:03\", addresses: [10.0.0.2/24]}", 38, "guests[1].nics[0].addresses[0]",
     "already the address of guests[0].nics[1].addresses[0]"},

    // Ports and protocols.
    {"port_too_big", "dst_port: 80}", "dst_port: 70000}", 33,
     "guests[0].nics[1].firewall.ingress[0].dst_port", "found port 70000; expected ports from 0"},
    {"port_range_reversed", "dst_port: 80}", "dst_port: \"90-80\"}", 33,
     "guests[0].nics[1].firewall.ingress[0].dst_port", "expected the low port first (80-90)"},
    {"port_garbage", "dst_port: 80}", "dst_port: \"80-\"}", 33,
     "guests[0].nics[1].firewall.ingress[0].dst_port", "expected a port, a range"},
    {"ports_with_icmp", "icmp_type: 8}", "icmp_type: 8, dst_port: 80}", 35,
     "guests[0].nics[1].firewall.egress[0].dst_port", "expected ports only with proto tcp or udp"},
    {"ports_without_proto", "proto: tcp, dst_port: 80", "dst_port: 80", 33,
     "guests[0].nics[1].firewall.ingress[0].dst_port", "found ports with no proto (any)"},
    {"icmp_type_with_tcp", "dst_port: 80}", "dst_port: 80, icmp_type: 3}", 33,
     "guests[0].nics[1].firewall.ingress[0].icmp_type", "expected it only with proto icmp"},
    {"conntrack_timeout_zero", "  hugepages: false\n",
     "  hugepages: false\n  conntrack: {timeouts: {udp: 0}}\n", 7,
     "dataplane.conntrack.timeouts.udp", "found 0; expected seconds from 1 to 2592000"},
    {"conntrack_denied_negative", "  hugepages: false\n",
     "  hugepages: false\n  conntrack: {timeouts: {denied: -1}}\n", 7,
     "dataplane.conntrack.timeouts.denied", "found -1; expected seconds from 0 to 2592000"},
    {"verdict_cache_small", "  hugepages: false\n", "  hugepages: false\n  verdict_cache: 100\n", 7,
     "dataplane.verdict_cache",
     "found 100; expected an entry count (or 0, for none) from 1024 to 67108864"},
    {"conntrack_capacity_negative", "  hugepages: false\n",
     "  hugepages: false\n  conntrack: {capacity: -1}\n", 7, "dataplane.conntrack.capacity",
     "found -1; expected an entry count from 1024 to 67108864"},
    {"conntrack_capacity_absurd", "  hugepages: false\n",
     "  hugepages: false\n  conntrack: {capacity: 1099511627776}\n", 7,
     "dataplane.conntrack.capacity",
     "found 1099511627776; expected an entry count from 1024 to 67108864"},
    {"conntrack_timeout_absurd", "  hugepages: false\n",
     "  hugepages: false\n  conntrack: {timeouts: {tcp_established: 31536000000}}\n", 7,
     "dataplane.conntrack.timeouts.tcp_established",
     "found 31536000000; expected seconds from 1 to 2592000"},
    {"conntrack_timeout_negative", "  hugepages: false\n",
     "  hugepages: false\n  conntrack: {timeouts: {tcp_syn: -30}}\n", 7,
     "dataplane.conntrack.timeouts.tcp_syn", "found -30; expected seconds from 1 to 2592000"},
    {"conntrack_denied_absurd", "  hugepages: false\n",
     "  hugepages: false\n  conntrack: {timeouts: {denied: 9999999999}}\n", 7,
     "dataplane.conntrack.timeouts.denied", "found 9999999999; expected seconds from 0 to 2592000"},
    {"icmp_code_range", "icmp_type: 8}", "icmp_type: 8, icmp_code: 256}", 35,
     "guests[0].nics[1].firewall.egress[0].icmp_code", "found 256; expected ICMP code from 0"},
    {"proto_unknown", "proto: tcp", "proto: tcpx", 33,
     "guests[0].nics[1].firewall.ingress[0].proto", "expected any, tcp, udp, icmp, icmpv6"},
    {"proto_number_range", "proto: icmp,", "proto: 300,", 35,
     "guests[0].nics[1].firewall.egress[0].proto", "found 300; expected IP protocol from 0 to 255"},
    {"rule_families_disjoint", "proto: tcp, dst_port: 80}",
     "proto: tcp, src: 10.0.0.0/8, dst: \"fd00::/8\", dst_port: 80}", 33,
     "guests[0].nics[1].firewall.ingress[0]", "src and dst of different IP versions"},
    {"icmp_with_v6", "{action: deny, proto: icmp,",
     "{action: deny, proto: icmp, dst: \"fd00::/8\",", 35, "guests[0].nics[1].firewall.egress[0]",
     "found proto icmp with only IPv6 CIDRs"},
    {"rule_id_duplicate", "{action: deny,", "{id: web, action: deny,", 35,
     "guests[0].nics[1].firewall.egress[0].id", "found 'web' a second time"},

    // References.
    {"pf_unknown", "pf: pf0", "pf: pf9", 22, "guests[0].nics[0].pf",
     "found 'pf9'; expected the name of a PF in pfs (pf0)"},
    {"uplink_unknown", "        type: vhost-user\n",
     "        type: vhost-user\n        uplink: up9\n", 29, "guests[0].nics[1].uplink",
     "expected the name of an uplink in dataplane.uplinks (up0, up1)"},
    {"no_uplink_for_switched_nic", "", R"(version: 1
guests:
  - name: g
    nics:
      - {name: n, type: vhost-user, mac: "52:54:00:00:00:09"}
)",
     5, "guests[0].nics[0]", "no uplink; expected dataplane.uplinks to declare"},
    // Two vhost-user NICs whose DPDK device would be one: net_vhost_a_b_c.
    {"vhost_device_shared", "", R"(version: 1
dataplane:
  uplinks: [{name: up0, device: net_null0}]
guests:
  - name: a_b
    nics: [{name: c, type: vhost-user, mac: "52:54:00:00:00:01"}]
  - name: a
    nics: [{name: b_c, type: vhost-user, mac: "52:54:00:00:00:02"}]
)",
     8, "guests[1].nics[0].name",
     "whose vhost-user device net_vhost_a_b_c is already that of guests[0].nics[0].name"},
    // ... or whose socket would be one: vhost-a-b-c.sock.
    {"vhost_socket_shared", "", R"(version: 1
dataplane:
  uplinks: [{name: up0, device: net_null0}]
guests:
  - name: a-b
    nics: [{name: c, type: vhost-user, mac: "52:54:00:00:00:01"}]
  - name: a
    nics: [{name: b-c, type: vhost-user, mac: "52:54:00:00:00:02"}]
)",
     8, "guests[1].nics[0].name", "vhost-a-b-c.sock is already that of guests[0].nics[0].name"},

    // Sockets under a long run directory (93 bytes here): past a Unix socket address's 107.
    {"vhost_socket_too_long", "", R"(version: 1
dataplane:
  control_socket: /run/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/dp.sock
  uplinks: [{name: up0, device: net_null0}]
guests:
  - name: web
    nics: [{name: eth0, type: vhost-user, mac: "52:54:00:00:00:01"}]
)",
     7, "guests[0].nics[0].name", "vhost-web-eth0.sock is 113 bytes; expected at most 107"},
    {"guest_socket_too_long", "", R"(version: 1
dataplane:
  control_socket: /run/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/dp.sock
  uplinks: [{name: up0, device: net_null0}]
guests:
  - name: web
    boot: {kernel: /img/vmlinux}
    nics: []
)",
     6, "guests[0].name", "/guests/web/serial.sock is 116 bytes; expected at most 107"},
    // Cores.
    {"worker_is_main", "worker_cores: [1]", "worker_cores: [0]", 5, "dataplane.worker_cores[0]",
     "the main core; expected worker cores other than main_core"},
    {"worker_duplicate", "worker_cores: [1]", "worker_cores: [1, 1]", 5,
     "dataplane.worker_cores[1]", "found core 1 twice"},
    {"worker_empty", "worker_cores: [1]", "worker_cores: []", 5, "dataplane.worker_cores",
     "found an empty list; expected at least one core"},
    {"pinning_length", "cpu_pinning: [2, 3]", "cpu_pinning: [2]", 17, "guests[0].cpu_pinning",
     "found 1 cores for 2 vCPUs; expected one core per vCPU"},
    {"pinning_on_worker", "cpu_pinning: [2, 3]", "cpu_pinning: [2, 1]", 17,
     "guests[0].cpu_pinning[1]", "a dataplane worker core"},

    // VFs.
    {"vf_index_too_big", "vf: 0", "vf: 4", 23, "guests[0].nics[0].vf",
     "found VF 4; expected an index below num_vfs of 'pf0' (4) or auto"},
    {"vf_index_twice", "{name: d0, type: dpdk, devargs: \"net_ring0\",",
     "{name: d0, type: vf, pf: pf0, vf: 0,", 38, "guests[1].nics[0].vf",
     "already given to guests[0].nics[0].vf"},
    {"vf_more_nics_than_vfs", "", R"(version: 1
pfs:
  - {name: pf0, device: ens1f0, num_vfs: 1}
guests:
  - name: g
    nics:
      - {name: a, type: vf, pf: pf0, mac: "52:54:00:00:00:01"}
      - {name: b, type: vf, pf: pf0, mac: "52:54:00:00:00:02"}
)",
     8, "guests[0].nics[1]", "found 2 NICs on PF 'pf0'; expected at most its num_vfs (1, pfs[0])"},
    {"vf_without_pf", "        pf: pf0\n", "", 20, "guests[0].nics[0].pf", "found no pf"},

    // Boot and VM settings.
    {"two_boot_methods", "{image: /var/lib/g1.qcow2}",
     "{image: /var/lib/g1.qcow2, kernel: /boot/vmlinuz}", 18, "guests[0].boot",
     "found both image and kernel; expected one boot method"},
    {"boot_relative_path", "{image: /var/lib/g1.qcow2}", "{image: g1.qcow2}", 18,
     "guests[0].boot.image", "expected an absolute path"},
    {"vm_keys_without_boot", "  - name: g2\n", "  - name: g2\n    vcpus: 2\n", 37,
     "guests[1].vcpus", "on a guest without boot (managed elsewhere)"},

    // Type-specific NIC keys.
    {"rate_on_vhost", "        type: vhost-user\n",
     "        type: vhost-user\n        rate_mbps: 5\n", 29, "guests[0].nics[1].rate_mbps",
     "found rate_mbps on a NIC of type vhost-user; expected it "
     "only with type vf"},
    {"trust_on_dpdk", "devargs: \"net_ring0\",", "devargs: \"net_ring0\", trust: true,", 38,
     "guests[1].nics[0].trust", "only with type vf"},
    {"driver_on_dpdk", "devargs: \"net_ring0\",", "devargs: \"net_ring0\", driver: igbvf,", 38,
     "guests[1].nics[0].driver", "only with type vf"},
    {"bad_vf_nic_driver", "        pf: pf0\n", "        pf: pf0\n        driver: \"igb vf\"\n", 23,
     "guests[0].nics[0].driver", "found 'igb vf'; expected a kernel driver name"},
    {"vlan_qos_on_dpdk", "devargs: \"net_ring0\",", "devargs: \"net_ring0\", vlan_qos: 3,", 38,
     "guests[1].nics[0].vlan_qos", "only with type vf"},
    {"vlan_qos_range", "        pf: pf0\n", "        pf: pf0\n        vlan_qos: 8\n", 23,
     "guests[0].nics[0].vlan_qos", "found 8; expected an 802.1p priority from 0 to 7"},
    {"devargs_on_vf", "        pf: pf0\n", "        pf: pf0\n        devargs: net_null9\n", 23,
     "guests[0].nics[0].devargs", "found devargs on a NIC of type vf"},
    {"dpdk_without_devargs", "devargs: \"net_ring0\", ", "", 38, "guests[1].nics[0].devargs",
     "found no devargs"},

    // Devices and dataplane values.
    {"device_twice", "devargs: \"net_ring0\"", "devargs: \"net_null0,x=1\"", 38,
     "guests[1].nics[0].devargs", "already used by dataplane.uplinks[0].device"},
    {"mtu_range", "mtu: 1500", "mtu: 20", 9, "dataplane.uplinks[0].mtu", "expected an MTU from 68"},
    {"socket_relative", "control_socket: /run/vfgate/t.sock", "control_socket: t.sock", 7,
     "dataplane.control_socket", "expected an absolute path of at most 107 bytes"},
    {"pf_device_bad", "device: \"0000:3b:00.0\"", "device: \"0000:3b:00\"", 12, "pfs[0].device",
     "expected a PCI address like 0000:3b:00.0 or a network interface name"},
};

class ConfigErrors : public testing::TestWithParam<Case> {};

std::string apply(const Case& c) {
    if (*c.from == '\0') return c.to;
    std::string text = kBase;
    auto at = text.find(c.from);
    EXPECT_NE(at, std::string::npos) << "case text not in the base: " << c.from;
    EXPECT_EQ(text.find(c.from, at + 1), std::string::npos) << "ambiguous: " << c.from;
    if (at != std::string::npos) text.replace(at, std::strlen(c.from), c.to);
    return text;
}

TEST(ConfigErrorsBase, BaseIsValid) {
    auto r = load_string(kBase, "base.yaml");
    for (const auto& d : r.errors) ADD_FAILURE() << d.to_string();
    EXPECT_TRUE(r.ok());
}

TEST_P(ConfigErrors, ReportsExactlyOneErrorAtItsPlace) {
    const Case& c = GetParam();
    auto r = load_string(apply(c), "t.yaml");
    ASSERT_FALSE(r.ok());
    std::string all;
    for (const auto& d : r.errors) all += d.to_string() + "\n";
    ASSERT_EQ(r.errors.size(), 1u) << all;
    const Diagnostic& d = r.errors[0];
    EXPECT_EQ(d.path, c.path) << all;
    EXPECT_EQ(d.location.line, c.line) << all;
    EXPECT_GT(d.location.column, 0) << all;
    EXPECT_THAT(d.message, testing::HasSubstr(c.message));
    EXPECT_THAT(d.message, testing::StartsWith("found "));
    EXPECT_THAT(d.message, testing::HasSubstr("; expected "));
    std::string where =
        "t.yaml:" + std::to_string(c.line) + ":" + std::to_string(d.location.column) + ": ";
    EXPECT_EQ(d.to_string(), where + (d.path.empty() ? "" : d.path + ": ") + d.message);
}

INSTANTIATE_TEST_SUITE_P(Checks, ConfigErrors, testing::ValuesIn(kCases),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(ConfigErrorsAll, EveryErrorInTheFileAtOnceInFileOrder) {
    std::string text = kBase;
    auto sub = [&](const char* from, const char* to) {
        text.replace(text.find(from), std::strlen(from), to);
    };
    sub("vlan: 100", "vlan: 9999");
    sub("worker_cores: [1]", "worker_cores: [0]");
    sub("pf: pf0", "pf: nope");
    sub("\"52:54:00:00:00:03\"", "\"52:54:00:00:00:02\"");
    auto r = load_string(text, "t.yaml");
    ASSERT_EQ(r.errors.size(), 4u);
    EXPECT_EQ(r.errors[0].path, "dataplane.worker_cores[0]");
    EXPECT_EQ(r.errors[1].path, "guests[0].nics[0].pf");
    EXPECT_EQ(r.errors[2].path, "guests[0].nics[0].vlan");
    EXPECT_EQ(r.errors[3].path, "guests[1].nics[0].mac");
}

TEST(ConfigErrorsAll, AliasBombIsRefusedNotExpanded) {
    std::string text = "version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 9; ++i) {
        text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
        for (int j = 0; j < 10; ++j)
            text += std::string(j ? ", " : "") + "*a" + std::to_string(i - 1);
        text += "]\n";
    }
    auto r = load_string(text, "bomb.yaml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_THAT(r.errors[0].message, testing::HasSubstr("values (aliases expanded)"));
}

TEST(ConfigErrorsAll, DeepNestingIsAnErrorNotACrash) {
    std::string text = "version: " + std::string(100000, '[') + "\n";
    auto r = load_string(text, "deep.yaml");
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.errors[0].message, testing::HasSubstr("found values nested deeper than"));
}

TEST(ConfigErrorsAll, TooLargeIsRefusedBeforeParsing) {
    auto r = load_string(std::string(kMaxConfigBytes + 1, '#'), "big.yaml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_THAT(r.errors[0].to_string(), testing::StartsWith("big.yaml: found "));
}

TEST(ConfigErrorsAll, UnreadableFileNamesTheCause) {
    auto r = load_file("/nonexistent/vfgate.yaml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].to_string(),
              "/nonexistent/vfgate.yaml: cannot open: No such file or directory (ENOENT)");
}

}  // namespace
}  // namespace vfgate::config
