// Starting, supervising, stopping and observing guests (supervise.hpp).
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

#include <nlohmann/json.hpp>

#include <vfgate/common/file.hpp>
#include <vfgate/vm-launcher/qmp.hpp>
#include <vfgate/vm-launcher/restart.hpp>
#include <vfgate/vm-launcher/supervise.hpp>

#include "../host/process.hpp"

namespace vfgate::vm {
namespace fs = std::filesystem;
using Json = nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kPlanFile = "plan.json";
constexpr const char* kStopMarker = "stop-requested";
constexpr std::size_t kMaxStateFile = 1 << 20;

std::int64_t now_s() { return static_cast<std::int64_t>(::time(nullptr)); }

std::string stamp() {
    std::array<char, 32> buf{};
    const std::time_t t = ::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    if (std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return "?";
    return buf.data();
}

// Appends a line to the guest's supervisor log (also when written by `stop` or `kill`).
void log_line(const RunPaths& p, const std::string& what) {
    std::ofstream(p.log, std::ios::app) << stamp() << " " << what << "\n";
}

Result<Json> read_json(const std::string& path) {
    auto text = read_regular_file(path, kMaxStateFile);
    if (!text) return tl::unexpected(std::move(text.error()).context(path));
    Json j = Json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return fail(ErrorKind::kConflict, path + ": not a vfgate-vm file (not a JSON object)");
    }
    return j;
}

void write_json(const std::string& path, const Json& j) {
    const std::string tmp = path + ".tmp";
    std::ofstream(tmp) << j.dump(2) << "\n";
    std::error_code ec;
    fs::rename(tmp, path, ec);
}

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
int supervisor_pid(const RunPaths& p) {
    const int fd = ::open(p.supervisor_pidfile.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int pid = 0;
    if (::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        pid = proc::read_pidfile(p.supervisor_pidfile).value_or(0);
    }
    ::close(fd);
    return pid;
}

// QEMU's pid when the process in its pidfile is the QEMU of this guest (its argv names the QMP
// socket); 0 otherwise.
int qemu_pid(const RunPaths& p) {
    auto pid = proc::read_pidfile(p.pidfile);
    if (!pid || !proc::alive(*pid)) return 0;
    for (const auto& a : proc::cmdline(*pid)) {
        if (a.find(qemu_escape(p.qmp)) != std::string::npos) return *pid;
    }
    return 0;
}

// Whether something accepts connections on a unix socket path.
bool socket_served(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

std::string tail_of(const std::string& path, std::size_t lines) {
    std::ifstream in(path);
    std::deque<std::string> last;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        last.push_back(line);
        if (last.size() > lines) last.pop_front();
    }
    std::string out;
    for (const auto& l : last) out += "\n  " + l;
    return out;
}

std::string map_qmp_state(const std::string& s) {
    if (s == "running") return "running";
    if (s == "shutdown") return "shutdown";
    if (s == "internal-error" || s == "guest-panicked" || s == "io-error") return "crashed";
    return "paused";  // paused, prelaunch, suspended, inmigrate, ...
}

void rotate_console(const RunPaths& p) {
    struct stat st {};
    if (::stat(p.console_log.c_str(), &st) != 0 || st.st_size <= kConsoleLogMax) return;
    std::error_code ec;
    fs::copy_file(p.console_log, p.console_log + ".1", fs::copy_options::overwrite_existing, ec);
    // QEMU appends (logappend=on, O_APPEND): after truncation it writes at the new end.
    ::truncate(p.console_log.c_str(), 0);
}

// The supervisor's life: one QEMU run after another under the restart policy.
class Supervisor {
  public:
    Supervisor(const std::string& dir, Json plan)
        : paths_(run_paths(fs::path(dir).parent_path().string(), plan.value("guest", ""))),
          plan_(std::move(plan)) {}

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
            auto watch = launch();
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
            if (fs::exists(paths_.dir + "/" + kStopMarker)) {
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
        if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
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
        int pid = qemu_pid(paths_);
        if (pid != 0) {
            say("adopting QEMU pid " + std::to_string(pid) + " (still running)");
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
            ::kill(pid, SIGKILL);
            if (child_) proc::reap(pid);
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
        if (!st->running) {
            return fail(ErrorKind::kSystem, "QEMU runs but its guest is " + st->status);
        }
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
            rotate_console(paths_);
        }
    }

    // Sleeps through the backoff; true when a signal or `stop` ends the supervisor meanwhile.
    bool pause(std::chrono::seconds d) {
        const auto until = Clock::now() + d;
        while (Clock::now() < until) {
            pollfd p{sigfd_, POLLIN, 0};
            if (::poll(&p, 1, 200) > 0) return true;
            if (fs::exists(paths_.dir + "/" + kStopMarker)) {
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
};

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

}  // namespace

int supervise(const std::string& run_dir) {
    auto plan = read_json(run_dir + "/" + kPlanFile);
    if (!plan) {
        std::cerr << "vfgate-vm supervise: " << plan.error().to_string() << "\n";
        return 1;
    }
    return Supervisor(run_dir, *plan).run();
}

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
        if (auto qmp = QmpClient::connect(p->qmp, 2s)) {
            if (auto st = query_status(*qmp)) s.state = map_qmp_state(st->status);
            if (auto accel = query_accel(*qmp)) s.accel = *accel;
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
    const bool adopt = qemu_pid(p) != 0;
    if (!adopt) {
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
    auto sup = proc::spawn({opts.supervisor_exe, "supervise", p.dir}, {p.log, true});
    if (!sup) return tl::unexpected(sup.error());
    const pid_t sup_pid = *sup;

    const auto until = Clock::now() + opts.timeout;
    for (;;) {
        std::this_thread::sleep_for(100ms);
        int wstatus = 0;
        const bool sup_gone = ::waitpid(sup_pid, &wstatus, WNOHANG) == sup_pid;
        Json st = read_json(p.state).value_or(Json::object());
        const std::string state = st.value("state", "");
        if (state == "running") return status(fs::path(p.dir).parent_path().string(), plan.guest);
        if (sup_gone || (state != "starting" && !state.empty())) {
            return fail(ErrorKind::kSystem,
                        "guest " + plan.guest + " did not start: " +
                            st.value("message", std::string("the supervisor exited")) +
                            tail_of(p.log, 3));
        }
        if (Clock::now() > until) {
            ::kill(sup_pid, SIGKILL);
            if (const int q = qemu_pid(p); q != 0) ::kill(q, SIGKILL);
            return fail(ErrorKind::kSystem,
                        "guest " + plan.guest + " did not run within " +
                            std::to_string(opts.timeout.count()) +
                            " s; stopped it:" + tail_of(p.dir + "/qemu.log", 5));
        }
    }
}

Result<GuestStatus> stop(const std::string& run_root, const std::string& guest,
                         std::chrono::seconds timeout, const Say& say) {
    auto p = existing(run_root, guest);
    if (!p) return tl::unexpected(p.error());
    auto tell = [&](const std::string& what) {
        log_line(*p, "stop: " + what);
        say(what);
    };
    std::ofstream(p->dir + "/" + kStopMarker) << "stop\n";
    const int pid = qemu_pid(*p);
    if (pid == 0) {
        tell("QEMU is not running");
        wait_supervisor(*p, 2s);
        ::unlink((p->dir + "/" + kStopMarker).c_str());
        return status(run_root, guest);
    }
    auto watch = proc::Watch::open(pid);
    if (!watch) return tl::unexpected(watch.error());
    const auto t0 = Clock::now();
    auto qmp = QmpClient::connect(p->qmp, 5s);
    if (qmp && qmp->execute("system_powerdown")) {
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
        if (qmp && qmp->execute("quit")) tell("no power-off in time: quit sent to QEMU");
        if (!watch->wait_exit(5s)) {
            tell("QEMU still runs: SIGKILL");
            ::kill(pid, SIGKILL);
            watch->wait_exit(5s);
        }
    }
    wait_supervisor(*p, 5s);
    return status(run_root, guest);
}

Result<GuestStatus> kill(const std::string& run_root, const std::string& guest, const Say& say) {
    auto p = existing(run_root, guest);
    if (!p) return tl::unexpected(p.error());
    std::ofstream(p->dir + "/" + kStopMarker) << "kill\n";
    if (const int pid = qemu_pid(*p); pid != 0) {
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
    return status(run_root, guest);
}

}  // namespace vfgate::vm
