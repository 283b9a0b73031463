#include <map>
#include <sstream>

#include <vfgate/common/text.hpp>
#include <vfgate/config/describe.hpp>

namespace vfgate::config {
namespace {

// A string from the config as it may be shown on a terminal: control characters escaped. Names,
// ids and driver names are validated to plain characters; paths and devargs are not.
std::string shown(std::string_view s) { return escape_controls(s); }

std::string plural(std::int64_t n, std::string_view one, std::string_view many) {
    return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

template <class T, class F>
std::string join(const std::vector<T>& items, F&& fmt, std::string_view sep = ",") {
    std::string s;
    for (const auto& item : items) {
        if (!s.empty()) s += sep;
        s += fmt(item);
    }
    return s;
}

std::string ports(const std::vector<PortRange>& ps) {
    return join(ps, [](const PortRange& p) {
        return p.lo == p.hi ? std::to_string(p.lo)
                            : std::to_string(p.lo) + "-" + std::to_string(p.hi);
    });
}

std::string cidrs(const std::vector<Cidr>& cs) {
    return join(cs, [](const Cidr& c) { return to_string(c); });
}

std::string rule_text(const Rule& r) {
    std::string s = r.id + ": " + to_string(r.action);
    s += r.proto ? " " + proto_name(*r.proto) : " any";
    if (!r.src.empty()) s += " src " + cidrs(r.src);
    if (!r.src_ports.empty()) s += " src_port " + ports(r.src_ports);
    if (!r.dst.empty()) s += " dst " + cidrs(r.dst);
    if (!r.dst_ports.empty()) s += " dst_port " + ports(r.dst_ports);
    if (r.icmp_type) s += " icmp_type " + std::to_string(*r.icmp_type);
    if (r.icmp_code) s += " icmp_code " + std::to_string(*r.icmp_code);
    return s;
}

std::string domain_name(const Nic& nic) {
    return nic.uplink + (nic.vlan ? " vlan " + std::to_string(*nic.vlan) : " untagged");
}

void describe_nic(std::ostream& os, const Config& cfg, const Nic& nic) {
    os << "    nic " << nic.name << ": " << to_string(nic.type);
    if (nic.type == NicType::kVf) {
        os << " " << nic.pf << "/" << (nic.vf ? "vf" + std::to_string(*nic.vf) : "auto");
    }
    if (nic.type == NicType::kDpdk) os << " " << shown(nic.devargs);
    os << ", mac " << to_string(nic.mac);
    if (is_software_switched(cfg, nic)) {
        os << ", " << domain_name(nic);
    } else {
        os << ", switched by the NIC" << (nic.vlan ? " on vlan " + std::to_string(*nic.vlan) : "");
    }
    if (!nic.addresses.empty()) os << ", addresses " << cidrs(nic.addresses);
    if (nic.rate_mbps) os << ", rate " << *nic.rate_mbps << " Mbit/s";
    if (nic.trust) os << ", trust " << (*nic.trust ? "on" : "off");
    os << "\n";
    if (!nic.firewall) {
        os << "      firewall: none (anti-spoofing only)\n";
        return;
    }
    const Firewall& fw = *nic.firewall;
    os << "      firewall: " << (fw.stateful ? "stateful" : "stateless") << ", ingress "
       << plural(static_cast<std::int64_t>(fw.ingress.size()), "rule", "rules") << " then "
       << to_string(fw.ingress_default) << ", egress "
       << plural(static_cast<std::int64_t>(fw.egress.size()), "rule", "rules") << " then "
       << to_string(fw.egress_default) << "\n";
    for (const auto& r : fw.ingress) os << "        ingress " << rule_text(r) << "\n";
    for (const auto& r : fw.egress) os << "        egress  " << rule_text(r) << "\n";
}

void describe_guest(std::ostream& os, const Config& cfg, const Guest& g) {
    os << "guest " << g.name << ": ";
    if (!g.boot) {
        os << "managed elsewhere (vfgate provisions its NICs only)\n";
    } else {
        auto vcpus = g.vcpus.value_or(kDefaultVcpus);
        os << plural(vcpus, "vCPU", "vCPUs");
        if (!g.cpu_pinning.empty()) {
            os << " pinned to " << join(g.cpu_pinning, [](auto c) { return std::to_string(c); });
        }
        os << ", " << g.memory_mb.value_or(kDefaultGuestMemoryMb) << " MB, accel "
           << to_string(g.accel.value_or(Accel::kAuto)) << ", restart "
           << to_string(g.restart.value_or(RestartPolicy::kOnFailure)) << ", boot "
           << (g.boot->image.empty() ? "kernel " + shown(g.boot->kernel)
                                     : "image " + shown(g.boot->image))
           << "\n";
    }
    for (const auto& nic : g.nics) describe_nic(os, cfg, nic);
}

}  // namespace

Counts count(const Config& cfg) {
    Counts c;
    c.uplinks = cfg.dataplane ? static_cast<int>(cfg.dataplane->uplinks.size()) : 0;
    c.pfs = static_cast<int>(cfg.pfs.size());
    c.guests = static_cast<int>(cfg.guests.size());
    for (const auto& g : cfg.guests) {
        c.nics += static_cast<int>(g.nics.size());
        for (const auto& n : g.nics) {
            if (n.firewall) {
                c.rules += static_cast<int>(n.firewall->ingress.size() + n.firewall->egress.size());
            }
        }
    }
    return c;
}

std::string summary_line(const Config& cfg) {
    auto c = count(cfg);
    return "host " + (cfg.host_name.empty() ? std::string("(system host name)") : cfg.host_name) +
           ": " + plural(c.uplinks, "uplink", "uplinks") + ", " + plural(c.pfs, "PF", "PFs") +
           ", " + plural(c.guests, "guest", "guests") + ", " + plural(c.nics, "NIC", "NICs") +
           ", " + plural(c.rules, "rule", "rules");
}

std::string describe(const Config& cfg) {
    std::ostringstream os;
    os << summary_line(cfg) << "\n";
    if (cfg.dataplane) {
        const auto& dp = *cfg.dataplane;
        os << "dataplane: main core " << dp.main_core << ", worker cores "
           << join(dp.worker_cores, [](auto c) { return std::to_string(c); }) << ", "
           << dp.memory_mb << " MB " << (dp.hugepages ? "in hugepages" : "without hugepages")
           << ", control socket " << shown(dp.control_socket) << "\n";
        for (const auto& up : dp.uplinks) {
            os << "  uplink " << up.name << ": " << shown(up.device) << ", "
               << plural(up.rx_queues, "rx queue", "rx queues") << ", MTU " << up.mtu
               << (up.offload ? "" : ", offload off") << "\n";
        }
    } else {
        os << "dataplane: none (no software switch on this host)\n";
    }
    for (const auto& pf : cfg.pfs) {
        os << "pf " << pf.name << ": " << shown(pf.device) << ", "
           << plural(pf.num_vfs, "VF", "VFs") << ", eswitch " << to_string(pf.eswitch_mode)
           << ", VFs bound to " << pf.vf_driver << "\n";
    }
    std::map<std::string, std::vector<std::string>> domains;
    for (const auto& g : cfg.guests) {
        describe_guest(os, cfg, g);
        for (const auto& nic : g.nics) {
            if (is_software_switched(cfg, nic)) {
                domains[domain_name(nic)].push_back(g.name + "/" + nic.name);
            }
        }
    }
    if (!domains.empty()) {
        os << "broadcast domains (switched by vfgate):\n";
        for (const auto& [name, members] : domains) {
            os << "  " << name << ": "
               << join(
                      members, [](const std::string& m) { return m; }, ", ")
               << "\n";
        }
    }
    return os.str();
}

}  // namespace vfgate::config
