// The config-v1 schema: which keys exist where, their types, and which are required.
// Ranges and references between sections are validate()'s job; this file gets the shapes right.

#include "reader.hpp"

namespace vfgate::config::detail {
namespace {

// Calls `read(item, path)` for each item of the list under `key`.
template <class F>
void each_item(Reader& r, const Fields& f, std::string_view key, std::string_view what, F&& read) {
    with(f, key, [&](const DocNode& n, const std::string& p) {
        auto* items = r.list(n, p, what);
        if (items == nullptr) return;
        for (std::size_t i = 0; i < items->size(); ++i) read((*items)[i], item_path(p, i));
    });
}

void read_mac(Reader& r, const Fields& f, MacAddr& out) {
    constexpr std::string_view kWhat = "a MAC address such as 52:54:00:00:01:01";
    const DocNode* n = r.required(f, "mac", kWhat);
    if (n == nullptr) return;
    auto p = key_path(f.path, "mac");
    auto text = r.text(*n, p, kWhat);
    if (!text) return;
    if (auto mac = parse_mac(*text)) {
        out = *mac;
    } else {
        r.mismatch(*n, p, kWhat);
    }
}

Nic read_nic(Reader& r, const DocNode& n, const std::string& p) {
    Nic nic;
    auto f = r.mapping(n, p,
                       {"name", "type", "pf", "vf", "devargs", "uplink", "mac", "vlan", "addresses",
                        "rate_mbps", "trust", "driver", "vlan_qos", "firewall"});
    if (!f) return nic;
    need_text(r, *f, "name", "a NIC name", nic.name);
    if (const DocNode* t = r.required(*f, "type", "vf, vhost-user or dpdk")) {
        if (auto i = r.choice(*t, key_path(p, "type"), {"vf", "vhost-user", "dpdk"})) {
            nic.type = std::array{NicType::kVf, NicType::kVhostUser, NicType::kDpdk}[*i];
        }
    }
    read_text(r, *f, "pf", nic.pf);
    with(*f, "vf", [&](const DocNode& v, const std::string& vp) {
        if (v.kind == DocNode::Kind::kScalar && v.text == "auto") {
            r.visit(v, vp);
            return;
        }
        if (v.kind != DocNode::Kind::kScalar || !v.plain) {
            r.visit(v, vp);
            r.mismatch(v, vp, "a VF index or auto");
            return;
        }
        nic.vf = r.integer(v, vp);
    });
    read_text(r, *f, "devargs", nic.devargs);
    read_text(r, *f, "uplink", nic.uplink);
    read_mac(r, *f, nic.mac);
    read_int(r, *f, "vlan", nic.vlan);
    read_cidrs(r, *f, "addresses",
               "an address with prefix such as 10.0.100.11/24 or fd00:100::11/64", nic.addresses);
    read_int(r, *f, "rate_mbps", nic.rate_mbps);
    read_text(r, *f, "driver", nic.driver);
    read_int(r, *f, "vlan_qos", nic.vlan_qos);
    with(*f, "trust",
         [&](const DocNode& v, const std::string& vp) { nic.trust = r.boolean(v, vp); });
    with(*f, "firewall",
         [&](const DocNode& v, const std::string& vp) { nic.firewall = read_firewall(r, v, vp); });
    return nic;
}

Guest read_guest(Reader& r, const DocNode& n, const std::string& p) {
    Guest g;
    auto f = r.mapping(
        n, p, {"name", "vcpus", "memory_mb", "cpu_pinning", "accel", "boot", "restart", "nics"});
    if (!f) return g;
    need_text(r, *f, "name", "a guest name", g.name);
    read_int(r, *f, "vcpus", g.vcpus);
    read_int(r, *f, "memory_mb", g.memory_mb);
    read_int_list(r, *f, "cpu_pinning", g.cpu_pinning);
    read_choice(r, *f, "accel", {"auto", "kvm", "tcg"}, {Accel::kAuto, Accel::kKvm, Accel::kTcg},
                g.accel);
    read_choice(r, *f, "restart", {"always", "on-failure", "never"},
                {RestartPolicy::kAlways, RestartPolicy::kOnFailure, RestartPolicy::kNever},
                g.restart);
    with(*f, "boot", [&](const DocNode& v, const std::string& vp) {
        Boot b;
        auto bf = r.mapping(v, vp, {"image", "kernel", "initrd", "cmdline"});
        if (!bf) return;
        read_text(r, *bf, "image", b.image);
        read_text(r, *bf, "kernel", b.kernel);
        read_text(r, *bf, "initrd", b.initrd);
        read_text(r, *bf, "cmdline", b.cmdline);
        g.boot = b;
    });
    each_item(r, *f, "nics", "NICs", [&](const DocNode& v, const std::string& vp) {
        g.nics.push_back(read_nic(r, v, vp));
    });
    return g;
}

Pf read_pf(Reader& r, const DocNode& n, const std::string& p) {
    Pf pf;
    auto f = r.mapping(n, p, {"name", "device", "num_vfs", "eswitch_mode", "vf_driver"});
    if (!f) return pf;
    need_text(r, *f, "name", "a PF name", pf.name);
    need_text(r, *f, "device", "a PCI address or network interface name", pf.device);
    if (const DocNode* v = r.required(*f, "num_vfs", "the number of VFs to create")) {
        if (auto i = r.integer(*v, key_path(p, "num_vfs"))) pf.num_vfs = *i;
    }
    read_choice(r, *f, "eswitch_mode", {"legacy", "switchdev"},
                {EswitchMode::kLegacy, EswitchMode::kSwitchdev}, pf.eswitch_mode);
    read_text(r, *f, "vf_driver", pf.vf_driver);
    return pf;
}

Uplink read_uplink(Reader& r, const DocNode& n, const std::string& p) {
    Uplink up;
    auto f = r.mapping(n, p, {"name", "device", "rx_queues", "mtu", "offload"});
    if (!f) return up;
    need_text(r, *f, "name", "an uplink name", up.name);
    need_text(r, *f, "device", "a PCI address or DPDK devargs", up.device);
    read_int(r, *f, "rx_queues", up.rx_queues);
    read_int(r, *f, "mtu", up.mtu);
    read_bool(r, *f, "offload", up.offload);
    return up;
}

Conntrack read_conntrack(Reader& r, const DocNode& n, const std::string& p) {
    Conntrack ct;
    auto f = r.mapping(n, p, {"capacity", "timeouts"});
    if (!f) return ct;
    read_int(r, *f, "capacity", ct.capacity);
    with(*f, "timeouts", [&](const DocNode& v, const std::string& vp) {
        auto t = r.mapping(v, vp,
                           {"tcp_syn", "tcp_established", "tcp_fin", "tcp_closed", "udp",
                            "udp_replied", "icmp", "denied"});
        if (!t) return;
        auto& out = ct.timeouts;
        read_int(r, *t, "tcp_syn", out.tcp_syn_s);
        read_int(r, *t, "tcp_established", out.tcp_established_s);
        read_int(r, *t, "tcp_fin", out.tcp_fin_s);
        read_int(r, *t, "tcp_closed", out.tcp_closed_s);
        read_int(r, *t, "udp", out.udp_s);
        read_int(r, *t, "udp_replied", out.udp_replied_s);
        read_int(r, *t, "icmp", out.icmp_s);
        read_int(r, *t, "denied", out.denied_s);
    });
    return ct;
}

Dataplane read_dataplane(Reader& r, const DocNode& n, const std::string& p) {
    Dataplane dp;
    auto f = r.mapping(n, p,
                       {"main_core", "worker_cores", "memory_mb", "hugepages", "control_socket",
                        "eal_args", "uplinks", "mbufs", "conntrack", "verdict_cache"});
    if (!f) return dp;
    read_int(r, *f, "main_core", dp.main_core);
    read_int_list(r, *f, "worker_cores", dp.worker_cores);
    read_int(r, *f, "memory_mb", dp.memory_mb);
    read_bool(r, *f, "hugepages", dp.hugepages);
    read_text(r, *f, "control_socket", dp.control_socket);
    read_int(r, *f, "mbufs", dp.mbufs);
    read_int(r, *f, "verdict_cache", dp.verdict_cache);
    with(*f, "conntrack",
         [&](const DocNode& v, const std::string& vp) { dp.conntrack = read_conntrack(r, v, vp); });
    each_item(r, *f, "eal_args", "strings", [&](const DocNode& v, const std::string& vp) {
        if (auto s = r.text(v, vp, "an EAL argument")) dp.eal_args.push_back(*s);
    });
    each_item(r, *f, "uplinks", "uplinks", [&](const DocNode& v, const std::string& vp) {
        dp.uplinks.push_back(read_uplink(r, v, vp));
    });
    return dp;
}

}  // namespace

void read_config(Reader& r, const DocNode& root, Config& cfg) {
    auto f = r.mapping(root, "", {"version", "host", "dataplane", "pfs", "guests"});
    if (!f) return;
    if (const DocNode* v = r.required(*f, "version", "1")) {
        if (auto i = r.integer(*v, "version")) cfg.version = *i;
    }
    with(*f, "host", [&](const DocNode& v, const std::string& p) {
        if (auto hf = r.mapping(v, p, {"name", "metrics"})) {
            read_text(r, *hf, "name", cfg.host_name);
            read_text(r, *hf, "metrics", cfg.metrics_listen);
        }
    });
    with(*f, "dataplane",
         [&](const DocNode& v, const std::string& p) { cfg.dataplane = read_dataplane(r, v, p); });
    each_item(r, *f, "pfs", "PFs",
              [&](const DocNode& v, const std::string& p) { cfg.pfs.push_back(read_pf(r, v, p)); });
    each_item(r, *f, "guests", "guests", [&](const DocNode& v, const std::string& p) {
        cfg.guests.push_back(read_guest(r, v, p));
    });
}

}  // namespace vfgate::config::detail
