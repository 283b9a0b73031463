// PROVISIONAL (replaced by the seams branch).
#include <vfgate/vfmgr/reconcile.hpp>

namespace vfgate::vfmgr {

Result<Observed> observe(const ReconcileOptions& opts, const Say& warn) {
    auto pfs = read_pfs(opts.paths, read_host_net(opts.paths));
    if (!pfs) return tl::unexpected(pfs.error());
    auto assignments = read_state(opts.state_file);
    if (!assignments) return tl::unexpected(assignments.error());
    Observed o;
    o.assignments = std::move(*assignments);
    o.pfs = std::move(*pfs);
    for (ObservedPf& pf : o.pfs) {
        if (auto m = read_eswitch_mode(pf.pci); m) pf.eswitch_mode = *m;
        if (auto r = read_vf_attrs(pf); !r) warn(pf.pci + ": " + r.error().to_string());
    }
    return o;
}

Result<Plan> plan_config(const config::Config& cfg, const Observed& observed,
                         const ReconcileOptions& opts) {
    return plan(desired_from_config(cfg), observed, {.force = opts.force});
}

Result<ReconcileOutcome> reconcile(const config::Config& cfg, const ReconcileOptions& opts,
                                   const Say& say) {
    auto o = observe(opts, say);
    if (!o) return tl::unexpected(o.error());
    auto p = plan_config(cfg, *o, opts);
    if (!p) return tl::unexpected(p.error());
    ReconcileOutcome out;
    out.notes = p->notes;
    if (p->actions.empty()) return out;
    auto ex = host_executor(opts.paths);
    auto done = apply(p->actions, *ex, say);
    if (!done) return tl::unexpected(done.error());
    if (auto w = write_state(opts.state_file, p->assignments); !w) return tl::unexpected(w.error());
    out.done = done->done;
    auto o2 = observe(opts, say);
    if (!o2) return tl::unexpected(o2.error());
    auto again = plan_config(cfg, *o2, opts);
    if (!again) return tl::unexpected(again.error());
    if (!again->actions.empty()) {
        std::string left;
        for (const auto& a : again->actions) left += "\n  " + describe(a);
        return fail(ErrorKind::kConflict, "verify: still differs:" + left);
    }
    return out;
}

}  // namespace vfgate::vfmgr
