// vfgate-vf: SR-IOV PFs and VFs on this host (docs/vf-manager.md).
//   vfgate-vf list [--json]          PFs with SR-IOV and their VFs
//   vfgate-vf plan -f CONFIG         the actions that would reach the config's VF state
// Exit codes: 0 ok, 1 failed, 2 usage or a bad config.

#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <vfgate/common/table.hpp>
#include <vfgate/config/load.hpp>
#include <vfgate/vfmgr/host.hpp>
#include <vfgate/vfmgr/plan.hpp>

namespace {

using namespace vfgate;
using namespace vfgate::vfmgr;

constexpr int kOk = 0, kFailed = 1, kUsage = 2;

Result<Observed> observe(const HostPaths& paths) {
    auto pfs = read_pfs(paths, read_host_net(paths));
    if (!pfs) return tl::unexpected(pfs.error());
    Observed o;
    o.pfs = std::move(*pfs);
    for (ObservedPf& pf : o.pfs) {
        if (auto r = read_vf_attrs(pf); !r) {
            std::cerr << "vfgate-vf: warning: " << pf.pci << ": " << r.error().to_string() << "\n";
        }
    }
    return o;
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

nlohmann::json vf_json(const ObservedVf& v) {
    nlohmann::json j{{"index", v.index},   {"pci", v.pci},       {"netdev", v.netdev},
                     {"driver", v.driver}, {"holder", v.holder}, {"iommu_group", nullptr}};
    if (v.iommu_group) j["iommu_group"] = *v.iommu_group;
    if (v.attrs) {
        j["mac"] = to_string(v.attrs->mac);
        j["vlan"] = v.attrs->vlan.vlan;
        j["qos"] = v.attrs->vlan.qos;
        j["spoofchk"] = v.attrs->spoofchk;
        j["trust"] = v.attrs->trust;
        j["max_tx_rate_mbps"] = v.attrs->max_tx_rate_mbps;
        j["link_state"] = to_string(v.attrs->link_state);
    }
    return j;
}

int list(const HostPaths& paths, bool json) {
    auto o = observe(paths);
    if (!o) {
        std::cerr << "vfgate-vf: " << o.error().to_string() << "\n";
        return kFailed;
    }
    if (json) {
        nlohmann::json out = nlohmann::json::array();
        for (const ObservedPf& pf : o->pfs) {
            nlohmann::json vfs = nlohmann::json::array();
            for (const ObservedVf& v : pf.vfs) vfs.push_back(vf_json(v));
            out.push_back({{"pci", pf.pci},
                           {"netdev", pf.netdev},
                           {"driver", pf.driver},
                           {"total_vfs", pf.total_vfs},
                           {"num_vfs", pf.num_vfs},
                           {"eswitch_mode",
                            pf.eswitch_mode ? config::to_string(*pf.eswitch_mode) : "unknown"},
                           {"up", pf.up},
                           {"carrier", pf.carrier},
                           {"host_uses", pf.host_uses},
                           {"vfs", vfs}});
        }
        std::cout << out.dump(2) << "\n";
        return kOk;
    }
    if (o->pfs.empty()) {
        std::cout << "no SR-IOV PFs on this host\n";
        return kOk;
    }
    Table pfs({"PF", "NETDEV", "DRIVER", "VFS", "ESWITCH", "LINK", "HOST USES"});
    for (const ObservedPf& pf : o->pfs) {
        std::string uses;
        for (const std::string& u : pf.host_uses) uses += (uses.empty() ? "" : "; ") + u;
        pfs.add({pf.pci, or_dash(pf.netdev), or_dash(pf.driver),
                 std::to_string(pf.num_vfs) + "/" + std::to_string(pf.total_vfs),
                 pf.eswitch_mode ? config::to_string(*pf.eswitch_mode) : "-",
                 !pf.up       ? "down"
                 : pf.carrier ? "up"
                              : "no-carrier",
                 or_dash(uses)});
    }
    pfs.print(std::cout);
    for (const ObservedPf& pf : o->pfs) {
        if (pf.vfs.empty()) continue;
        std::cout << "\n" << pf.pci << (pf.netdev.empty() ? "" : " (" + pf.netdev + ")") << ":\n";
        Table vfs({"VF", "PCI", "NETDEV", "DRIVER", "MAC", "VLAN", "QOS", "SPOOFCHK", "TRUST",
                   "RATE", "LINK", "IOMMU", "HELD BY"});
        for (const ObservedVf& v : pf.vfs) {
            const auto& a = v.attrs;
            vfs.add({std::to_string(v.index), v.pci, or_dash(v.netdev), or_dash(v.driver),
                     a ? to_string(a->mac) : "?", a ? std::to_string(a->vlan.vlan) : "?",
                     a ? std::to_string(a->vlan.qos) : "?", a ? (a->spoofchk ? "on" : "off") : "?",
                     a ? (a->trust ? "on" : "off") : "?",
                     a ? std::to_string(a->max_tx_rate_mbps) : "?",
                     a ? to_string(a->link_state) : "?",
                     v.iommu_group ? std::to_string(*v.iommu_group) : "-", or_dash(v.holder)});
        }
        vfs.print(std::cout);
    }
    return kOk;
}

int show_plan(const HostPaths& paths, const std::string& file, bool force) {
    config::LoadResult cfg = config::load_file(file);
    if (!cfg.ok()) {
        for (const auto& e : cfg.errors) std::cerr << e.to_string() << "\n";
        return kUsage;
    }
    auto o = observe(paths);
    if (!o) {
        std::cerr << "vfgate-vf: " << o.error().to_string() << "\n";
        return kFailed;
    }
    auto p = plan(desired_from_config(*cfg.config), *o, {.force = force});
    if (!p) {
        std::cerr << "vfgate-vf: " << p.error().to_string() << "\n";
        return kFailed;
    }
    for (const Action& a : p->actions) std::cout << describe(a) << "\n";
    for (const std::string& n : p->notes) std::cout << n << "\n";
    if (p->actions.empty()) std::cout << "nothing to do\n";
    return kOk;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"vfgate-vf: SR-IOV PFs and VFs on this host", "vfgate-vf"};
    app.set_version_flag("-V,--version", "vfgate-vf " VFGATE_VERSION);
    app.require_subcommand(1);
    HostPaths paths;
    app.add_option("--sysfs", paths.sys, "sysfs root (tests)")->capture_default_str();
    app.add_option("--procfs", paths.proc, "procfs root (tests)")->capture_default_str();
    bool json = false;
    bool force = false;
    std::string file;
    auto* list_cmd = app.add_subcommand("list", "PFs with SR-IOV and their VFs");
    list_cmd->add_flag("--json", json, "JSON instead of a table");
    auto* plan_cmd = app.add_subcommand("plan", "print the actions that would reach CONFIG's VFs");
    plan_cmd->add_option("-f,--file", file, "the vfgate config")->required();
    plan_cmd->add_flag("--force", force, "plan changes to a PF the host depends on");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? kOk : kUsage;
    }
    if (*list_cmd) return list(paths, json);
    return show_plan(paths, file, force);
}
