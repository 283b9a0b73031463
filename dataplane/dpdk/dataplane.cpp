#include "dataplane.hpp"

#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <spdlog/spdlog.h>

#include "offload_rte.hpp"
#include "telemetry.hpp"

namespace vfgate::dataplane {
namespace {

// The process holding a lock on the EAL config file of `runtime_dir`, as a primary DPDK process
// does for its whole life: then the file prefix is taken. No pid when nobody holds it (a stale
// directory, --in-memory, or a failure before EAL chose a directory).
std::optional<pid_t> config_lock_holder(const std::filesystem::path& runtime_dir) {
    if (runtime_dir.empty()) return std::nullopt;
    int fd = ::open((runtime_dir / "config").c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return std::nullopt;
    struct flock probe {};
    probe.l_type = F_WRLCK;  // would a write lock on the whole file conflict with someone's?
    probe.l_whence = SEEK_SET;
    int r = ::fcntl(fd, F_GETLK, &probe);
    ::close(fd);
    if (r != 0 || probe.l_type == F_UNLCK) return std::nullopt;
    return probe.l_pid;
}

}  // namespace

Dataplane::~Dataplane() { stop(); }

Result<void> Dataplane::start(const config::Config& cfg, std::string config_path,
                              const std::string& log_level) {
    cfg_ = cfg;
    config_path_ = std::move(config_path);
    auto plan = plan_ports(cfg_, pci_of_netdev);
    if (!plan) return tl::unexpected(plan.error());
    for (const auto& w : plan->warnings) spdlog::warn("{}", w);
    auto eal = plan_eal(cfg_, *plan, log_level);
    file_prefix_ = eal.file_prefix;
    std::string line;
    for (const auto& a : eal.args) line += a + " ";
    spdlog::info("EAL: {}", line);
    // A vhost-user socket left by a crashed run would make the PMD's bind fail.
    for (const auto& p : plan->ports) {
        if (!p.vhost_socket.empty()) {
            ::mkdir(config::run_dir(cfg_).c_str(), 0755);
            ::unlink(p.vhost_socket.c_str());
        }
    }
    std::vector<char*> argv;
    argv.reserve(eal.args.size());
    for (auto& a : eal.args) argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
        const int err = rte_errno;  // 0 where EAL fails without setting it
        const std::filesystem::path runtime = rte_eal_get_runtime_dir();
        if (auto pid = config_lock_holder(runtime); pid) {
            // The runtime directory is the other process's: leave it alone.
            return fail(ErrorKind::kConflict, "EAL init failed: the file prefix " +
                                                  runtime.filename().string() +
                                                  " is in use by another DPDK process (pid " +
                                                  std::to_string(*pid) + ")");
        }
        std::string why = err != 0 ? rte_strerror(err) : "the EAL messages above say why";
        remove_runtime_dir();
        if (cfg_.dataplane->hugepages && (err == ENOMEM || err == EACCES)) {
            why += " (no free hugepages? run scripts/setup, or set dataplane.hugepages: false)";
        }
        return fail(ErrorKind::kSystem, "EAL init failed: " + why);
    }
    eal_up_ = true;
    // The prefix EAL used: eal_args may have replaced ours.
    file_prefix_ = std::filesystem::path(rte_eal_get_runtime_dir()).filename().string();
    started_ = std::chrono::steady_clock::now();
    auto up = bring_up(*plan);
    if (!up) {
        stop();
        return up;
    }
    register_telemetry(*this);
    return {};
}

Result<void> Dataplane::bring_up(const PortPlan& plan) {
    const auto& workers = cfg_.dataplane->worker_cores;
    std::size_t sz = rte_rcu_qsbr_get_memsize(static_cast<std::uint32_t>(workers.size()));
    rcu_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("vfgate_rcu", sz, RTE_CACHE_LINE_SIZE));
    if (rcu_ == nullptr) return fail(ErrorKind::kSystem, "no memory for RCU state");
    rte_rcu_qsbr_init(rcu_, static_cast<std::uint32_t>(workers.size()));
    for (std::size_t i = 0; i < workers.size(); ++i) {
        auto w = std::make_unique<Worker>(static_cast<unsigned>(i));
        w->lcore = static_cast<unsigned>(workers[i]);
        w->current = &current_;
        w->stop = &stop_;
        w->rcu = rcu_;
        rte_rcu_qsbr_thread_register(rcu_, w->index);
        workers_.push_back(std::move(w));
    }
    auto pool = create_mempool(*cfg_.dataplane, plan, static_cast<unsigned>(workers.size()));
    if (!pool) return tl::unexpected(pool.error());
    pool_ = *pool;
    offload_ = std::make_unique<offload::FlowTable>(
        offload::make_rte_flow_backend([this](const std::string& name) {
            const OpenPort* p = find(name);
            return p != nullptr ? std::optional(p->dpdk_port) : std::nullopt;
        }));
    for (const auto& spec : plan.ports) {
        if (auto r = add_port(spec, false); !r) return r;
    }
    if (auto r = prepare_firewalls(cfg_); !r) return r;
    auto snap = make_snapshot(cfg_);
    if (!snap) return tl::unexpected(snap.error());
    publish_offloaded(cfg_, std::move(*snap));
    commit_firewalls(cfg_);
    for (auto& w : workers_) {
        if (int r = rte_eal_remote_launch(run_worker, w.get(), w->lcore); r != 0) {
            return fail(ErrorKind::kSystem,
                        "launch worker on core " + std::to_string(w->lcore) + ": " + dpdk_error(r));
        }
    }
    running_ = true;
    spdlog::info("dataplane up: {} ports, {} workers on cores {}", ports_.size(), workers_.size(),
                 [&] {
                     std::string s;
                     for (auto& w : workers_) {
                         s += (s.empty() ? "" : ",") + std::to_string(w->lcore);
                     }
                     return s;
                 }());
    return {};
}

