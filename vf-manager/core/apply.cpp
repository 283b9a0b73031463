#include <vfgate/vfmgr/apply.hpp>

namespace vfgate::vfmgr {

Action inverse(const Action& a) {
    Action r = a;
    std::swap(r.from, r.to);
    return r;
}

Result<ApplyOutcome> apply(const std::vector<Action>& actions, Executor& ex,
                           const std::function<void(const std::string&)>& log) {
    ApplyOutcome out;
    for (const Action& a : actions) {
        auto r = ex.run(a);
        if (r) {
            ++out.done;
            log("done: " + describe(a));
            continue;
        }
        // Undo what was done, newest first; keep going past a failed step.
        for (std::size_t i = out.done; i-- > 0;) {
            const Action undo = inverse(actions[i]);
            if (auto u = ex.run(undo); u) {
                log("undone: " + describe(undo));
            } else {
                out.undo_failed.push_back(describe(undo) + ": " + u.error().to_string());
                continue;
            }
            for (const Action& again : actions[i].restore) {
                if (auto u = ex.run(again); u) {
                    log("restored: " + describe(again));
                } else {
                    out.undo_failed.push_back(describe(again) + ": " + u.error().to_string());
                }
            }
        }
        std::string where = "step " + std::to_string(out.done + 1) + " of " +
                            std::to_string(actions.size()) + " failed; ";
        where += out.undo_failed.empty()
                     ? "rolled back the " + std::to_string(out.done) + " done before it"
                     : "rollback incomplete (" + std::to_string(out.undo_failed.size()) + " of " +
                           std::to_string(out.done) + " undo steps failed)";
        return tl::unexpected(std::move(r.error()).context(describe(a)).context(where));
    }
    return out;
}

}  // namespace vfgate::vfmgr
