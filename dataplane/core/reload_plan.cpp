#include <algorithm>
#include <map>

#include <vfgate/dataplane/reload_plan.hpp>

namespace vfgate::dataplane {
namespace {

// What an uplink's port depends on (`offload` changes live, without touching the port).
bool same_port(const config::Uplink& a, const config::Uplink& b) {
    return a.name == b.name && a.device == b.device && a.rx_queues == b.rx_queues && a.mtu == b.mtu;
}

std::vector<std::string> restart_keys(const config::Dataplane& a, const config::Dataplane& b) {
    std::vector<std::string> keys;
    auto check = [&](bool same, const char* key) {
        if (!same) keys.push_back(std::string("dataplane.") + key);
    };
    check(a.main_core == b.main_core, "main_core");
    check(a.worker_cores == b.worker_cores, "worker_cores");
    check(a.memory_mb == b.memory_mb, "memory_mb");
    check(a.hugepages == b.hugepages, "hugepages");
    check(a.control_socket == b.control_socket, "control_socket");
    check(a.eal_args == b.eal_args, "eal_args");
    check(std::equal(a.uplinks.begin(), a.uplinks.end(), b.uplinks.begin(), b.uplinks.end(),
                     same_port),
          "uplinks");
    check(a.mbufs == b.mbufs, "mbufs");
    check(a.conntrack.capacity == b.conntrack.capacity, "conntrack.capacity");
    check(a.verdict_cache == b.verdict_cache, "verdict_cache");
    return keys;
}

// What the dataplane makes of a guest NIC it switches: what its port and its switch entry
// depend on, and what its filter depends on.
struct SwitchedNic {
    const config::Nic* nic = nullptr;
    std::string vhost_socket;  // type vhost-user
    std::int64_t vf = -1;      // type vf: the index, assigned if `auto`
    const config::Pf* pf = nullptr;

    bool same_port(const SwitchedNic& o) const {
        const config::Nic& a = *nic;
        const config::Nic& b = *o.nic;
        bool same_pf = (pf == nullptr) == (o.pf == nullptr) &&
                       (pf == nullptr ||
                        (pf->device == o.pf->device && pf->eswitch_mode == o.pf->eswitch_mode));
        return a.type == b.type && a.devargs == b.devargs && a.pf == b.pf && same_pf &&
               vf == o.vf && vhost_socket == o.vhost_socket && a.uplink == b.uplink &&
               a.mac == b.mac && a.vlan == b.vlan;
    }
};

// The ports of a config by name, in the order the dataplane opens them: uplinks, then the
// switched guest NICs in config order.
struct Ports {
    std::vector<std::string> order;
    std::map<std::string, const config::Uplink*> uplinks;
    std::map<std::string, SwitchedNic> nics;

    explicit Ports(const config::Config& cfg) {
        if (cfg.dataplane) {
            for (const auto& up : cfg.dataplane->uplinks) {
                order.push_back(up.name);
                uplinks[up.name] = &up;
            }
        }
        const auto vfs = config::assign_vfs(cfg);
        for (std::size_t g = 0; g < cfg.guests.size(); ++g) {
            const config::Guest& guest = cfg.guests[g];
            for (std::size_t n = 0; n < guest.nics.size(); ++n) {
                const config::Nic& nic = guest.nics[n];
                if (!config::is_software_switched(cfg, nic)) continue;
                SwitchedNic s;
                s.nic = &nic;
                if (nic.type == config::NicType::kVhostUser) {
                    s.vhost_socket = config::vhost_socket_path(cfg, guest, nic);
                }
                if (nic.type == config::NicType::kVf) {
                    s.vf = vfs[g][n];
                    auto pf = std::find_if(cfg.pfs.begin(), cfg.pfs.end(),
                                           [&](const config::Pf& p) { return p.name == nic.pf; });
                    if (pf != cfg.pfs.end()) s.pf = &*pf;
                }
                std::string name = guest.name + "/" + nic.name;
                order.push_back(name);
                nics.emplace(std::move(name), s);
            }
        }
    }

    bool contains(const std::string& name) const {
        return uplinks.contains(name) || nics.contains(name);
    }
};

}  // namespace

bool ReloadPlan::empty() const {
    return restart_keys.empty() && added.empty() && removed.empty() && updated.empty() &&
           firewalls_changed.empty() && addresses_changed.empty() && !conntrack_timeouts_changed;
}

ReloadPlan plan_reload(const config::Config& current, const config::Config& next) {
    ReloadPlan plan;
    if (current.dataplane && next.dataplane) {
        plan.restart_keys = restart_keys(*current.dataplane, *next.dataplane);
        plan.conntrack_timeouts_changed =
            current.dataplane->conntrack.timeouts != next.dataplane->conntrack.timeouts;
    } else if (current.dataplane.has_value() != next.dataplane.has_value()) {
        plan.restart_keys.emplace_back("dataplane");
    }
    const Ports before(current);
    const Ports after(next);
    for (const auto& name : after.order) {
        if (!before.contains(name)) plan.added.push_back(name);
    }
    for (const auto& name : before.order) {
        if (!after.contains(name)) {
            plan.removed.push_back(name);
            continue;
        }
        if (auto up = before.uplinks.find(name); up != before.uplinks.end()) {
            auto other = after.uplinks.find(name);
            if (other == after.uplinks.end() || !same_port(*up->second, *other->second)) {
                plan.updated.push_back(name);
            }
            continue;
        }
        const SwitchedNic& a = before.nics.at(name);
        auto b = after.nics.find(name);
        if (b == after.nics.end()) {  // an uplink now: a different port altogether
            plan.updated.push_back(name);
            continue;
        }
        if (!a.same_port(b->second)) plan.updated.push_back(name);
        if (a.nic->firewall != b->second.nic->firewall) plan.firewalls_changed.push_back(name);
        if (a.nic->addresses != b->second.nic->addresses) plan.addresses_changed.push_back(name);
    }
    return plan;
}

}  // namespace vfgate::dataplane
