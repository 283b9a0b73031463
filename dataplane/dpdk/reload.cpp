// config.reload: apply a changed config to the running dataplane without a restart.
//
// Guest NICs may come, go or change (firewalls included: changed rule sets are compiled first,
// then published with the snapshot; connections they now deny are cut on their next packet,
// docs/firewall.md); conntrack timeouts change live; everything else in `dataplane` needs a
// restart. Order:
// ports that go (or whose device changes) leave first, in a published snapshot that no longer
// has them, because a new NIC may reuse a departed NIC's device name; then new ports open and the
// final snapshot is published. If a new port fails to open, the ones opened are closed, the
// departed ones reopened as they were, and the previous snapshot republished.

#include <algorithm>
#include <set>

#include <rte_malloc.h>
#include <spdlog/spdlog.h>

#include <vfgate/config/load.hpp>
#include <vfgate/dataplane/reload_plan.hpp>

#include "dataplane.hpp"

namespace vfgate::dataplane {
namespace {

config::Config without_ports(config::Config cfg, const std::set<std::string>& names) {
    for (auto& g : cfg.guests) {
        std::erase_if(g.nics,
                      [&](const config::Nic& n) { return names.contains(g.name + "/" + n.name); });
    }
    return cfg;
}

// What a rejected file gets over the control socket, whose peers may not read the file (the
// socket is group-accessible): where the errors are, not what they quote ("found X", unknown
// keys), which could be the file's content. The log, root's, has every diagnostic.
std::string rejected(const std::string& file, const std::vector<config::Diagnostic>& errors) {
    std::string where;
    std::size_t shown = 0;
    for (const auto& d : errors) {
        spdlog::error("reload: {}", d.to_string());
        if (d.location.line == 0 && d.path.empty()) {
            // About the file as a whole (can't open, not a regular file, too big): no content.
            where += (where.empty() ? "" : "; ") + d.message;
        } else if (++shown <= 10) {
            where += (where.empty() ? "line " : "; line ") + std::to_string(d.location.line) + ":" +
                     std::to_string(d.location.column);
        }
    }
    if (shown > 10) where += "; ...";
    return "config rejected, nothing changed: " + std::to_string(errors.size()) + " error(s) in " +
           file + " (" + where + "); the dataplane's log lists them, as does `vfgatectl validate " +
           file + "`";
}

}  // namespace

void Dataplane::remove_ports(const std::vector<std::string>& names) {
    std::vector<TxBuffer*> buffers;
    std::vector<OpenPort> gone;
    for (const auto& name : names) {
        OpenPort* p = find(name);
        if (p == nullptr) continue;
        for (auto& w : workers_) buffers.push_back(detach_tx_buffer(*w, p->dpdk_port));
        gone.push_back(*p);
        std::erase_if(ports_, [&](const OpenPort& x) { return x.spec.name == name; });
        std::erase_if(rx_owner_, [&](const auto& kv) { return kv.first.first == name; });
    }
    if (running_) rte_rcu_qsbr_synchronize(rcu_, RTE_QSBR_THRID_INVALID);
    for (auto* b : buffers) rte_free(b);
    for (const auto& p : gone) {
        offload_->close_port(p.spec.name);  // its flows, and flows to or from it
        close_port(p);
        for (auto& w : workers_) {
            PortCounters& c = w->ports[p.dpdk_port];
            const auto failed = c.drops[static_cast<std::size_t>(DropReason::kTxFailed)].get();
            w->retired.rx += c.rx_packets.get();
            w->retired.sent += c.tx_packets.get() - std::min(c.tx_packets.get(), failed);
            for (const auto& d : c.drops) w->retired.drops += d.get();
            c.reset();
        }
        spdlog::info("port {} removed", p.spec.name);
    }
}

Result<ReloadResult> Dataplane::reload(const std::string& path) {
    std::lock_guard lock(mu_);
    const std::string file = path.empty() ? config_path_ : path;
    auto loaded = config::load_file(file);
    if (!loaded.ok()) return fail(ErrorKind::kInvalidArgument, rejected(file, loaded.errors));
    if (!loaded.config->dataplane) {
        return fail(ErrorKind::kInvalidArgument,
                    file + ": has no dataplane section; nothing changed");
    }
    pin_vfs_from_state(*loaded.config);
    auto result = reload_locked(*loaded.config);
    if (result) config_path_ = file;
    return result;
}

Result<ReloadResult> Dataplane::reload(const config::Config& next) {
    std::lock_guard lock(mu_);
    if (!next.dataplane) {
        return fail(ErrorKind::kInvalidArgument,
                    "the config has no dataplane section; nothing changed");
    }
    return reload_locked(next);
}

Result<ReloadResult> Dataplane::reload_locked(const config::Config& next) {
    const ReloadPlan diff = plan_reload(cfg_, next);
    if (diff.needs_restart()) {
        std::string keys;
        for (const auto& k : diff.restart_keys) keys += (keys.empty() ? "" : ", ") + k;
        return fail(ErrorKind::kUnsupported,
                    "changed " + keys + ": these need a restart of the dataplane; nothing changed");
    }
    auto plan = plan_ports(next, pci_of_netdev);
    if (!plan) return tl::unexpected(std::move(plan.error()).context("nothing changed"));
    if (auto table = SwitchTable::build(next); !table) {
        return tl::unexpected(std::move(table.error()).context("nothing changed"));
    }
    // Rules compile here, before anything changes: a rule set rte_acl can't build rejects the
    // reload whole.
    if (auto r = prepare_firewalls(next); !r) {
        return tl::unexpected(std::move(r.error()).context("nothing changed"));
    }

    ReloadResult result;
    std::set<std::string> leaving;
    std::vector<PortSpec> arriving;
    std::vector<OpenPort> old_ports = ports_;
    for (const auto& p : ports_) {
        auto it = std::find_if(plan->ports.begin(), plan->ports.end(),
                               [&](const PortSpec& s) { return s.name == p.spec.name; });
        if (it == plan->ports.end() || !(*it == p.spec)) leaving.insert(p.spec.name);
    }
    for (const auto& s : plan->ports) {
        if (find(s.name) == nullptr || leaving.contains(s.name)) arriving.push_back(s);
    }
    // Updated in place: what the plan says changed (MAC, VLAN, uplink) of a port that stays
    // open. The PortSpec diff above decides what reopens: it compares devices as the host
    // resolves them, which the pure plan can't.
    for (const auto& name : diff.updated) {
        if (!leaving.contains(name)) result.updated.push_back(name);
    }

    if (!leaving.empty()) {
        auto interim = make_snapshot(without_ports(cfg_, leaving), true);
        if (!interim) {
            drop_pending_firewalls();
            return tl::unexpected(interim.error());
        }
        publish(std::move(*interim));
        remove_ports({leaving.begin(), leaving.end()});
    }
    std::vector<std::string> opened;
    for (const auto& spec : arriving) {
        if (auto r = add_port(spec, true); !r) {
            spdlog::error("reload: {}; restoring the previous ports", r.error().to_string());
            remove_ports(opened);
            drop_pending_firewalls();
            bool restored = true;
            for (const auto& p : old_ports) {
                if (leaving.contains(p.spec.name) && !add_port(p.spec, true)) restored = false;
            }
            if (auto s = make_snapshot(cfg_); s) {
                publish_offloaded(cfg_, std::move(*s));
            } else {
                spdlog::error("reload: the previous state's snapshot: {}", s.error().to_string());
                restored = false;
            }
            return tl::unexpected(
                std::move(r.error()).context(restored ? "reload failed, previous state restored"
                                                      : "reload failed, previous ports could "
                                                        "not all be restored"));
        }
        opened.push_back(spec.name);
    }
    auto final_snapshot = make_snapshot(next);
    if (!final_snapshot) {
        drop_pending_firewalls();
        return tl::unexpected(final_snapshot.error());
    }
    // The NIC's drops that go are destroyed before it, new ones created after (steering the
    // other way round).
    publish_offloaded(next, std::move(*final_snapshot));
    commit_firewalls(next);
    // Ports that come and go are the plan's; those reopened (their device changed) count as
    // updated. Removed ones are listed by name, as they left.
    result.added = diff.added;
    result.removed = diff.removed;
    std::sort(result.removed.begin(), result.removed.end());
    for (const auto& name : opened) {
        if (leaving.contains(name)) result.updated.push_back(name);
    }
    cfg_ = next;
    result.generation = generation_;
    spdlog::info("reload: generation {}: {} added, {} removed, {} updated", generation_,
                 result.added.size(), result.removed.size(), result.updated.size());
    return result;
}

}  // namespace vfgate::dataplane
