// Starting, stopping and observing guests from outside their supervisor (supervise.hpp).
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <vfgate/common/file.hpp>
#include <vfgate/common/process.hpp>
#include <vfgate/vm-launcher/qmp.hpp>
#include <vfgate/vm-launcher/restart.hpp>
#include <vfgate/vm-launcher/supervise.hpp>

#include "run_dir.hpp"

namespace vfgate::vm {
namespace fs = std::filesystem;
using Json = nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using namespace rundir;

namespace {

Json plan_json(const GuestPlan& p) {
    Json unattached = Json::array();
    for (const auto& u : p.unattached) unattached.push_back({{"nic", u.nic}, {"reason", u.reason}});
    return {{"guest", p.guest},
            {"argv", p.argv},
            {"accel", p.accel == config::Accel::kKvm ? "kvm" : "tcg"},
            {"cpu_pinning", p.cpu_pinning},
            {"restart", config::to_string(p.restart)},
            {"unattached", unattached},
            {"qmp", p.paths.qmp}};
}

// The supervisor holds an exclusive lock on its pidfile while it lives.

bool socket_served(const std::string& path) {
    sockaddr_un a{};
    if (path.size() >= sizeof a.sun_path) return false;  // nothing can serve it: no such address
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    a.sun_family = AF_UNIX;
    path.copy(a.sun_path, sizeof a.sun_path - 1);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

std::string map_qmp_state(const std::string& s) {
    if (s == "running") return "running";
    if (s == "shutdown") return "shutdown";
    if (s == "internal-error" || s == "guest-panicked" || s == "io-error") return "crashed";
    return "paused";  // paused, prelaunch, suspended, inmigrate, ...
}

Result<RunPaths> existing(const std::string& run_root, const std::string& guest) {
    RunPaths p = run_paths(run_root, guest);
    if (!fs::exists(p.dir + "/" + kPlanFile)) {
        return fail(ErrorKind::kNotFound,
                    "no guest '" + guest + "' under " + run_root + " (not started by vfgate-vm)");
    }
    return p;
}

// Waits up to `t` for the supervisor to finish (it records how the guest ended).
void wait_supervisor(const RunPaths& p, std::chrono::milliseconds t) {
    const auto until = Clock::now() + t;
    while (supervisor_pid(p) != 0 && Clock::now() < until) std::this_thread::sleep_for(50ms);
}

// QEMU's pid for stop and kill: while a supervisor runs with no QEMU (it is launching one, or
// waiting to restart it), up to 5 s for QEMU to appear or the supervisor to see the stop marker
// and end; 0 when no QEMU runs then.
int qemu_pid_settled(const RunPaths& p) {
    const auto until = Clock::now() + 5s;
    int pid = qemu_pid(p);
    while (pid == 0 && supervisor_pid(p) != 0 && Clock::now() < until) {
        std::this_thread::sleep_for(50ms);
        pid = qemu_pid(p);
    }
    return pid;
}

// After stop or kill: with no supervisor left to record it (one died, or never came), the
// state file says "stopped", so that nobody takes the guest for one that should run; the stop
// marker, there for a supervisor, goes with it.
void record_stopped(const RunPaths& p, const std::string& how) {
    if (supervisor_pid(p) != 0 || qemu_pid(p) != 0) return;
    Json st = read_json(p.state).value_or(Json::object());
    const std::string s = st.value("state", "");
    if (s == "running" || s == "starting" || s == "restarting" || s == "paused") {
        st["state"] = "stopped";
        st["message"] = how + " (no supervisor ran)";
        write_json(p.state, st);
    }
    ::unlink((p.dir + "/" + kStopMarker).c_str());
}

}  // namespace

Result<GuestStatus> status(const std::string& run_root, const std::string& guest) {
    auto p = existing(run_root, guest);
    if (!p) return tl::unexpected(p.error());
    auto plan = read_json(p->dir + "/" + kPlanFile);
    if (!plan) return tl::unexpected(plan.error());
    Json state = read_json(p->state).value_or(Json::object());

    GuestStatus s;
    s.guest = guest;
    s.restart_policy = plan->value("restart", "");
    s.cpu_pinning = plan->value("cpu_pinning", std::vector<int>{});
    for (const auto& u : plan->value("unattached", Json::array())) {
        s.unattached.push_back({u.value("nic", ""), u.value("reason", "")});
    }
    s.supervisor_pid = supervisor_pid(*p);
    s.restarts = state.value("restarts", 0);
    s.accel = state.value("accel", plan->value("accel", ""));
    s.message = state.value("message", "");
    s.last_exit = state.value("last_exit", "");
    s.state = state.value("state", "stopped");
    s.pid = qemu_pid(*p);
    if (s.pid != 0) {
        s.uptime_s = std::max<std::int64_t>(0, now_s() - state.value("started_at", now_s()));
        // One budget for the whole look: a QEMU that greets and then stalls must not hold a
        // status of every guest (vfgated's, a metrics scrape) for a query timeout per query.
        const auto deadline = Clock::now() + 5s;
        const auto left = [&] {
            return std::max<std::chrono::milliseconds>(
                100ms,
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
        };
        if (auto qmp = QmpClient::connect(p->qmp, 2s)) {
            if (auto st = query_status(*qmp, left())) {
                s.state = map_qmp_state(st->status);
                if (auto accel = query_accel(*qmp, left())) s.accel = *accel;
            } else {
                s.message = "QMP: " + st.error().to_string();
            }
        } else if (s.state != "starting") {
            s.message = "QMP: " + qmp.error().to_string();
        }
    } else if (s.state == "running" || s.state == "starting" ||
               (s.state == "restarting" && s.supervisor_pid == 0)) {
        s.state = "crashed";
        s.message = "QEMU is gone" + std::string(s.supervisor_pid == 0
                                                     ? " and no supervisor runs"
                                                     : "; its supervisor is about to act");
    }
    return s;
}

std::vector<std::string> list(const std::string& run_root) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(run_root, ec)) {
        if (fs::exists(e.path() / kPlanFile)) names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

namespace {

// The supervisors start() spawned, still our children (not yet reaped).
std::mutex children_mu;
std::vector<pid_t> children;

// Reaps `pid` if it has exited; true when it is gone (reaped now, or not our child any more).
bool reaped(pid_t pid) {
    const pid_t r = ::waitpid(pid, nullptr, WNOHANG);
    return r == pid || (r < 0 && errno == ECHILD);
}

}  // namespace

std::size_t reap_supervisors() {
    std::lock_guard lock(children_mu);
    return static_cast<std::size_t>(std::erase_if(children, reaped));
}

namespace {

// Spawns the supervisor of run directory `p` (its plan.json and state.json written) and waits
// until it says the guest runs. When the supervisor fails, or doesn't get there in time, it is
// gone on return, and so is QEMU unless the supervisor was adopting it (`adopting`: someone's
// guest, left as it is).
Result<GuestStatus> run_supervisor(const RunPaths& p, const std::string& guest,
                                   const StartOptions& opts, bool adopting) {
    std::vector<std::string> argv{opts.supervisor_exe, "supervise", p.dir};
    if (adopting) argv.emplace_back("--adopt");  // never a QEMU of its own
    auto sup = proc::spawn(argv, {p.log, true});
    if (!sup) return tl::unexpected(sup.error());
    const pid_t sup_pid = *sup;
    {
        std::lock_guard lock(children_mu);
        children.push_back(sup_pid);
    }

    const auto until = Clock::now() + opts.timeout;
    for (;;) {
        std::this_thread::sleep_for(100ms);
        // Only looked at here (WNOWAIT): reap_supervisors() reaps it, maybe already (ECHILD).
        siginfo_t info{};
        const int w =
            ::waitid(P_PID, static_cast<id_t>(sup_pid), &info, WEXITED | WNOHANG | WNOWAIT);
        const bool sup_gone = (w == 0 && info.si_pid == sup_pid) || (w < 0 && errno == ECHILD);
        Json st = read_json(p.state).value_or(Json::object());
        const std::string state = st.value("state", "");
        if (state == "running") return status(fs::path(p.dir).parent_path().string(), guest);
        if (sup_gone || (state != "starting" && !state.empty())) {
            reap_supervisors();
            return fail(ErrorKind::kSystem,
                        "guest " + guest + (adopting ? " was not adopted: " : " did not start: ") +
                            st.value("message", std::string("the supervisor exited")) +
                            tail_of(p.log, 3));
        }
        if (Clock::now() > until) {
            if (w == 0) ::kill(sup_pid, SIGKILL);  // ours, not reaped: the pid is still its
            if (const int q = qemu_pid(p); q != 0 && !adopting) ::kill(q, SIGKILL);
            reap_supervisors();
            return fail(ErrorKind::kSystem,
                        "guest " + guest +
                            (adopting ? " was not adopted within " : " did not run within ") +
                            std::to_string(opts.timeout.count()) + " s; " +
                            (adopting ? "its QEMU is left running:" + tail_of(p.log, 3)
                                      : "stopped it:" + tail_of(p.dir + "/qemu.log", 5)));
        }
    }
}

}  // namespace

Result<GuestStatus> start(const GuestPlan& plan, const StartOptions& opts) {
    const RunPaths& p = plan.paths;
    std::error_code ec;
    fs::create_directories(p.dir, ec);
    if (ec) return tl::unexpected(Error::from_errno(ec.value(), "create " + p.dir));
    if (const int pid = supervisor_pid(p); pid != 0) {
        return fail(ErrorKind::kConflict,
                    "guest " + plan.guest + " is already running (supervisor pid " +
                        std::to_string(pid) + "); `vfgate-vm stop " + plan.guest + "` first");
    }
    const int running = qemu_pid(p);
    const bool adopt = running != 0;
    if (adopt) {
        // plan.json says what runs: adopting a QEMU under a plan it was not started with would
        // make status and the control daemon's plan say "as declared" of an old command line.
        const Json was = read_json(p.dir + "/" + kPlanFile).value_or(Json::object());
        if (was.contains("argv") && was["argv"] != Json(plan.argv)) {
            return fail(ErrorKind::kConflict,
                        "guest " + plan.guest + ": its QEMU (pid " + std::to_string(running) +
                            ") runs another command line than this config gives it; `vfgate-vm "
                            "stop " +
                            plan.guest + "` first, then start it");
        }
    } else {
        for (const auto& s : {p.qmp, p.serial}) {
            if (fs::exists(s) && socket_served(s)) {
                return fail(ErrorKind::kConflict,
                            s + " is served by a process that is not this guest's QEMU; "
                                "refusing to start a second guest on it");
            }
        }
    }
    ::unlink((p.dir + "/" + kStopMarker).c_str());
    write_json(p.dir + "/" + kPlanFile, plan_json(plan));
    // "starting" until the supervisor says otherwise; an adopted guest keeps its history.
    Json initial = Json{{"guest", plan.guest}, {"restarts", 0}};
    if (adopt) initial = read_json(p.state).value_or(initial);
    initial["state"] = "starting";
    write_json(p.state, initial);
    log_line(p, adopt ? "start: a supervisor to adopt the running QEMU" : "start");
    return run_supervisor(p, plan.guest, opts, adopt);
}

Result<GuestStatus> adopt(const std::string& run_root, const std::string& guest,
                          const StartOptions& opts) {
    auto p = existing(run_root, guest);
    if (!p) return tl::unexpected(p.error());
    if (const int pid = supervisor_pid(*p); pid != 0) {
        return fail(ErrorKind::kConflict, "guest " + guest + " has a supervisor (pid " +
                                              std::to_string(pid) + "): nothing to adopt");
    }
    const int qemu = qemu_pid(*p);
    if (qemu == 0) {
        return fail(ErrorKind::kNotFound,
                    "guest " + guest + ": its QEMU does not run, so there is nothing to adopt");
    }
    const Json before = read_json(p->state).value_or(Json{{"guest", guest}, {"restarts", 0}});
    Json st = before;
    st["state"] = "starting";
    write_json(p->state, st);
    log_line(*p, "adopt: QEMU pid " + std::to_string(qemu) +
                     " runs without a supervisor; a new one adopts it");
    auto r = run_supervisor(*p, guest, opts, true);
    if (r) return r;
    // The guest as it was, QMP and all; unless the supervisor recorded something (a stop).
    if (read_json(p->state).value_or(Json::object()).value("state", "") == "starting") {
        write_json(p->state, before);
    }
    if (qemu_pid(*p) == 0) {
        return fail(ErrorKind::kNotFound,
                    "guest " + guest + ": its QEMU ended before a supervisor had it");
    }
    return r;
}

std::vector<Unsupervised> unsupervised(const std::string& run_root) {
    std::vector<Unsupervised> out;
    for (const auto& name : list(run_root)) {
        const RunPaths p = run_paths(run_root, name);
        // A stop or kill under way (or one whose supervisor died): not vfgated's to undo.
        if (supervisor_pid(p) != 0 || stop_requested(p)) continue;
        if (qemu_pid(p) != 0) {
            out.push_back({name, true});
            continue;
        }
        // Both gone, the supervisor's last word "it runs" (a supervisor that ends records
        // why), and that word older than a start's moment between writing it and locking.
        struct stat st {};
        if (::stat(p.state.c_str(), &st) != 0 || now_s() - st.st_mtime < 5) continue;
        const Json state = read_json(p.state).value_or(Json::object());
        const std::string s = state.value("state", "");
        const Json plan = read_json(p.dir + "/" + kPlanFile).value_or(Json::object());
        if ((s == "running" || s == "starting" || s == "restarting") &&
            plan.value("restart", "on-failure") != "never") {
            out.push_back({name, false});
        }
    }
    return out;
}

Result<GuestStatus> stop(const std::string& run_root, const std::string& guest,
                         std::chrono::seconds timeout, const Say& say) {
    auto p = existing(run_root, guest);
    if (!p) return tl::unexpected(p.error());
    auto tell = [&](const std::string& what) {
        log_line(*p, "stop: " + what);
        say(what);
    };
    // Its whole course: the power-off, quit (5 s), SIGKILL (5 s), the supervisor (5 s), and room.
    request_stop(*p, "stop", timeout.count() + 60);
    const int pid = qemu_pid_settled(*p);
    if (pid == 0) {
        tell("QEMU is not running");
        wait_supervisor(*p, 2s);
        record_stopped(*p, "stopped by vfgate-vm");
        return status(run_root, guest);
    }
    auto watch = proc::Watch::open(pid);
    if (!watch) return tl::unexpected(watch.error());
    const auto t0 = Clock::now();
    auto qmp = QmpClient::connect(p->qmp, 5s);
    // A guest that does not run (crashed, paused) can't act on a power-down request: quit.
    std::optional<QmpStatus> st;
    if (qmp) {
        if (auto s = query_status(*qmp)) st = *s;
    }
    if (st && !st->running) {
        tell("the guest is " + st->status + ": no power-off to wait for");
    } else if (qmp && qmp->execute("system_powerdown")) {
        tell("system_powerdown sent; waiting up to " + std::to_string(timeout.count()) +
             " s for the guest to power off");
        if (watch->wait_exit(timeout)) {
            tell("the guest powered off after " +
                 std::to_string(
                     std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t0).count()) +
                 " s");
        }
    } else {
        tell("QMP unusable (" +
             (qmp ? std::string("system_powerdown failed") : qmp.error().to_string()) + ")");
    }
    if (!watch->wait_exit(0ms)) {
        if (qmp && qmp->execute("quit")) {
            tell(st && !st->running ? "quit sent to QEMU"
                                    : "no power-off in time: quit sent to QEMU");
        }
        if (!watch->wait_exit(5s)) {
            tell("QEMU still runs: SIGKILL");
            ::kill(pid, SIGKILL);
            watch->wait_exit(5s);
        }
    }
    wait_supervisor(*p, 5s);
    record_stopped(*p, "stopped by vfgate-vm");
    return status(run_root, guest);
}

Result<GuestStatus> kill(const std::string& run_root, const std::string& guest, const Say& say) {
    auto p = existing(run_root, guest);
    if (!p) return tl::unexpected(p.error());
    request_stop(*p, "kill", 60);
    if (const int pid = qemu_pid_settled(*p); pid != 0) {
        log_line(*p, "kill: SIGKILL to QEMU pid " + std::to_string(pid));
        say("SIGKILL to QEMU pid " + std::to_string(pid));
        if (auto w = proc::Watch::open(pid)) {
            ::kill(pid, SIGKILL);
            w->wait_exit(5s);
        }
    } else {
        say("QEMU is not running");
    }
    wait_supervisor(*p, 5s);
    record_stopped(*p, "killed by vfgate-vm");
    return status(run_root, guest);
}

}  // namespace vfgate::vm
