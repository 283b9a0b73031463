// vfgate-vf: SR-IOV PFs and VFs on this host (docs/vf-manager.md).
//   vfgate-vf list [--json]             PFs with SR-IOV and their VFs
//   vfgate-vf plan -f CONFIG [--force]   the actions that would reach the config's VF state
//   vfgate-vf apply -f CONFIG [--force]  carry them out (rolled back if one fails), then verify
//   vfgate-vf release GUEST              scrub the guest's VFs and forget its assignments
// Exit codes: 0 ok, 1 failed, 2 usage or a bad config.

#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <vfgate/common/table.hpp>
#include <vfgate/config/load.hpp>
#include <vfgate/vfmgr/host.hpp>
#include <vfgate/vfmgr/plan.hpp>
#include <vfgate/vfmgr/reconcile.hpp>

namespace {

using namespace vfgate;
using namespace vfgate::vfmgr;

constexpr int kOk = 0, kFailed = 1, kUsage = 2;

struct Options {
    ReconcileOptions host;
    std::string file;
    std::string guest;
    bool json = false;
};

void say(const std::string& line) { std::cout << line << "\n"; }

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

// "web/eth0" for a VF the state file gives to a guest NIC, else empty.
std::string guest_of(const Observed& o, const ObservedPf& pf, const ObservedVf& v) {
    for (const Assignment& a : o.assignments) {
        if (a.pf_pci == pf.pci && a.vf == v.index) return a.guest + "/" + a.nic;
    }
    return "";
}

int list(const Options& opt) {
    const bool json = opt.json;
    auto o = observe(opt.host, opt.host.warn);
    if (!o) {
        std::cerr << "vfgate-vf: " << o.error().to_string() << "\n";
        return kFailed;
    }
    if (json) {
        nlohmann::json out = nlohmann::json::array();
        for (const ObservedPf& pf : o->pfs) {
            nlohmann::json vfs = nlohmann::json::array();
            for (const ObservedVf& v : pf.vfs) {
                vfs.push_back(vf_json(v));
                vfs.back()["guest"] = guest_of(*o, pf, v);
            }
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
        // Names from /proc (a VF's holder) are not always UTF-8: replaced, not thrown on.
        std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
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
                   "RATE", "LINK", "IOMMU", "GUEST", "HELD BY"});
        for (const ObservedVf& v : pf.vfs) {
            const auto& a = v.attrs;
            vfs.add({std::to_string(v.index), v.pci, or_dash(v.netdev), or_dash(v.driver),
                     a ? to_string(a->mac) : "?", a ? std::to_string(a->vlan.vlan) : "?",
                     a ? std::to_string(a->vlan.qos) : "?", a ? (a->spoofchk ? "on" : "off") : "?",
                     a ? (a->trust ? "on" : "off") : "?",
                     a ? std::to_string(a->max_tx_rate_mbps) : "?",
                     a ? to_string(a->link_state) : "?",
                     v.iommu_group ? std::to_string(*v.iommu_group) : "-",
                     or_dash(guest_of(*o, pf, v)), or_dash(v.holder)});
        }
        vfs.print(std::cout);
    }
    return kOk;
}

// Every line of the error, so that each pending action of a failed verify is one line.
int report(const Error& e) {
    const std::string text = e.to_string();
    std::size_t at = 0;
    while (at <= text.size()) {
        const std::size_t nl = std::min(text.find('\n', at), text.size());
        std::cerr << "vfgate-vf: " << text.substr(at, nl - at) << "\n";
        at = nl + 1;
    }
    return e.kind() == ErrorKind::kInvalidArgument ? kUsage : kFailed;
}

// The config, or its diagnostics (all of them, after one "vfgate-vf: ").
Result<config::Config> load_config(const std::string& file) {
    config::LoadResult cfg = config::load_file(file);
    if (cfg.ok()) return *cfg.config;
    std::string all;
    for (const auto& e : cfg.errors) all += (all.empty() ? "" : "\n") + e.to_string();
    return fail(ErrorKind::kInvalidArgument, all);
}

int load_failed(const Error& e) {
    std::cerr << "vfgate-vf: " << e.to_string() << "\n";
    return kUsage;
}

int show_plan(const Options& opt) {
    auto o = observe(opt.host, opt.host.warn);
    if (!o) return report(o.error());
    auto cfg = load_config(opt.file);
    if (!cfg) return load_failed(cfg.error());
    auto p = plan_config(*cfg, *o, opt.host);
    if (!p) return report(p.error());
    for (const Action& a : p->actions) std::cout << describe(a) << "\n";
    for (const std::string& n : p->notes) std::cout << n << "\n";
    if (p->actions.empty()) std::cout << "nothing to do\n";
    return kOk;
}

int apply_config(const Options& opt) {
    auto cfg = load_config(opt.file);
    if (!cfg) return load_failed(cfg.error());
    auto r = reconcile(*cfg, opt.host, say);
    return r ? kOk : report(r.error());
}

int release_guest(const Options& opt) {
    auto r = release(opt.guest, opt.host, say);
    return r ? kOk : report(r.error());
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"vfgate-vf: SR-IOV PFs and VFs on this host", "vfgate-vf"};
    app.set_version_flag("-V,--version", "vfgate-vf " VFGATE_VERSION);
    app.require_subcommand(1);
    app.fallthrough();
    Options opt;
    opt.host.warn = [](const std::string& w) { std::cerr << "vfgate-vf: warning: " << w << "\n"; };
    app.add_option("--sysfs", opt.host.paths.sys, "sysfs root (tests)")->capture_default_str();
    app.add_option("--procfs", opt.host.paths.proc, "procfs root (tests)")->capture_default_str();
    app.add_option("--state", opt.host.state_file, "which guest holds which VF")
        ->capture_default_str();
    auto* list_cmd = app.add_subcommand("list", "PFs with SR-IOV and their VFs");
    list_cmd->add_flag("--json", opt.json, "JSON instead of a table");
    auto* plan_cmd = app.add_subcommand("plan", "print the actions that would reach CONFIG's VFs");
    auto* apply_cmd =
        app.add_subcommand("apply", "reach CONFIG's VF state (rolled back on failure)");
    for (auto* c : {plan_cmd, apply_cmd}) {
        c->add_option("-f,--file", opt.file, "the vfgate config")->required();
        c->add_flag("--force", opt.host.force, "change a PF the host depends on");
    }
    auto* release_cmd = app.add_subcommand("release", "scrub a guest's VFs and forget them");
    release_cmd->add_option("guest", opt.guest, "the guest's name")->required();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? kOk : kUsage;
    }
    if (*list_cmd) return list(opt);
    if (*plan_cmd) return show_plan(opt);
    if (*apply_cmd) return apply_config(opt);
    return release_guest(opt);
}
