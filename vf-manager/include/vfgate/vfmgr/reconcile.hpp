#pragma once
// PROVISIONAL (replaced by the seams branch).
#include <functional>
#include <string>

#include <vfgate/common/error.hpp>
#include <vfgate/config/config.hpp>
#include <vfgate/vfmgr/host.hpp>
#include <vfgate/vfmgr/plan.hpp>

namespace vfgate::vfmgr {
using Say = std::function<void(const std::string&)>;
struct ReconcileOptions {
    HostPaths paths;
    std::string state_file = kDefaultStateFile;
    bool force = false;
};
Result<Observed> observe(const ReconcileOptions& opts, const Say& warn);
Result<Plan> plan_config(const config::Config& cfg, const Observed& observed,
                         const ReconcileOptions& opts);
struct ReconcileOutcome {
    std::size_t done = 0;
    std::vector<std::string> notes;
};
Result<ReconcileOutcome> reconcile(const config::Config& cfg, const ReconcileOptions& opts,
                                   const Say& say);
}  // namespace vfgate::vfmgr
