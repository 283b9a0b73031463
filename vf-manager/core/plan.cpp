#include <algorithm>
#include <map>
#include <set>

#include <vfgate/common/text.hpp>
#include <vfgate/vfmgr/plan.hpp>

namespace vfgate::vfmgr {
namespace {

std::string list(const std::vector<std::string>& items) {
    std::string out;
    for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
    return out;
}

// Names and devices from the config, and netdev names from the host, as messages show them:
// they reach a terminal, so control characters are escaped (as validate and describe do).
std::string shown(std::string_view s) { return escape_controls(s); }

std::string pf_label(const DesiredPf& d, const ObservedPf& pf) {
    std::string out = shown(d.name);
    out += " (";
    out += pf.pci;
    if (!pf.netdev.empty()) out += ", " + shown(pf.netdev);
    return out + ")";
}

// Builds one PF's actions in the documented order.
class PfPlanner {
  public:
    PfPlanner(const DesiredPf& d, const ObservedPf& pf) : d_(d), pf_(pf) {}

    Action base(ActionKind k) const {
        Action a;
        a.kind = k;
        a.pf_name = d_.name;
        a.pf_pci = pf_.pci;
        a.pf_netdev = pf_.netdev;
        return a;
    }

    void add(ActionKind k, Value from, Value to, std::optional<std::uint32_t> vf = {}) {
        Action a = base(k);
        a.vf = vf;
        a.from = std::move(from);
        a.to = std::move(to);
        actions.push_back(std::move(a));
    }

    // The attribute actions that take a VF from `now` to `want`.
    void attrs(std::uint32_t vf, const VfAttrs& now, const VfAttrs& want) {
        if (now.mac != want.mac) add(ActionKind::kVfMac, now.mac, want.mac, vf);
        if (now.vlan != want.vlan) add(ActionKind::kVfVlan, now.vlan, want.vlan, vf);
        if (now.spoofchk != want.spoofchk) {
            add(ActionKind::kVfSpoofchk, now.spoofchk, want.spoofchk, vf);
        }
        if (now.trust != want.trust) add(ActionKind::kVfTrust, now.trust, want.trust, vf);
        if (now.max_tx_rate_mbps != want.max_tx_rate_mbps) {
            add(ActionKind::kVfRate, now.max_tx_rate_mbps, want.max_tx_rate_mbps, vf);
        }
        if (now.link_state != want.link_state) {
            add(ActionKind::kVfLinkState, now.link_state, want.link_state, vf);
        }
    }

    std::vector<Action> actions;

