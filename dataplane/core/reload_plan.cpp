// PROVISIONAL (replaced by the seams branch).
#include <map>

#include <vfgate/dataplane/reload_plan.hpp>

namespace vfgate::dataplane {

bool ReloadPlan::empty() const {
    return restart_keys.empty() && added.empty() && removed.empty() && updated.empty() &&
           firewalls_changed.empty() && !conntrack_timeouts_changed;
}

ReloadPlan plan_reload(const config::Config& current, const config::Config& next) {
    ReloadPlan p;
    const auto& a = *current.dataplane;
    const auto& b = *next.dataplane;
    auto check = [&](bool same, const char* key) {
        if (!same) p.restart_keys.push_back(std::string("dataplane.") + key);
    };
    check(a.main_core == b.main_core, "main_core");
    check(a.worker_cores == b.worker_cores, "worker_cores");
    check(a.memory_mb == b.memory_mb, "memory_mb");
    check(a.hugepages == b.hugepages, "hugepages");
    check(a.control_socket == b.control_socket, "control_socket");
    check(a.eal_args == b.eal_args, "eal_args");
    check(a.uplinks == b.uplinks, "uplinks");
    check(a.mbufs == b.mbufs, "mbufs");
    check(a.conntrack.capacity == b.conntrack.capacity, "conntrack.capacity");
    p.conntrack_timeouts_changed = a.conntrack.timeouts != b.conntrack.timeouts;
    auto nics = [](const config::Config& c) {
        std::map<std::string, config::Nic> m;
        for (const auto& g : c.guests) {
            for (const auto& n : g.nics) {
                if (is_software_switched(c, n)) m[g.name + "/" + n.name] = n;
            }
        }
        return m;
    };
    auto before = nics(current);
    auto after = nics(next);
    for (const auto& [name, n] : before) {
        auto it = after.find(name);
        if (it == after.end()) {
            p.removed.push_back(name);
            continue;
        }
        auto x = n;
        auto y = it->second;
        if (x.firewall != y.firewall) p.firewalls_changed.push_back(name);
        x.firewall.reset();
        y.firewall.reset();
        if (x != y) p.updated.push_back(name);
    }
    for (const auto& [name, n] : after) {
        if (!before.contains(name)) p.added.push_back(name);
    }
    return p;
}

}  // namespace vfgate::dataplane
