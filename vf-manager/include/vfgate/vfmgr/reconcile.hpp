#pragma once
// Reconciling the host's VFs with a config: observe the host, plan (plan.hpp), apply the plan
// through the host executor (rolled back on failure, apply.hpp), record the assignments, and
// verify by observing again. The one path both `vfgate-vf` and the control daemon take. Called
// on one control thread; every function does blocking sysfs, netlink and file I/O.
//
// What happens is said as it happens, one line at a time, through a Say callback: the plan's
// notes, "done: ACTION" for each action carried out ("undone: ..." during a rollback), and the
// summary ("applied: 3 actions", "nothing to do", "released web: 2 actions").

#include <functional>
#include <string>
#include <vector>

#include <vfgate/common/error.hpp>
#include <vfgate/config/config.hpp>
#include <vfgate/vfmgr/host.hpp>
#include <vfgate/vfmgr/model.hpp>
#include <vfgate/vfmgr/plan.hpp>

namespace vfgate::vfmgr {

using Say = std::function<void(const std::string&)>;

struct ReconcileOptions {
    HostPaths paths;
    std::string state_file = kDefaultStateFile;
    bool force = false;  // touch a PF the host depends on (PlanOptions::force)
    // reconcile and release hear here of a VF attribute that can't be read, as observe's
    // `warn` does ("0000:01:00.0: ..."); empty: not told.
    Say warn;
};

// PFs, their VFs with attributes and eswitch modes, and the assignments; a VF attribute that
// can't be read is said through `warn` (the PF's PCI address, then why) and left absent.
Result<Observed> observe(const ReconcileOptions& opts, const Say& warn);

// plan(desired_from_config(cfg), observed, {force})
Result<Plan> plan_config(const config::Config& cfg, const Observed& observed,
                         const ReconcileOptions& opts);

struct ReconcileOutcome {
    std::size_t done = 0;            // actions carried out
    std::vector<std::string> notes;  // the plan's notes (also said, before any action)
};

// observe, plan, apply (rolled back on failure), write the assignments to the state file, then
// observe again and fail (kConflict, one line "verify: still differs: ACTION" per action still
// pending) if anything still differs. Each action done is said through `say`. Nothing to do:
// done == 0, "nothing to do" said, and the state file is left as it is.
Result<ReconcileOutcome> reconcile(const config::Config& cfg, const ReconcileOptions& opts,
                                   const Say& say);

// Scrubs a guest's VFs and drops its assignments (today's `vfgate-vf release`): NotFound when
// the guest holds no VF. Not verified: a scrubbed VF is nobody's.
Result<ReconcileOutcome> release(const std::string& guest, const ReconcileOptions& opts,
                                 const Say& say);

}  // namespace vfgate::vfmgr
