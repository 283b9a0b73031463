// The supervisor: one QEMU run after another under the restart policy (supervise.hpp).
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
#include <utility>

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

// The supervisor's life: one QEMU run after another under the restart policy.
class Supervisor {
  public:
    Supervisor(const std::string& dir, Json plan, bool adopt_only)
        : paths_(run_paths(fs::path(dir).parent_path().string(), plan.value("guest", ""))),
          plan_(std::move(plan)),
          adopt_only_(adopt_only) {}

    int run() {
        if (!lock()) return 1;
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        ::pthread_sigmask(SIG_BLOCK, &set, nullptr);  // one thread: the supervisor
        struct sigaction ignore {};
        ignore.sa_handler = SIG_IGN;
        ::sigaction(SIGPIPE, &ignore, nullptr);
        sigfd_ = ::signalfd(-1, &set, SFD_CLOEXEC);
        restarts_ = state_.value("restarts", 0);

        const std::string policy = plan_.value("restart", "on-failure");
        RestartPolicy restart(policy == "always"  ? config::RestartPolicy::kAlways
                              : policy == "never" ? config::RestartPolicy::kNever
                                                  : config::RestartPolicy::kOnFailure);
        for (;;) {
            if (qemu_pid(paths_) == 0 && stop_requested(paths_)) {
                // `stop` or `kill` came before this supervisor started QEMU: it starts none.
                ::unlink((paths_.dir + "/" + kStopMarker).c_str());
                set_state("stopped", "stopped by vfgate-vm before QEMU started");
                say("stopped as asked before QEMU started");
                return 0;
            }
            auto watch = launch();
            if (!watch && watch.error().kind() == ErrorKind::kNotFound && adopting_) {
                // --adopt and QEMU gone: the state stays what it was, for the caller to judge.
                say(watch.error().to_string());
                return 1;
            }
            adopting_ = false;
            if (!watch && stop_requested(paths_)) {
                // A stop or kill while QEMU was starting (it held QMP, or killed QEMU): stopped
                // as asked, not crashed.
                ::unlink((paths_.dir + "/" + kStopMarker).c_str());
                set_state("stopped", "stopped by vfgate-vm while QEMU started");
                say("stopped as asked while QEMU started (" + watch.error().to_string() + ")");
                return 0;
            }
            if (!watch) {
                set_state("crashed", watch.error().to_string());
                say("QEMU did not start: " + watch.error().to_string());
                return 1;
            }
            const auto started = Clock::now();
            if (wait_for(*watch) == kSignalled) {
                say("supervisor stopped by a signal; QEMU (pid " + std::to_string(watch->pid()) +
                    ") is left running for the next supervisor to adopt");
                return 0;
            }
            std::string exit_text = "exited (status unknown: adopted)";
            bool clean = false;
            if (child_) {
                if (auto e = proc::reap(watch->pid())) {
                    exit_text = e->text;
                    clean = e->clean;
                }
            }
            ::unlink(paths_.pidfile.c_str());
            state_["last_exit"] = exit_text;
            state_["pid"] = 0;
            if (stop_requested(paths_)) {
                ::unlink((paths_.dir + "/" + kStopMarker).c_str());
                set_state("stopped", "stopped by vfgate-vm; QEMU " + exit_text);
                say("QEMU " + exit_text + ": stopped as asked");
                return 0;
            }
            const auto d = restart.on_exit(clean, Clock::now() - started, Clock::now());
            if (auto done = decided(d, exit_text, clean, policy)) return *done;
            if (pause(d.delay)) return 0;
            ++restarts_;
        }
    }

  private:
    static constexpr int kSignalled = -1;

