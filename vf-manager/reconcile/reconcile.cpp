// observe -> plan -> apply -> verify on this host (vfgate/vfmgr/reconcile.hpp).

#include <vfgate/vfmgr/reconcile.hpp>

namespace vfgate::vfmgr {
namespace {

void tell(const Say& say, const std::string& line) {
    if (say) say(line);
}

// Carries a plan out: notes said, actions applied (rolled back on failure), the assignments
// recorded.
Result<ReconcileOutcome> carry_out(const Plan& p, const ReconcileOptions& opts, const Say& say) {
    ReconcileOutcome out;
    out.notes = p.notes;
    for (const std::string& n : p.notes) tell(say, n);
    auto ex = host_executor(opts.paths);
    auto done = apply(p.actions, *ex, [&](const std::string& line) { tell(say, line); });
    if (!done) return tl::unexpected(done.error());
    if (auto w = write_state(opts.state_file, p.assignments); !w) return tl::unexpected(w.error());
    out.done = done->done;
    return out;
}

}  // namespace

Result<Observed> observe(const ReconcileOptions& opts, const Say& warn) {
    auto pfs = read_pfs(opts.paths, read_host_net(opts.paths));
    if (!pfs) return tl::unexpected(pfs.error());
    auto assignments = read_state(opts.state_file);
    if (!assignments) return tl::unexpected(assignments.error());
    Observed o;
    o.assignments = std::move(*assignments);
    o.pfs = std::move(*pfs);
    for (ObservedPf& pf : o.pfs) {
        if (auto m = read_eswitch_mode(pf.pci); m) pf.eswitch_mode = *m;  // else: no devlink
        if (auto r = read_vf_attrs(pf); !r) tell(warn, pf.pci + ": " + r.error().to_string());
    }
    return o;
}

Result<Plan> plan_config(const config::Config& cfg, const Observed& observed,
                         const ReconcileOptions& opts) {
    return plan(desired_from_config(cfg), observed, {.force = opts.force});
}

Result<ReconcileOutcome> reconcile(const config::Config& cfg, const ReconcileOptions& opts,
                                   const Say& say) {
    auto o = observe(opts, opts.warn);
    if (!o) return tl::unexpected(o.error());
    auto p = plan_config(cfg, *o, opts);
    if (!p) return tl::unexpected(p.error());
    if (p->actions.empty()) {
        for (const std::string& n : p->notes) tell(say, n);
        tell(say, "nothing to do");
        return ReconcileOutcome{.done = 0, .notes = p->notes};
    }
    auto out = carry_out(*p, opts, say);
    if (!out) return out;
    tell(say, "applied: " + std::to_string(out->done) + " actions");
    // Verify: a fresh look at the host needs nothing more (a driver may accept a setting and
    // drop it).
    auto again = observe(opts, opts.warn);
    if (!again) return tl::unexpected(again.error());
    auto pending = plan_config(cfg, *again, opts);
    if (!pending) return tl::unexpected(pending.error());
    if (!pending->actions.empty()) {
        std::string lines;
        for (const Action& a : pending->actions) {
            lines +=
                (lines.empty() ? "" : "\n") + std::string("verify: still differs: ") + describe(a);
        }
        return fail(ErrorKind::kConflict, lines);
    }
    return out;
}

Result<ReconcileOutcome> release(const std::string& guest, const ReconcileOptions& opts,
                                 const Say& say) {
    auto o = observe(opts, opts.warn);
    if (!o) return tl::unexpected(o.error());
    auto p = plan_release(guest, *o);
    if (!p) return tl::unexpected(p.error());
    auto out = carry_out(*p, opts, say);
    if (!out) return out;
    tell(say, "released " + guest + ": " + std::to_string(out->done) + " actions");
    return out;
}

}  // namespace vfgate::vfmgr
