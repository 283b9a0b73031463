#pragma once
// PROVISIONAL (replaced by the seams branch): what a reload of the dataplane takes.
#include <string>
#include <vector>

#include <vfgate/config/config.hpp>

namespace vfgate::dataplane {

struct ReloadPlan {
    std::vector<std::string> restart_keys;
    std::vector<std::string> added, removed, updated;
    std::vector<std::string> firewalls_changed;
    bool conntrack_timeouts_changed = false;
    bool needs_restart() const { return !restart_keys.empty(); }
    bool empty() const;
};

ReloadPlan plan_reload(const config::Config& current, const config::Config& next);

}  // namespace vfgate::dataplane