    // Says what the restart decision means; the supervisor's exit status when it ends here.
    std::optional<int> decided(const RestartDecision& d, const std::string& exit_text, bool clean,
                               const std::string& policy) {
        using Kind = RestartDecision::Kind;
        const std::string exited = "QEMU " + exit_text;
        if (d.kind == Kind::kShutdown || d.kind == Kind::kCrashed) {
            set_state(d.kind == Kind::kShutdown ? "shutdown" : "crashed",
                      exited + "; restart: " + policy);
            say(exited + "; restart policy " + policy + ": not restarting");
            return clean ? 0 : 1;
        }
        if (d.kind == Kind::kGiveUp) {
            const std::string msg = "gave up: " + exited + " after " +
                                    std::to_string(d.recent_restarts) + " restarts within " +
                                    std::to_string(kCrashLoopWindow.count()) +
                                    " s (a crash loop); see " + paths_.dir + "/qemu.log";
            set_state("crashed", msg);
            say(msg);
            return 1;
        }
        const std::string delay = std::to_string(d.delay.count());
        set_state("restarting",
                  exited + "; restarting in " + delay + " s (restart: " + policy + ")");
        say(exited + "; restarting in " + delay + " s");
        return std::nullopt;
    }

    void say(const std::string& what) { log_line(paths_, what); }

    // The guest's logs, in /run (memory): the console, QEMU's output (a guest can make QEMU
    // write: KVM and vfio error reports, across every restart) and this log. Their writers
    // append (logappend=on, O_APPEND): after truncation they write at the new end. A failure is
    // said once, until it works again.
    void rotate_logs() {
        Result<bool> r = true;
        for (const auto& f : {paths_.console_log, paths_.dir + "/qemu.log", paths_.log}) {
            if (auto one = rotate_log(f, kConsoleLogMax); !one) r = std::move(one);
        }
        if (!r && !rotate_failing_) say(r.error().to_string());
        rotate_failing_ = !r;
    }

    void set_state(const std::string& state, const std::string& message) {
        state_["guest"] = plan_.value("guest", "");
        state_["state"] = state;
        state_["message"] = message;
        state_["restarts"] = restarts_;
        state_["supervisor_pid"] = ::getpid();
        write_json(paths_.state, state_);
    }