  private:
    const DesiredPf& d_;
    const ObservedPf& pf_;
};

// Stands for attributes the PF driver doesn't report: every field differs from kScrubbed, so a
// scrub sets them all.
constexpr VfAttrs kUnknownAttrs{.mac = MacAddr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
                                .vlan = VlanQos{4095, 7},
                                .spoofchk = false,
                                .trust = true,
                                .max_tx_rate_mbps = UINT32_MAX,
                                .link_state = LinkState::kDisable};

const ObservedVf* vf_at(const ObservedPf& pf, std::uint32_t index) {
    for (const ObservedVf& v : pf.vfs) {
        if (v.index == index) return &v;
    }
    return nullptr;
}

// VF indexes for the PF's guest NICs: explicit ones, then `auto` ones keep the VF they were
// given before (if it still exists and is free), then take the lowest free index.
Result<std::vector<std::uint32_t>> allocate(const DesiredPf& d, const ObservedPf& pf,
                                            const std::vector<Assignment>& before) {
    std::vector<std::uint32_t> out(d.vfs.size(), UINT32_MAX);
    std::set<std::uint32_t> taken;
    for (std::size_t i = 0; i < d.vfs.size(); ++i) {
        if (d.vfs[i].index) {
            out[i] = *d.vfs[i].index;
            taken.insert(out[i]);
        }
    }
    for (std::size_t i = 0; i < d.vfs.size(); ++i) {
        if (d.vfs[i].index) continue;
        for (const Assignment& a : before) {
            if (a.pf_pci == pf.pci && a.guest == d.vfs[i].guest && a.nic == d.vfs[i].nic &&
                a.vf < d.num_vfs && !taken.contains(a.vf)) {
                out[i] = a.vf;
                taken.insert(a.vf);
                break;
            }
        }
    }
    std::uint32_t next = 0;
    for (std::size_t i = 0; i < d.vfs.size(); ++i) {
        if (out[i] != UINT32_MAX) continue;
        while (next < d.num_vfs && taken.contains(next)) ++next;
        if (next == d.num_vfs) {
            return fail(ErrorKind::kConflict, d.name + ": no free VF for " + d.vfs[i].guest + "/" +
                                                  d.vfs[i].nic + " (num_vfs " +
                                                  std::to_string(d.num_vfs) + ")");
        }
        out[i] = next;
        taken.insert(next);
    }
    return out;
}

// Undoing a VF count change recreates the present VFs blank: these actions bring them back.
std::vector<Action> restore_actions(const DesiredPf& d, const ObservedPf& pf) {
    PfPlanner back(d, pf);
    for (const ObservedVf& v : pf.vfs) {
        if (v.attrs) back.attrs(v.index, kScrubbed, *v.attrs);
        if (!v.driver.empty()) {
            back.add(ActionKind::kVfDriver, std::string(), v.driver, v.index);
        }
    }
    return std::move(back.actions);
}

Result<void> check_guards(const DesiredPf& d, const ObservedPf& pf, bool count_changes,
                          const PlanOptions& opt) {
    if (!pf.host_uses.empty() && !opt.force) {
        return fail(ErrorKind::kConflict, pf_label(d, pf) + ": the host depends on it (" +
                                              list(pf.host_uses) +
                                              "); refusing to change it (--force to do it anyway)");
    }
    if (!count_changes) return {};
    std::vector<std::string> held;
    for (const ObservedVf& v : pf.vfs) {
        if (!v.holder.empty()) held.push_back("VF " + std::to_string(v.index) + " by " + v.holder);
    }
    if (!held.empty()) {
        return fail(ErrorKind::kConflict, pf_label(d, pf) + ": can't change num_vfs from " +
                                              std::to_string(pf.num_vfs) + " to " +
                                              std::to_string(d.num_vfs) + " while VFs are held (" +
                                              list(held) + "); stop those guests first");
    }
    return {};
}

// One PF: its actions (appended to `plan`) and its new assignments.
Result<void> plan_pf(const DesiredPf& d, const ObservedPf& pf, const Observed& o,
                     const PlanOptions& opt, Plan& out) {
    if (d.num_vfs > pf.total_vfs) {
        return fail(ErrorKind::kInvalidArgument,
                    pf_label(d, pf) + ": num_vfs " + std::to_string(d.num_vfs) +
                        " is more than the device supports (sriov_totalvfs " +
                        std::to_string(pf.total_vfs) + ")");
    }
    auto index = allocate(d, pf, o.assignments);
    if (!index) return tl::unexpected(index.error());
    const bool count_changes = pf.num_vfs != d.num_vfs;
    PfPlanner p(d, pf);
    if (d.num_vfs > 0 && !pf.up && !pf.netdev.empty()) p.add(ActionKind::kPfUp, false, true);
    const config::EswitchMode mode_now = pf.eswitch_mode.value_or(config::EswitchMode::kLegacy);
    if (mode_now != d.eswitch_mode) p.add(ActionKind::kEswitchMode, mode_now, d.eswitch_mode);
    if (count_changes) {
        if (pf.drivers_autoprobe) p.add(ActionKind::kAutoprobe, true, false);
        p.add(ActionKind::kNumVfs, pf.num_vfs, d.num_vfs);
        p.actions.back().restore = restore_actions(d, pf);
    }
    // Attributes: those of a VF that exists now, or a new VF's defaults.
    std::map<std::uint32_t, std::size_t> nic_of;  // VF index -> d.vfs position
    for (std::size_t i = 0; i < index->size(); ++i) nic_of[(*index)[i]] = i;
    for (std::uint32_t vf = 0; vf < d.num_vfs; ++vf) {
        const ObservedVf* ov = count_changes ? nullptr : vf_at(pf, vf);
        const VfAttrs now = ov != nullptr && ov->attrs ? *ov->attrs : kScrubbed;
        auto it = nic_of.find(vf);
        if (it != nic_of.end()) {
            p.attrs(vf, now, d.vfs[it->second].attrs);
            continue;
        }
        // A VF no NIC wants any more: scrubbed, so nothing of its last guest is left.
        const bool was_assigned =
            std::any_of(o.assignments.begin(), o.assignments.end(),
                        [&](const Assignment& a) { return a.pf_pci == pf.pci && a.vf == vf; });
        if (was_assigned) p.attrs(vf, now, kScrubbed);
    }
    for (const auto& [vf, i] : nic_of) {
        const ObservedVf* ov = count_changes ? nullptr : vf_at(pf, vf);
        const std::string driver_now = ov != nullptr ? ov->driver : "";
        const std::string& want = d.vfs[i].driver.empty() ? d.vf_driver : d.vfs[i].driver;
        if (driver_now != want) p.add(ActionKind::kVfDriver, driver_now, want, vf);
    }
    if (count_changes && pf.drivers_autoprobe) p.add(ActionKind::kAutoprobe, false, true);
    if (!p.actions.empty()) {
        if (auto g = check_guards(d, pf, count_changes, opt); !g) return g;
    } else {
        out.notes.push_back(pf_label(d, pf) + ": as declared (" + std::to_string(d.num_vfs) +
                            " VFs, " + std::to_string(d.vfs.size()) + " given to guests)");
    }
    out.actions.insert(out.actions.end(), p.actions.begin(), p.actions.end());
    for (std::size_t i = 0; i < index->size(); ++i) {
        out.assignments.push_back(Assignment{pf.pci, (*index)[i], d.vfs[i].guest, d.vfs[i].nic});
    }
    return {};
}

}  // namespace

const ObservedPf* find_pf(const Observed& o, const std::string& device) {
    for (const ObservedPf& pf : o.pfs) {
        if (pf.pci == device || (!pf.netdev.empty() && pf.netdev == device)) return &pf;
    }
    return nullptr;
}

Result<Plan> plan(const Desired& desired, const Observed& observed, const PlanOptions& options) {
    // Every PF the config names that the host lacks, in one error.
    std::vector<std::string> missing;
    for (const DesiredPf& d : desired) {
        if (find_pf(observed, d.device) == nullptr) {
            missing.push_back(shown(d.name) + " (" + shown(d.device) + ")");
        }
    }
    if (!missing.empty()) {
        std::vector<std::string> have;
        have.reserve(observed.pfs.size());
        for (const ObservedPf& p : observed.pfs) {
            have.push_back(p.pci + (p.netdev.empty() ? "" : " (" + shown(p.netdev) + ")"));
        }
        return fail(ErrorKind::kNotFound, "no SR-IOV PF on this host for " + list(missing) +
                                              "; found: " + (have.empty() ? "none" : list(have)));
    }
    Plan out;
    std::set<std::string> planned;  // PCI addresses of the PFs the config names
    for (const DesiredPf& d : desired) {
        const ObservedPf* pf = find_pf(observed, d.device);
        if (!planned.insert(pf->pci).second) {
            return fail(ErrorKind::kInvalidArgument, shown(d.name) + ": " + shown(d.device) +
                                                         " is " + pf->pci +
                                                         ", named by another PF too");
        }
        if (auto r = plan_pf(d, *pf, observed, options, out); !r) return tl::unexpected(r.error());
    }
    // Assignments on PFs the config doesn't name stay as they are.
    for (const Assignment& a : observed.assignments) {
        if (!planned.contains(a.pf_pci)) out.assignments.push_back(a);
    }
    return out;
}

Result<Plan> plan_release(const std::string& guest, const Observed& observed) {
    Plan out;
    bool found = false;
    for (const Assignment& a : observed.assignments) {
        if (a.guest != guest) {
            out.assignments.push_back(a);
            continue;
        }
        found = true;
        const ObservedPf* pf = find_pf(observed, a.pf_pci);
        const ObservedVf* vf = pf != nullptr ? vf_at(*pf, a.vf) : nullptr;
        if (vf == nullptr) continue;  // the VF is gone (num_vfs lowered): nothing to scrub
        if (!vf->holder.empty()) {
            return fail(ErrorKind::kConflict, guest + "/" + a.nic + ": VF " + std::to_string(a.vf) +
                                                  " of " + a.pf_pci + " is held by " + vf->holder +
                                                  "; stop the guest before releasing it");
        }
        DesiredPf d;
        d.name = pf->netdev;  // no config here: the PF's netdev (if any) names it
        PfPlanner p(d, *pf);
        p.attrs(a.vf, vf->attrs.value_or(kUnknownAttrs), kScrubbed);
        out.actions.insert(out.actions.end(), p.actions.begin(), p.actions.end());
    }
    if (!found) return fail(ErrorKind::kNotFound, "guest " + guest + " holds no VF");
    return out;
}

}  // namespace vfgate::vfmgr
