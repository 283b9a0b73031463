#pragma once
// Carrying out a plan: each action through an Executor (the host adapter, or a fake in tests),
// in order; when one fails, the actions already done are undone in reverse (each action's
// inverse is the same action from `to` back to `from`), so a failed apply leaves the PF as it
// found it. Called on one control thread.
//
// Undo is best effort and says what it could not restore. A VF count changed back recreates
// the VFs blank; the count action's `restore` list then sets their earlier attributes and
// drivers again.

#include <functional>
#include <string>
#include <vector>

#include <vfgate/common/error.hpp>
#include <vfgate/vfmgr/model.hpp>

namespace vfgate::vfmgr {

class Executor {
  public:
    virtual ~Executor() = default;
    virtual Result<void> run(const Action& a) = 0;
};

// The action that undoes `a`.
Action inverse(const Action& a);

struct ApplyOutcome {
    std::size_t done = 0;                  // actions carried out (before a failure, if any)
    std::vector<std::string> undo_failed;  // rollback steps that failed, described
};

// Runs `actions`; `log` hears of each one done ("done: ...") and each undone ("undone: ...").
// On failure the error names the failed action and says whether rollback was complete.
Result<ApplyOutcome> apply(const std::vector<Action>& actions, Executor& ex,
                           const std::function<void(const std::string&)>& log);

}  // namespace vfgate::vfmgr
