#include "port_plan.hpp"

#include <cstdio>
#include <map>
#include <set>

namespace vfgate::dataplane {
namespace {

struct PciDevice {
    std::string params;          // the uplink's own devargs after the address (",k=v...")
    std::set<std::int64_t> vfs;  // representors to open
};

// "PCI[,params][,representor=vf[1,3]]": one allow-list entry per PCI device.
std::string allow_entry(const std::string& pci, const PciDevice& dev) {
    std::string s = pci + dev.params;
    if (dev.vfs.empty()) return s;
    std::string list;
    for (auto vf : dev.vfs) list += (list.empty() ? "" : ",") + std::to_string(vf);
    return s + ",representor=vf[" + list + "]";
}

std::string pci_part(const std::string& devargs) { return devargs.substr(0, devargs.find(',')); }

// EAL takes one of -l, -c and --lcores and refuses a second: an lcore option among the user's
// eal_args replaces the dataplane's own `-l`.
bool has_lcore_option(const std::vector<std::string>& eal_args) {
    for (const auto& s : eal_args) {
        if (s.starts_with("--lcores") || s.starts_with("-l") || s.starts_with("-c")) return true;
    }
    return false;
}

}  // namespace

Result<PortPlan> plan_ports(const config::Config& cfg, const PciResolver& pci_of) {
    PortPlan plan;
    if (!cfg.dataplane) return plan;
    const auto workers = static_cast<std::uint16_t>(cfg.dataplane->worker_cores.size());
    std::map<std::string, std::uint32_t> mtu_of;
    for (const auto& up : cfg.dataplane->uplinks) {
        PortSpec p;
        p.name = up.name;
        p.role = PortRole::kUplink;
        p.devargs = up.device;
        if (auto pci = parse_pci(pci_part(up.device))) {
            p.pci = true;
            p.devargs = to_string(*pci) + up.device.substr(pci_part(up.device).size());
        }
        p.rx_queues = static_cast<std::uint16_t>(up.rx_queues);
        p.mtu = static_cast<std::uint32_t>(up.mtu);
        mtu_of[up.name] = p.mtu;
        plan.ports.push_back(p);
    }
    auto vfs = config::assign_vfs(cfg);
    for (std::size_t gi = 0; gi < cfg.guests.size(); ++gi) {
        const auto& g = cfg.guests[gi];
        for (std::size_t ni = 0; ni < g.nics.size(); ++ni) {
            const auto& nic = g.nics[ni];
            std::string name = g.name + "/" + nic.name;
            if (!config::is_software_switched(cfg, nic)) {
                plan.warnings.push_back(name + ": a VF of " + nic.pf +
                                        " in legacy eswitch mode is switched by the NIC; the "
                                        "dataplane doesn't see its traffic");
                continue;
            }
            PortSpec p;
            p.name = name;
            p.mtu = mtu_of[nic.uplink];
            switch (nic.type) {
                case config::NicType::kDpdk:
                    p.devargs = nic.devargs;
                    p.pci = parse_pci(pci_part(nic.devargs)).has_value();
                    break;
                case config::NicType::kVhostUser:
                    p.vhost_socket = config::vhost_socket_path(cfg, g, nic);
                    p.devargs = config::vhost_device_name(g, nic) + ",iface=" + p.vhost_socket +
                                ",queues=" + std::to_string(workers);
                    break;
                case config::NicType::kVf: {
                    const auto& pf = *std::find_if(cfg.pfs.begin(), cfg.pfs.end(),
                                                   [&](const auto& x) { return x.name == nic.pf; });
                    auto pci = parse_pci(pf.device);
                    std::optional<std::string> addr =
                        pci ? std::optional(to_string(*pci)) : pci_of(pf.device);
                    if (!addr) {
                        return fail(ErrorKind::kNotFound,
                                    name + ": can't find the PCI address of PF " + pf.name + " (" +
                                        pf.device + ") to open its VF representor");
                    }
                    p.devargs = *addr + ",representor=vf" + std::to_string(vfs[gi][ni]);
                    p.pci = true;
                    break;
                }
            }
            plan.ports.push_back(p);
        }
    }
    return plan;
}

std::string file_prefix(const config::Config& cfg) {
    std::uint32_t h = 2166136261u;  // FNV-1a
    std::string sock =
        cfg.dataplane ? cfg.dataplane->control_socket : config::kDefaultControlSocket;
    for (unsigned char c : sock) h = (h ^ c) * 16777619u;
    char buf[16];
    static_cast<void>(std::snprintf(buf, sizeof buf, "%08x", h));
    return std::string("vfgate-") + buf;
}

EalPlan plan_eal(const config::Config& cfg, const PortPlan& ports, std::string_view log_level) {
    EalPlan e;
    e.file_prefix = file_prefix(cfg);
    const auto& dp = *cfg.dataplane;
    auto& a = e.args;
    a.emplace_back("vfgate-dataplane");
    if (!has_lcore_option(dp.eal_args)) {
        std::string lcores = std::to_string(dp.main_core);
        for (auto c : dp.worker_cores) lcores += "," + std::to_string(c);
        a.insert(a.end(), {"-l", lcores});
    }
    a.insert(a.end(), {"--main-lcore", std::to_string(dp.main_core)});
    a.insert(a.end(), {"--file-prefix", e.file_prefix, "-m", std::to_string(dp.memory_mb)});
    // With hugepages, --in-memory leaves no hugepage files behind; --no-huge can't be combined
    // with it, and the unique file prefix keeps two instances apart.
    a.emplace_back(dp.hugepages ? "--in-memory" : "--no-huge");
    std::map<std::string, PciDevice> pci;  // the allow-list
    for (const auto& p : ports.ports) {
        if (!p.pci) {
            a.insert(a.end(), {"--vdev", p.devargs});
            continue;
        }
        auto addr = pci_part(p.devargs);
        auto& dev = pci[addr];
        auto rep = p.devargs.find(",representor=vf");
        if (rep != std::string::npos) {
            dev.vfs.insert(std::stoll(p.devargs.substr(rep + 15)));
        } else {
            dev.params = p.devargs.substr(addr.size());
        }
    }
    if (pci.empty()) {
        a.emplace_back("--no-pci");
    } else {
        for (const auto& [addr, dev] : pci) a.insert(a.end(), {"-a", allow_entry(addr, dev)});
    }
    static const std::map<std::string_view, const char*> kLevels{
        {"trace", "8"}, {"debug", "8"}, {"info", "6"}, {"warn", "5"}, {"error", "4"}};
    auto lvl = kLevels.find(log_level);
    a.push_back(std::string("--log-level=") + (lvl != kLevels.end() ? lvl->second : "6"));
    a.insert(a.end(), dp.eal_args.begin(), dp.eal_args.end());
    return e;
}

}  // namespace vfgate::dataplane