    bool lock() {
        lock_fd_ = ::open(paths_.supervisor_pidfile.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        // supervisor_pid() takes a shared lock for a moment to look: a few tries tell that from
        // a supervisor that runs.
        bool locked = false;
        for (int i = 0; i < 100 && lock_fd_ >= 0 && !locked; ++i) {
            locked = ::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0;
            if (!locked) std::this_thread::sleep_for(10ms);
        }
        if (!locked) {
            say("another supervisor runs for this guest; exiting");
            return false;
        }
        const std::string pid = std::to_string(::getpid()) + "\n";
        if (::ftruncate(lock_fd_, 0) != 0 ||
            ::pwrite(lock_fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
            say("cannot write " + paths_.supervisor_pidfile + ": " + errno_text(errno));
        }
        if (auto old = read_json(paths_.state)) state_ = *old;
        return true;
    }

    // Adopts the guest's QEMU if it still runs, else starts one; then waits until it runs.
    Result<proc::Watch> launch() {
        child_ = false;
        const bool adopt_only = std::exchange(adopt_only_, false);  // the first launch only
        adopting_ = adopt_only;
        int pid = qemu_pid(paths_);
        if (pid != 0) {
            say("adopting QEMU pid " + std::to_string(pid) + " (still running)");
        } else if (adopt_only) {
            return fail(ErrorKind::kNotFound, "nothing to adopt: QEMU no longer runs");
        } else {
            for (const auto& s : {paths_.qmp, paths_.serial}) ::unlink(s.c_str());
            set_state("starting", "");
            auto argv = plan_.at("argv").get<std::vector<std::string>>();
            auto spawned = proc::spawn(argv, {paths_.dir + "/qemu.log", false});
            if (!spawned) return tl::unexpected(spawned.error());
            pid = *spawned;
            child_ = true;
            state_["started_at"] = now_s();
            say("started QEMU pid " + std::to_string(pid));
        }
        auto watch = proc::Watch::open(pid);
        if (!watch) return watch;
        state_["pid"] = pid;
        if (auto ok = settle(*watch); !ok) {
            // Only a QEMU this supervisor started is killed for it: an adopted one runs a guest
            // someone may need (paused on purpose, or its QMP slow), and is left as it is.
            if (child_) {
                ::kill(pid, SIGKILL);
                proc::reap(pid);
            }
            return tl::unexpected(ok.error());
        }
        return watch;
    }

    // Waits for QMP, checks the guest runs and pins its vCPUs.
    Result<void> settle(const proc::Watch& w) {
        const auto deadline = Clock::now() + 120s;
        Result<QmpClient> qmp = fail(ErrorKind::kNotFound, "no QMP socket yet");
        while (Clock::now() < deadline) {
            if (w.wait_exit(0ms)) {
                return fail(ErrorKind::kSystem,
                            "QEMU exited while starting:" + tail_of(paths_.dir + "/qemu.log", 5));
            }
            if (fs::exists(paths_.qmp)) {
                qmp = QmpClient::connect(paths_.qmp, 2s);
                if (qmp) break;
            }
            std::this_thread::sleep_for(100ms);
        }
        if (!qmp) return tl::unexpected(qmp.error());
        auto st = query_status(*qmp);
        if (!st) return tl::unexpected(st.error());
        if (!st->running && child_) {
            return fail(ErrorKind::kSystem, "QEMU runs but its guest is " + st->status);
        }
        if (!st->running) say("adopted a guest that is " + st->status + ": left so");
        if (auto accel = query_accel(*qmp)) state_["accel"] = *accel;
        const auto pins = plan_.value("cpu_pinning", std::vector<int>{});
        if (!pins.empty()) {
            auto threads = query_vcpu_threads(*qmp);
            if (!threads) return tl::unexpected(threads.error());
            for (const auto& t : *threads) {
                if (t.cpu_index < 0 || t.cpu_index >= static_cast<int>(pins.size())) continue;
                cpu_set_t set;
                CPU_ZERO(&set);
                CPU_SET(pins[static_cast<std::size_t>(t.cpu_index)], &set);
                if (::sched_setaffinity(t.thread_id, sizeof set, &set) != 0) {
                    return tl::unexpected(Error::from_errno(
                        errno, "pin vCPU " + std::to_string(t.cpu_index) + " (thread " +
                                   std::to_string(t.thread_id) + ") to CPU " +
                                   std::to_string(pins[static_cast<std::size_t>(t.cpu_index)])));
                }
                say("vCPU " + std::to_string(t.cpu_index) + " (thread " +
                    std::to_string(t.thread_id) + ") pinned to CPU " +
                    std::to_string(pins[static_cast<std::size_t>(t.cpu_index)]));
            }
        }
        set_state("running", "");
        return {};
    }

    // Until QEMU exits (0) or a signal asks the supervisor to leave (kSignalled).
    int wait_for(const proc::Watch& w) {
        for (;;) {
            std::array<pollfd, 2> fds{{{w.fd(), POLLIN, 0}, {sigfd_, POLLIN, 0}}};
            const int r = ::poll(fds.data(), fds.size(), 1000);
            if (r > 0 && (fds[1].revents & POLLIN) != 0) return kSignalled;
            if (r > 0 && (fds[0].revents & POLLIN) != 0) return 0;
            rotate_logs();
        }
    }

    // Sleeps through the backoff; true when a signal or `stop` ends the supervisor meanwhile.
    bool pause(std::chrono::seconds d) {
        const auto until = Clock::now() + d;
        while (Clock::now() < until) {
            pollfd p{sigfd_, POLLIN, 0};
            if (::poll(&p, 1, 200) > 0) return true;
            if (stop_requested(paths_)) {
                ::unlink((paths_.dir + "/" + kStopMarker).c_str());
                set_state("stopped", "stopped by vfgate-vm while waiting to restart");
                return true;
            }
        }
        return false;
    }

    RunPaths paths_;
    Json plan_;
    Json state_ = Json::object();
    int restarts_ = 0;
    int lock_fd_ = -1;
    int sigfd_ = -1;
    bool child_ = false;
    bool adopt_only_ = false;  // the first launch() adopts or fails; it starts no QEMU
    bool adopting_ = false;    // that first launch() is under way
    bool rotate_failing_ = false;
};

}  // namespace

int supervise(const std::string& run_dir, bool adopt_only) {
    auto plan = read_json(run_dir + "/" + kPlanFile);
    if (!plan) {
        std::cerr << "vfgate-vm supervise: " << plan.error().to_string() << "\n";
        return 1;
    }
    return Supervisor(run_dir, *plan, adopt_only).run();
}

}  // namespace vfgate::vm
