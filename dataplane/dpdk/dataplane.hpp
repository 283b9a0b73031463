#pragma once
// The dataplane process's state: EAL, ports, workers, the published snapshot, and the
// operations the control socket and telemetry offer on it.
//
// Threads: the main (control) thread calls start, reload, stop and the readers; DPDK's telemetry
// thread calls the readers too. `mu_` serializes them; workers never take it (they read the
// snapshot and their own counters only).

#include <atomic>
#include <map>
#include <memory>
#include <mutex>

#include <rte_rcu_qsbr.h>

#include <vfgate/common/error.hpp>
#include <vfgate/config/config.hpp>
#include <vfgate/dataplane/control.hpp>

#include "offload.hpp"
#include "ports.hpp"
#include "snapshot.hpp"
#include "worker.hpp"

namespace vfgate::dataplane {

// What a reload did: ports added, removed and updated, and the generation published.
using ReloadResult = ReloadReply;

// Sets `cfg`'s `vf: auto` NICs to the VFs vf-manager gave them (its state file, vfs.json in the
// config's run directory; config::pin_auto_vfs), so that the dataplane opens the representors
// of the VFs the guests have. A state file that can't be read is logged and leaves them `auto`.
void pin_vfs_from_state(config::Config& cfg);

class Dataplane {
  public:
    Dataplane() = default;
    Dataplane(const Dataplane&) = delete;
    Dataplane& operator=(const Dataplane&) = delete;
    ~Dataplane();

    // Brings everything up and launches the workers. On failure, what was set up is torn down.
    Result<void> start(const config::Config& cfg, std::string config_path,
                       const std::string& log_level);
    // Re-reads the config file (or `path` if given, which it then runs), validates it and
    // applies it as reload(next) does.
    Result<ReloadResult> reload(const std::string& path = "");
    // Applies the difference between the running config and `next` (validated) live, as
    // plan_reload (vfgate/dataplane/reload_plan.hpp) finds it; a change that needs a restart
    // is refused whole. On failure nothing changed, or the previous state was restored (the
    // error says which). The config path status reports stays.
    Result<ReloadResult> reload(const config::Config& next);
    // Stops the workers, flushes and closes every port, releases EAL. Idempotent.
    void stop();

    // The control socket's replies (vfgate/dataplane/control.hpp).
    StatusReply status() const;
    PortsReply ports() const;
    StatsReply stats() const;
    FdbReply fdb() const;
    // Firewall rules with their hit counters, per guest NIC (all, or the one named).
    Result<RulesReply> rules(const std::string& nic) const;
    // Connection tracking: counts per worker, and up to `limit` entries (of one NIC, if named).
    Result<ConntrackReply> conntrack(const std::string& nic, std::size_t limit);
    // The uplinks' NIC flows (offload): per uplink, per plan entry (COUNT read now), and the
    // last update.
    OffloadReply offload() const;

    const config::Config& config() const { return cfg_; }

  private:
    Result<ReloadResult> reload_locked(const config::Config& next);  // mu_ held
    Result<void> bring_up(const PortPlan& plan);
    // With `running_firewalls`, the firewalls running now (for an interim snapshot of the running
    // config during a reload), else those a reload prepared where there are.
    Result<std::unique_ptr<Snapshot>> make_snapshot(const config::Config& cfg,
                                                    bool running_firewalls = false);
    // Checks what a snapshot of `cfg` needs beyond validation (addresses per NIC), compiles
    // the firewalls that differ from the running ones (off the fast path; may take a while),
    // pending until commit_firewalls, and creates the connection tables if a stateful firewall
    // needs them. Nothing else changes.
    Result<void> prepare_firewalls(const config::Config& cfg);
    // Once a snapshot of `cfg` is published: its firewalls are the running ones (those they
    // replace pass their last hits on), and NICs without one are forgotten.
    void commit_firewalls(const config::Config& cfg);
    // A reload that failed: what prepare_firewalls compiled is dropped; the running ones stay.
    void drop_pending_firewalls();
    // The compiled firewall of `nic` for `fw`, pending (unless `running_only`) or running; null
    // if there is none.
    std::shared_ptr<const NicFirewall> compiled_firewall(const std::string& nic,
                                                         const config::Firewall& fw,
                                                         bool running_only) const;
    // Whether NIC `name`'s addresses in the running snapshot differ from `n`'s.
    bool identity_changed(const std::string& name, const config::Nic& n) const;
    // Fills a snapshot's firewall, identity and timeout fields (make_snapshot's
    // `running_firewalls`).
    Result<void> add_firewalls(const config::Config& cfg, Snapshot& s, bool running_firewalls);
    void publish(std::unique_ptr<Snapshot> next);
    // Publishes `next`, a snapshot of `cfg`, with the NIC flows of cfg's offload plan: the new
    // flows are created before, the old ones destroyed after (offload.hpp). Never fails: what a
    // NIC refuses runs in software.
    void publish_offloaded(const config::Config& cfg, std::unique_ptr<Snapshot> next);
    void assign_rx(const OpenPort& p);
    Result<void> add_port(const PortSpec& spec, bool hotplug);
    void remove_ports(const std::vector<std::string>& names);
    OpenPort* find(const std::string& name);
    void remove_runtime_dir() const;

    mutable std::mutex mu_;
    config::Config cfg_;
    std::string config_path_;
    std::string file_prefix_;
    std::chrono::steady_clock::time_point started_;
    bool eal_up_ = false;
    bool running_ = false;
    rte_mempool* pool_ = nullptr;
    rte_rcu_qsbr* rcu_ = nullptr;
    std::vector<OpenPort> ports_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::map<std::pair<std::string, std::uint16_t>, unsigned> rx_owner_;  // (port, queue) -> worker
    std::atomic<const Snapshot*> current_{nullptr};
    std::atomic<bool> stop_{false};
    std::uint64_t generation_ = 0;
    // The uplinks' NIC flows; created at start, torn down at stop.
    std::unique_ptr<offload::FlowTable> offload_;

    // Firewalls by NIC name ("guest/nic"): those the published snapshot uses, and those
    // compiled for a reload in progress. Zones are stable per name for the life of the process;
    // epochs are unique per compile.
    std::map<std::string, std::shared_ptr<const NicFirewall>> firewalls_, pending_firewalls_;
    std::map<std::string, std::uint16_t> zones_;
    std::uint32_t epoch_ = 0;
    std::vector<std::unique_ptr<ConnTable>> conntrack_;    // by worker, once needed
    std::vector<std::unique_ptr<VerdictCache>> verdicts_;  // by worker, once needed
    // Firewalls compiled by the last prepare_firewalls, with the ones they replace: their hit
    // counters settle once the replaced ones are out of every snapshot.
    std::vector<std::pair<std::shared_ptr<const NicFirewall>, std::shared_ptr<const NicFirewall>>>
        to_settle_;
};

}  // namespace vfgate::dataplane
