// TEMPORARY STUB (branch offload only): the planner's real implementation comes from main.
// Drop this file when merging main.
#include "offload_plan.hpp"

namespace vfgate::dataplane::offload {

Plan plan(const config::Config&) { return {}; }

}  // namespace vfgate::dataplane::offload
