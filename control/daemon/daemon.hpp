#pragma once
// vfgated: keeps the host in the state its config declares (docs/control.md).
//
// Threads: the main thread serves the control socket (JSON lines, common/jsonl_server.hpp),
// handles signals and notices a dead dataplane or a guest's dead supervisor (a 200 ms tick); one
// apply thread carries out queued jobs (an apply, a dataplane recovery, adoptions) one at a time,
// so that a long apply (a guest booting) never stops the socket from answering. `mu_` guards
// everything both touch.

#include <array>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <vfgate/common/jsonl_server.hpp>
#include <vfgate/vm-launcher/supervise.hpp>

#include "host.hpp"
#include "metrics/metrics.hpp"

namespace vfgate::control {

struct DaemonOptions {
    std::string config_path;
    std::string metrics;  // ADDR:PORT of /metrics (--metrics); empty: the config's host.metrics
    bool force = false;   // let vf-manager touch PFs the host depends on
};

// One apply as `vfgatectl apply` and `status` show it.
struct ApplyRecord {
    std::uint64_t id = 0;
    std::string source;
    std::int64_t started = 0, finished = 0;  // Unix time; finished 0: running
    bool ok = false;
    std::string error;        // why it failed
    std::string failed_step;  // the step it failed at
    std::vector<std::string> lines;
    std::size_t steps = 0, steps_done = 0;
};

class Daemon {
  public:
    Daemon(DaemonOptions opts, Desired initial, Paths paths, Tools tools);
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;
    ~Daemon();

    void register_methods(jsonl::Server& server);
    // Serves /metrics (--metrics, else the config's host.metrics, else the default; "none":
    // not at all). An address given that can't be bound is an error; the default one busy is
    // only a warning.
    Result<void> serve_metrics();
    // Queues the first apply (adopting what runs) and starts the apply thread.
    void start();
    // Called on the main thread for each event on the stop fd: a signal (SIGHUP: re-read the
    // file) or the tick. True: stop serving (SIGTERM, SIGINT).
    bool on_signal(int signo);
    void tick();
    // Waits for the running step to end, then stops the apply thread. The dataplane and guests
    // keep running.
    void shutdown();
    // Whether the first apply has finished (for readiness).
    bool first_apply_done() const;
    std::optional<ApplyRecord> record(std::uint64_t id) const;
    // The newest apply that has finished, without its lines; none yet: nullopt.
    std::optional<ApplyRecord> last_finished() const;

  private:
    struct Job {
        // kReread: SIGHUP's apply of the config file as it is when the job starts (so that a
        // later SIGHUP while it waits needs no job of its own).
        enum class Kind { kApply, kReread, kRecover, kOrphans } kind = Kind::kApply;
        std::uint64_t id = 0;
        std::optional<Desired> desired;
        std::vector<vm::Unsupervised> orphans;
    };
    void worker();
    void run_apply(const Job& job);
    void run_recover();
    // Guests left without a supervisor: a running QEMU adopted, an ended one started again.
    void run_orphans(const std::vector<vm::Unsupervised>& orphans);
    // The declared guests left without a supervisor (vm::unsupervised), not given up on for now.
    std::vector<vm::Unsupervised> orphaned_guests();
    Result<Desired> parse(const std::string& yaml, const std::string& source) const;
    Result<Desired> read_config_file() const;
    Result<Desired> requested(const jsonl::Json& params) const;
    Result<std::uint64_t> queue_apply(Desired d);
    // A new apply record (under mu_), the last kRecordsKept kept.
    ApplyRecord& add_record(const std::string& source);
    ApplyRecord* find_record(std::uint64_t id);
    void say(std::uint64_t id, const std::string& line);

    // One scrape's worth, gathered on the exposer's thread.
    MetricsSample sample();

    Result<jsonl::Json> plan_method(const jsonl::Json& params);
    Result<jsonl::Json> apply_method(const jsonl::Json& params, const jsonl::Peer& peer);
    Result<jsonl::Json> progress_method(const jsonl::Json& params) const;
    Result<jsonl::Json> status_method();
    Result<jsonl::Json> guests_method();
    Result<jsonl::Json> vfs_method();
    Result<jsonl::Json> logs_method(const jsonl::Json& params) const;
    Result<jsonl::Json> dataplane_method(const jsonl::Json& params) const;

    DaemonOptions opts_;
    Paths paths_;
    Tools tools_;
    DataplaneProc dataplane_;
    std::int64_t started_at_ = 0;

    mutable std::mutex mu_;
    std::condition_variable wake_;
    Desired current_;  // the last desired state applied (or being applied at start)
    // The dataplane YAML an apply that then failed last started or reloaded the dataplane with
    // ("" once it stopped it): what recovery brings back, not current_'s older rules.
    std::optional<std::string> dataplane_yaml_;
    std::deque<Job> queue_;
    bool busy_ = false;        // the apply thread runs a job
    bool stopping_ = false;    // shutdown asked
    bool first_done_ = false;  // the first apply finished
    std::uint64_t next_id_ = 1;
    std::deque<ApplyRecord> records_;  // the last few applies, oldest first
    std::uint64_t applies_ = 0, apply_failures_ = 0, dataplane_restarts_ = 0;
    // The dataplane died and is not running again yet; the next recovery attempt is due then.
    bool dataplane_down_ = false;
    std::chrono::steady_clock::time_point recover_at_;
    int recover_failures_ = 0;
    std::string last_dataplane_exit_;
    // Guests whose supervisor died are looked for once a second, and the logs in the state
    // directory rotated; a failed adoption is tried again a minute later.
    std::chrono::steady_clock::time_point adopt_check_at_, rotate_at_;
    std::map<std::string, std::chrono::steady_clock::time_point> adopt_retry_at_;
    std::map<std::string, int> adopt_failures_;  // in a row, by guest
    std::array<bool, 2> rotate_failing_{};       // dataplane.log, vfgated.log
    std::int64_t last_apply_at_ = 0;
    std::thread thread_;
    std::unique_ptr<Metrics> metrics_;  // last: stopped first, before what its source reads
};

}  // namespace vfgate::control
