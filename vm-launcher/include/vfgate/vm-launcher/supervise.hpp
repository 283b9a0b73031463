#pragma once
// Running guests: start, stop, kill, status and the supervisor that keeps a guest to its
// restart policy (docs/vm-launcher.md).
//
// Each guest has a run directory (RunPaths) with the plan it runs (plan.json), QEMU's pidfile,
// QMP and serial sockets, the console log, and a supervisor: a small process of its own
// session that starts QEMU, waits for QMP, pins the vCPUs, and on QEMU's exit applies the
// restart policy with exponential backoff, giving up after a crash loop. The supervisor holds
// no QMP connection while the guest runs (QEMU serves one client at a time), so `status` and
// `stop` talk to QEMU directly. A supervisor that starts while its QEMU still runs adopts it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <vfgate/common/error.hpp>
#include <vfgate/vm-launcher/plan.hpp>

namespace vfgate::vm {

// The console log is copied to console.log.1 and emptied beyond this size.
inline constexpr std::int64_t kConsoleLogMax = 1 << 20;

struct GuestStatus {
    std::string guest;
    // running, paused, shutdown (powered off), crashed, stopped, starting, restarting
    std::string state;
    int pid = 0;             // QEMU's; 0 when it does not run
    int supervisor_pid = 0;  // 0 when no supervisor runs
    std::int64_t uptime_s = 0;
    int restarts = 0;
    std::string accel;  // kvm or tcg, as QEMU reports it
    std::string restart_policy;
    std::string message;    // a crash loop, a restart ahead, why it is not running
    std::string last_exit;  // how QEMU last ended ("killed by SIGKILL"); empty: never
    std::vector<int> cpu_pinning;
    std::vector<Unattached> unattached;
};

struct StartOptions {
    std::string supervisor_exe;         // runs `EXE supervise RUN_DIR`
    std::chrono::seconds timeout{120};  // until QEMU runs (TCG boots are slow on busy hosts)
};

// Starts the guest of `plan` and returns once QEMU runs with its vCPUs pinned. Refused when the
// guest already runs, or when something else serves its QMP socket. On failure nothing is
// left running, and the error carries QEMU's last words.
Result<GuestStatus> start(const GuestPlan& plan, const StartOptions& opts);

// A supervisor for guest `guest` under `run_root` whose QEMU runs without one (it was killed,
// or crashed): the plan it runs (plan.json) is kept, QEMU is not restarted, and the restart
// policy and console-log rotation apply again. Returns once the supervisor has it. Refused when
// a supervisor runs or QEMU doesn't; on failure QEMU is left running.
Result<GuestStatus> adopt(const std::string& run_root, const std::string& guest,
                          const StartOptions& opts);

// A guest that runs, or should, with no supervisor.
struct Unsupervised {
    std::string guest;
    // Its QEMU runs on: adopt() it. Else QEMU ended too, while the supervisor's last word was
    // that the guest runs, and its restart policy (always, on-failure: an exit nobody saw counts
    // as a failure) wants it started again.
    bool qemu_runs = false;
};
// The guests under `run_root` left without a supervisor (cheap: pidfiles, locks and the run
// directory's files, no QMP).
std::vector<Unsupervised> unsupervised(const std::string& run_root);

// A long-running caller of start() (vfgated) calls this now and then: it reaps the supervisors
// start() spawned that have exited since (a stopped, powered-off or given-up guest), which would
// otherwise stay zombies under it. Returns how many. Only those pids: other children (the
// dataplane) are left to their owners.
std::size_t reap_supervisors();

// The supervisor's loop (`vfgate-vm supervise RUN_DIR`): returns its exit status when the guest
// is stopped, powered off under its policy, or given up on. `adopt_only` (--adopt): it adopts
// the guest's running QEMU or exits, never starting one first.
int supervise(const std::string& run_dir, bool adopt_only = false);

using Say = std::function<void(const std::string&)>;

// system_powerdown, up to `timeout` for the guest to power off, then quit, then SIGKILL; each
// step said and logged. The supervisor does not restart a stopped guest.
Result<GuestStatus> stop(const std::string& run_root, const std::string& guest,
                         std::chrono::seconds timeout, const Say& say);
// SIGKILL to QEMU at once; the supervisor does not restart it.
Result<GuestStatus> kill(const std::string& run_root, const std::string& guest, const Say& say);

Result<GuestStatus> status(const std::string& run_root, const std::string& guest);
// Guests with a run directory, by name.
std::vector<std::string> list(const std::string& run_root);

}  // namespace vfgate::vm
