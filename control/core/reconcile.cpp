// vfgated's reconcile step (reconcile.hpp): desired config and observed host in, ordered plan out.

#include "reconcile.hpp"

#include <algorithm>

#include <vfgate/dataplane/reload_plan.hpp>
#include <vfgate/vfmgr/plan.hpp>

namespace vfgate::control {
namespace {

bool alive(const GuestSeen& g) {
    return g.state == "running" || g.state == "paused" || g.state == "starting" ||
           g.state == "restarting";
}

// QEMU runs but its guest does not (crashed: internal-error, io-error, guest-panicked): QEMU
// won't exit by itself, so no restart policy acts, and it holds its VFs and sockets.
bool stuck(const GuestSeen& g) { return !alive(g) && g.pid != 0; }

std::string joined(const std::vector<std::string>& v, const char* sep = ", ") {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
    return out;
}

bool has_vf_nic(const config::Guest& g) {
    return std::any_of(g.nics.begin(), g.nics.end(),
                       [](const config::Nic& n) { return n.type == config::NicType::kVf; });
}

// The host's facts for planning a guest again while it runs: the memory it holds counted as
// free again, on hugepages or not as its command line says (`-m`, and a file backend is the
// hugetlbfs one), as when it started. Else a guest whose memory took the last free hugepages
// would be planned on shared memory (or not at all) and restarted for nothing.
vm::HostFacts with_own_memory(vm::HostFacts f, const GuestSeen& seen) {
    std::int64_t mb = 0;
    bool hugepages = false;
    for (std::size_t i = 0; i < seen.argv.size(); ++i) {
        if (seen.argv[i] == "-m" && i + 1 < seen.argv.size()) {
            const std::string& v = seen.argv[i + 1];
            mb = 0;
            for (std::size_t k = 0; k < v.size() && v[k] >= '0' && v[k] <= '9'; ++k) {
                mb = mb * 10 + (v[k] - '0');
            }
        }
        hugepages = hugepages || seen.argv[i].starts_with("memory-backend-file,");
    }
    (hugepages ? f.hugepages_free_mb : f.mem_available_mb) += mb;
    return f;
}

// The first argument that differs, with the option it belongs to: "-m 256M -> 512M".
std::string first_difference(const std::vector<std::string>& was,
                             const std::vector<std::string>& now) {
    const std::size_t n = std::min(was.size(), now.size());
    for (std::size_t i = 0; i < n; ++i) {
        if (was[i] == now[i]) continue;
        const bool option_before = i > 0 && now[i - 1].starts_with("-") && !now[i].starts_with("-");
        return (option_before ? now[i - 1] + " " : "") + was[i] + " -> " + now[i];
    }
    return std::to_string(was.size()) + " -> " + std::to_string(now.size()) + " arguments";
}

void plan_dataplane(const config::Config& desired, const DataplaneSeen& seen,
                    const std::vector<config::GivenVf>& given, Plan& plan) {
    auto step = [&](StepKind kind, std::string reason, std::vector<std::string> details = {}) {
        plan.steps.push_back(Step{kind, "dataplane", std::move(reason), std::move(details)});
    };
    if (!desired.dataplane) {
        if (seen.running) step(StepKind::kDataplaneStop, "the config has no dataplane section");
        return;
    }
    if (!seen.running) {
        step(StepKind::kDataplaneStart, seen.problem.empty() ? "not running" : seen.problem);
        return;
    }
    if (!seen.answering) {
        step(StepKind::kDataplaneRestart, "not answering on its control socket" +
                                              (seen.problem.empty() ? "" : ": " + seen.problem));
        return;
    }
    if (!seen.config || !seen.config->dataplane) {
        step(StepKind::kDataplaneRestart, "runs a config vfgated did not give it");
        return;
    }
    // Each side's `vf: auto` NICs on the VFs vf-manager gave them, as the dataplane runs them
    // (pin_vfs_from_state).
    config::Config running = *seen.config;
    config::Config next = desired;
    config::pin_auto_vfs(running, given);
    config::pin_auto_vfs(next, given);
    const dataplane::ReloadPlan rp = dataplane::plan_reload(running, next);
    if (rp.needs_restart()) {
        step(StepKind::kDataplaneRestart, "changed " + joined(rp.restart_keys), rp.restart_keys);
        return;
    }
    if (rp.empty()) {
        plan.unchanged.push_back("dataplane: running (pid " + std::to_string(seen.pid) +
                                 "), as declared");
        return;
    }
    std::vector<std::string> details;
    details.reserve(rp.added.size() + rp.removed.size() + rp.updated.size() +
                    rp.firewalls_changed.size() + rp.addresses_changed.size() + 1);
    for (const auto& p : rp.added) details.push_back("port " + p + " added");
    for (const auto& p : rp.removed) details.push_back("port " + p + " removed");
    for (const auto& p : rp.updated) details.push_back("port " + p + " changed");
    for (const auto& p : rp.firewalls_changed) details.push_back("rules of " + p + " changed");
    for (const auto& p : rp.addresses_changed) details.push_back("addresses of " + p + " changed");
    if (rp.conntrack_timeouts_changed) details.emplace_back("conntrack timeouts changed");
    step(StepKind::kDataplaneReload, "live: " + joined(details), details);
}

}  // namespace

const char* to_string(StepKind k) {
    switch (k) {
        case StepKind::kGuestStop:
            return "stop-guest";
        case StepKind::kVfs:
            return "vfs";
        case StepKind::kDataplaneStart:
            return "start-dataplane";
        case StepKind::kDataplaneReload:
            return "reload-dataplane";
        case StepKind::kDataplaneRestart:
            return "restart-dataplane";
        case StepKind::kDataplaneStop:
            return "stop-dataplane";
        case StepKind::kGuestStart:
            return "start-guest";
        case StepKind::kGuestAdopt:
            return "adopt-guest";
    }
    return "?";
}

Result<Plan> reconcile(const config::Config& desired, const Observed& observed,
                       const ReconcileOptions& opts) {
    Plan plan;
    std::vector<std::string> errors;

    // VFs first in thought (the guests' plans depend on whether VF actions are pending), but
    // their step goes after the guests' stops.
    Step vfs{StepKind::kVfs, "vfs", "", {}};
    if (!desired.pfs.empty() || !observed.vfs.assignments.empty()) {
        auto vp =
            vfmgr::plan(vfmgr::desired_from_config(desired), observed.vfs, {.force = opts.force});
        if (!vp) {
            errors.push_back("vfs: " + vp.error().to_string());
        } else {
            for (const auto& a : vp->actions) vfs.details.push_back(vfmgr::describe(a));
            for (const auto& n : vp->notes) plan.unchanged.push_back("vfs: " + n);
            vfs.reason = std::to_string(vp->actions.size()) + " VF action(s)";
        }
    }
    const bool vfs_pending = !vfs.details.empty();

    std::vector<Step> stops, starts;
    for (const config::Guest& g : desired.guests) {
        if (!g.boot) continue;
        const auto seen_it = observed.guests.find(g.name);
        const bool running = seen_it != observed.guests.end() && alive(seen_it->second);
        std::optional<vm::GuestPlan> gp;
        std::string plan_error;
        if (auto facts = observed.facts.find(g.name); facts == observed.facts.end()) {
            auto why = observed.fact_errors.find(g.name);
            plan_error = "guest " + g.name + ": " +
                         (why == observed.fact_errors.end() ? "the host's facts were not gathered"
                                                            : why->second);
        } else if (auto p = vm::plan_guest(
                       desired, g.name,
                       running ? with_own_memory(facts->second, seen_it->second) : facts->second,
                       opts.guest_root);
                   p) {
            gp = std::move(*p);
        } else {
            plan_error = p.error().to_string();
        }
        // A guest on VFs this plan changes is planned again once they are ready.
        const bool deferred = !gp && vfs_pending && has_vf_nic(g);
        if (!gp && !deferred) {
            errors.push_back(plan_error);
            continue;
        }
        if (seen_it != observed.guests.end() && stuck(seen_it->second)) {
            const std::string why = "QEMU (pid " + std::to_string(seen_it->second.pid) +
                                    ") runs but its guest is " + seen_it->second.state;
            stops.push_back(Step{StepKind::kGuestStop, g.name, why, {}});
            starts.push_back(Step{StepKind::kGuestStart, g.name, why, {}});
            if (deferred) starts.back().details.emplace_back("planned once its VFs are ready");
            continue;
        }
        if (!running) {
            std::string why = seen_it == observed.guests.end()
                                  ? "new guest"
                                  : "not running (" + seen_it->second.state + ")";
            starts.push_back(Step{StepKind::kGuestStart, g.name, why, {}});
            if (deferred) starts.back().details.emplace_back("planned once its VFs are ready");
            continue;
        }
        const GuestSeen& seen = seen_it->second;
        if (gp && !seen.argv.empty() && gp->argv != seen.argv) {
            std::string why =
                "its QEMU command line changes (" + first_difference(seen.argv, gp->argv) + ")";
            stops.push_back(Step{StepKind::kGuestStop, g.name, why, {}});
            starts.push_back(Step{StepKind::kGuestStart, g.name, why, {}});
            continue;
        }
        if (!seen.supervised) {
            // Its restart policy and console-log rotation are off until a supervisor has it.
            starts.push_back(Step{StepKind::kGuestAdopt,
                                  g.name,
                                  "QEMU (pid " + std::to_string(seen.pid) +
                                      ") runs without its supervisor; a new one adopts it",
                                  {}});
            continue;
        }
        plan.unchanged.push_back("guest " + g.name + ": " + seen.state + " (pid " +
                                 std::to_string(seen.pid) + "), as declared");
    }
    for (const auto& [name, seen] : observed.guests) {
        if (!alive(seen) && !stuck(seen)) continue;
        auto it = std::find_if(desired.guests.begin(), desired.guests.end(),
                               [&](const config::Guest& g) { return g.name == name; });
        if (it == desired.guests.end()) {
            stops.push_back(Step{StepKind::kGuestStop, name, "no longer in the config", {}});
        } else if (!it->boot) {
            stops.push_back(
                Step{StepKind::kGuestStop, name, "the config no longer has its boot", {}});
        }
    }

    if (!errors.empty()) return fail(ErrorKind::kConflict, joined(errors, "\n"));
    for (auto& s : stops) plan.steps.push_back(std::move(s));
    if (vfs_pending) plan.steps.push_back(std::move(vfs));
    plan_dataplane(desired, observed.dataplane, vfmgr::given_vfs(observed.vfs.assignments), plan);
    for (auto& s : starts) plan.steps.push_back(std::move(s));
    return plan;
}

std::string describe(const Step& s) {
    std::string verb;
    switch (s.kind) {
        case StepKind::kGuestStop:
            verb = "stop guest " + s.target;
            break;
        case StepKind::kVfs:
            verb = "provision VFs";
            break;
        case StepKind::kDataplaneStart:
            verb = "start dataplane";
            break;
        case StepKind::kDataplaneReload:
            verb = "reload dataplane";
            break;
        case StepKind::kDataplaneRestart:
            verb = "restart dataplane";
            break;
        case StepKind::kDataplaneStop:
            verb = "stop dataplane";
            break;
        case StepKind::kGuestStart:
            verb = "start guest " + s.target;
            break;
        case StepKind::kGuestAdopt:
            verb = "adopt guest " + s.target;
            break;
    }
    std::string out = verb + (s.reason.empty() ? "" : ": " + s.reason);
    if (s.kind != StepKind::kDataplaneReload && s.kind != StepKind::kDataplaneRestart) {
        for (const auto& d : s.details) out += "\n    " + d;
    } else if (s.details.size() > 1) {
        for (const auto& d : s.details) out += "\n    " + d;
    }
    return out;
}

std::string describe(const Plan& p) {
    if (p.steps.empty()) return "nothing to do: the host is as declared";
    std::string out;
    for (std::size_t i = 0; i < p.steps.size(); ++i) {
        out += (i == 0 ? "" : "\n") + std::to_string(i + 1) + ". " + describe(p.steps[i]);
    }
    return out;
}

nlohmann::json to_json(const Step& s) {
    return {{"action", to_string(s.kind)},
            {"target", s.target},
            {"reason", s.reason},
            {"details", s.details}};
}

nlohmann::json to_json(const Plan& p) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& s : p.steps) steps.push_back(to_json(s));
    return {{"changes", !p.steps.empty()}, {"steps", steps}, {"unchanged", p.unchanged}};
}

}  // namespace vfgate::control