Result<void> Dataplane::add_port(const PortSpec& spec, bool hotplug) {
    auto p = open_port(spec, static_cast<unsigned>(workers_.size()), pool_, hotplug);
    if (!p) return tl::unexpected(p.error());
    for (auto& w : workers_) {
        if (auto r = attach_tx_buffer(*w, p->dpdk_port, static_cast<int>(rte_socket_id())); !r) {
            close_port(*p);
            return r;
        }
    }
    assign_rx(*p);
    // Before anything else on the uplink's NIC: no flow a previous run left stays.
    if (spec.role == PortRole::kUplink) offload_->open_port(spec.name, p->dpdk_port, p->driver);
    ports_.push_back(std::move(*p));
    return {};
}

void Dataplane::assign_rx(const OpenPort& p) {
    // A queue keeps its worker for as long as it exists, so that no two workers ever poll it
    // while they switch snapshots; new queues go to the least loaded worker.
    std::vector<unsigned> load(workers_.size());
    for (const auto& [key, w] : rx_owner_) ++load[w];
    for (std::uint16_t q = 0; q < p.spec.rx_queues; ++q) {
        auto w = static_cast<unsigned>(std::min_element(load.begin(), load.end()) - load.begin());
        rx_owner_[{p.spec.name, q}] = w;
        ++load[w];
    }
}

OpenPort* Dataplane::find(const std::string& name) {
    for (auto& p : ports_) {
        if (p.spec.name == name) return &p;
    }
    return nullptr;
}

Result<std::unique_ptr<Snapshot>> Dataplane::make_snapshot(const config::Config& cfg,
                                                           bool running_firewalls) {
    auto table = SwitchTable::build(cfg);
    if (!table) return tl::unexpected(table.error());
    auto s = std::make_unique<Snapshot>();
    s->table = std::move(*table);
    s->rx.resize(workers_.size());
    for (const PortInfo& info : s->table.ports()) {
        OpenPort* p = find(info.name);
        if (p == nullptr) return fail(ErrorKind::kInternal, "no open port for " + info.name);
        PortIdx idx{static_cast<std::uint16_t>(s->dpdk_port.size())};
        s->dpdk_port.push_back(p->dpdk_port);
        for (std::uint16_t q = 0; q < p->spec.rx_queues; ++q) {
            s->rx[rx_owner_.at({p->spec.name, q})].push_back(RxQueue{p->dpdk_port, q, idx});
        }
    }
    if (auto r = add_firewalls(cfg, *s, running_firewalls); !r) return tl::unexpected(r.error());
    return s;
}

void Dataplane::publish(std::unique_ptr<Snapshot> next) {
    next->generation = ++generation_;
    const Snapshot* old = current_.exchange(next.release(), std::memory_order_acq_rel);
    if (running_) {
        // Every worker switches at the start of a pass and flushes what it buffered under the
        // old snapshot first; after that and a grace period, nothing refers to the old one.
        for (auto& w : workers_) {
            while (w->adopted.load(std::memory_order_acquire) < generation_) {
                std::this_thread::sleep_for(std::chrono::microseconds(20));
            }
        }
        rte_rcu_qsbr_synchronize(rcu_, RTE_QSBR_THRID_INVALID);
    }
    delete old;
}

void Dataplane::publish_offloaded(const config::Config& cfg, std::unique_ptr<Snapshot> next) {
    for (const auto& u : cfg.dataplane->uplinks) offload_->set_enabled(u.name, u.offload);
    offload_->update(offload::plan(cfg), [&] {
        publish(std::move(next));
        return generation_;
    });
}

OffloadReply Dataplane::offload() const {
    std::lock_guard lock(mu_);
    return offload_ ? offload_->report() : OffloadReply{};
}

void Dataplane::stop() {
    unregister_telemetry();
    std::unique_lock lock(mu_);
    if (running_) {
        stop_.store(true, std::memory_order_relaxed);
        rte_eal_mp_wait_lcore();  // workers flush their TX buffers on the way out
        running_ = false;
        spdlog::info("workers stopped");
    }
    if (offload_) offload_->teardown();
    offload_.reset();
    for (const auto& p : ports_) close_port(p);  // a net_pcap TX file is complete after this
    ports_.clear();
    delete current_.exchange(nullptr);
    firewalls_.clear();
    pending_firewalls_.clear();
    conntrack_.clear();
    verdicts_.clear();
    for (auto& w : workers_) {
        for (std::uint16_t p = 0; p < RTE_MAX_ETHPORTS; ++p) rte_free(detach_tx_buffer(*w, p));
    }
    workers_.clear();
    if (pool_ != nullptr) rte_mempool_free(pool_);
    pool_ = nullptr;
    rte_free(rcu_);
    rcu_ = nullptr;
    bool cleanup = eal_up_;
    eal_up_ = false;
    lock.unlock();  // a telemetry reader may wait on mu_; EAL cleanup must not wait on it
    if (cleanup) {
        rte_eal_cleanup();
        remove_runtime_dir();
    }
}

void Dataplane::remove_runtime_dir() const {
    // EAL leaves its runtime directory (config, memory maps, telemetry socket) behind, also when
    // its init fails; it is ours alone (our file prefix), so remove it.
    std::filesystem::path runtime = rte_eal_get_runtime_dir();
    std::error_code ec;
    if (runtime.filename().string() == file_prefix_) std::filesystem::remove_all(runtime, ec);
}

}  // namespace vfgate::dataplane
