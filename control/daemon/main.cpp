// vfgated: the vfgate control daemon (docs/control.md).
//   vfgated --config FILE [--metrics ADDR:PORT] [--foreground] [--force]
// Exit codes: 0 stopped on SIGTERM/SIGINT, 1 failed to start, 2 usage.

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <grp.h>
#include <iostream>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>

#include <vfgate/common/file.hpp>
#include <vfgate/config/load.hpp>

#include "daemon.hpp"

namespace {

using namespace vfgate;
using namespace vfgate::control;

constexpr int kOk = 0, kFailed = 1, kUsage = 2;

// Under systemd (stderr is the journal) levels go to the journal as priorities; otherwise one
// timestamped line per event on stderr.
void setup_logging(const std::string& level) {
    std::shared_ptr<spdlog::logger> logger;
    // Read on the main thread before any other starts.
    if (std::getenv("JOURNAL_STREAM") != nullptr) {  // NOLINT(concurrency-mt-unsafe)
        logger = std::make_shared<spdlog::logger>(
            "vfgated", std::make_shared<spdlog::sinks::systemd_sink_mt>("vfgated"));
        logger->set_pattern("%v");
    } else {
        logger = std::make_shared<spdlog::logger>(
            "vfgated", std::make_shared<spdlog::sinks::stderr_sink_mt>());
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %-5l %v");
    }
    logger->set_level(spdlog::level::from_str(level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

// One vfgated per run directory: the pidfile is locked while it runs. A pidfile left by a
// killed vfgated is not locked, and is taken over.
Result<int> lock_pidfile(const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return tl::unexpected(Error::from_errno(errno, "open " + path));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        auto text = read_regular_file(path, 64);
        std::string pid = text ? *text : "";
        while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
        ::close(fd);
        if (err == EWOULDBLOCK) {
            return fail(ErrorKind::kConflict,
                        "another vfgated" + (pid.empty() ? "" : " (pid " + pid + ")") +
                            " already serves this run directory (" + path + " is locked)");
        }
        return tl::unexpected(Error::from_errno(err, "lock " + path));
    }
    const std::string me = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) < 0) {
        spdlog::warn("write {}: {}", path, errno_text(errno));
    }
    return fd;
}

// The socket is root's and the vfgate group's when that group exists.
void give_to_group(const std::string& socket) {
    // The main thread, before the apply thread starts.
    if (const group* g = ::getgrnam("vfgate")) {  // NOLINT(concurrency-mt-unsafe)
        if (::chown(socket.c_str(), 0, g->gr_gid) != 0) {
            spdlog::warn("chown {} root:vfgate: {}", socket, errno_text(errno));
        }
    }
}

// Detaches from the terminal: the parent returns once the child's first apply is over.
int daemonize(int& ready_fd, const std::string& log) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return -1;
    const pid_t pid = ::fork();
    if (pid < 0) return -1;
    if (pid > 0) {
        ::close(fds[1]);
        char status = 1;
        const bool told = ::read(fds[0], &status, 1) == 1;
        if (!told) std::cerr << "vfgated: failed to start; see " << log << "\n";
        return told ? (status == 0 ? 0 : 3) : 1;
    }
    ::close(fds[0]);
    ::setsid();
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (null < 0 || out < 0 || ::dup2(null, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) {
        return -1;
    }
    ::close(null);
    ::close(out);
    ready_fd = fds[1];
    return -2;  // the child goes on
}

// sd_notify's assignments are one a line: a newline in a message would end STATUS there (and
// could start another assignment).
std::string one_line(std::string s) {
    for (char& c : s) {
        if (c == '\n' || c == '\r') c = ' ';
    }
    return s;
}

// "STEP": WHY, for the unit's STATUS line.
std::string failure_of(const ApplyRecord& r) {
    return "\"" + one_line(r.failed_step) + "\": " + one_line(r.error);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"vfgated: keeps this host as its vfgate config declares", "vfgated"};
    app.set_version_flag("-V,--version", "vfgated " VFGATE_VERSION);
    DaemonOptions opts;
    bool foreground = false;
    std::string log_level = "info";
    app.add_option("-c,--config", opts.config_path, "the host's vfgate config (YAML)")->required();
    app.add_option("--metrics", opts.metrics, "serve Prometheus /metrics on ADDR:PORT");
    app.add_flag("--foreground", foreground, "do not detach (systemd, tests)");
    app.add_flag("--force", opts.force, "let vf-manager change a PF the host depends on");
    app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? kOk : kUsage;
    }
    std::error_code path_ec;
    const auto absolute = std::filesystem::absolute(opts.config_path, path_ec);
    if (path_ec || opts.config_path.empty()) {
        std::cerr << "vfgated: --config '" << opts.config_path
                  << "': " << (opts.config_path.empty() ? "expected a file" : path_ec.message())
                  << "\n";
        return kUsage;
    }
    opts.config_path = absolute.lexically_normal().string();
    setup_logging(log_level);

    auto text = read_regular_file(opts.config_path, 64u << 20);
    if (!text) {
        std::cerr << "vfgated: " << opts.config_path << ": " << text.error().to_string() << "\n";
        return kFailed;
    }
    auto loaded = config::load_string(*text, opts.config_path);
    if (!loaded.ok()) {
        for (const auto& d : loaded.errors) std::cerr << d.to_string() << "\n";
        std::cerr << "vfgated: " << loaded.errors.size() << " error(s) in " << opts.config_path
                  << "; not started\n";
        return kFailed;
    }
    const Paths paths = paths_for(*loaded.config);
    auto lock = lock_pidfile(paths.pidfile);
    if (!lock) {
        std::cerr << "vfgated: " << lock.error().to_string() << "\n";
        return kFailed;
    }
    int ready_fd = -1;
    if (!foreground) {
        ::close(*lock);  // re-taken by the child: flock is not inherited across the check
        std::error_code ec;
        std::filesystem::create_directories(paths.state_dir, ec);
        const int rc = daemonize(ready_fd, paths.state_dir + "/vfgated.log");
        if (rc != -2) return rc < 0 ? kFailed : rc;
        lock = lock_pidfile(paths.pidfile);
        if (!lock) {
            spdlog::error("{}", lock.error().to_string());
            return kFailed;
        }
    }

    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, s);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    static_cast<void>(std::signal(SIGPIPE, SIG_IGN));
    const int sfd = ::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
    const int tfd = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    itimerspec every{{0, 200'000'000}, {0, 200'000'000}};
    ::timerfd_settime(tfd, 0, &every, nullptr);
    const int efd = ::epoll_create1(EPOLL_CLOEXEC);
    for (int fd : {sfd, tfd}) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        ::epoll_ctl(efd, EPOLL_CTL_ADD, fd, &ev);
    }

    jsonl::Server server({.max_clients = 64,
                          .max_request_line = 64u << 20,
                          .max_pending_output = 512u << 20,
                          .log = [](const std::string& m) { spdlog::warn("{}", m); },
                          .max_buffered = 1u << 30,  // one config and one reply at their largest
                          .workers = 2});
    if (auto r = server.listen(paths.socket, 0660); !r) {
        spdlog::error("control socket: {}", r.error().to_string());
        return kFailed;
    }
    give_to_group(paths.socket);

    Daemon daemon(opts, Desired{*loaded.config, *text, opts.config_path}, paths, find_tools());
    daemon.register_methods(server);
    if (auto m = daemon.serve_metrics(); !m) {
        spdlog::error("{}", m.error().to_string());
        return kFailed;
    }
    daemon.start();
    spdlog::info("vfgated {} serving {} for {}", VFGATE_VERSION, paths.socket, opts.config_path);
    bool ready = false;
    std::uint64_t status_of = 1;  // the apply the unit's STATUS line tells of
    server.run(efd, [&](int) {
        signalfd_siginfo info{};
        bool stop = false;
        while (::read(sfd, &info, sizeof info) == sizeof info) {
            if (info.ssi_signo == SIGHUP) sd_notify(0, "RELOADING=1");
            stop = daemon.on_signal(static_cast<int>(info.ssi_signo)) || stop;
            if (info.ssi_signo == SIGHUP) sd_notify(0, "READY=1");
        }
        std::uint64_t ticks = 0;
        while (::read(tfd, &ticks, sizeof ticks) == sizeof ticks) {
        }
        daemon.tick();
        if (!ready && daemon.first_apply_done()) {
            ready = true;
            // Ready either way: vfgated serves, and says how its first apply went in the
            // unit's status (systemctl status), as `vfgatectl status` does.
            auto first = daemon.record(1);
            const bool first_ok = first && first->ok;
            sd_notify(0, first_ok ? "READY=1\nSTATUS=serving"
                                  : ("READY=1\nSTATUS=serving; the first apply failed at " +
                                     failure_of(first.value_or(ApplyRecord{})))
                                        .c_str());
            if (ready_fd >= 0) {
                const char status = first_ok ? 0 : 1;
                static_cast<void>(::write(ready_fd, &status, 1));
                ::close(ready_fd);
                ready_fd = -1;
            }
        } else if (auto last = ready ? daemon.last_finished() : std::nullopt;
                   last && last->id > status_of) {
            // Each later apply, as it ends: `systemctl status` never shows a stale outcome.
            status_of = last->id;
            const std::string what =
                "apply " + std::to_string(last->id) + " (" + one_line(last->source) + ")";
            sd_notify(0, ("STATUS=serving; " +
                          (last->ok ? what + " done" : what + " failed at " + failure_of(*last)))
                             .c_str());
        }
        return stop;
    });
    sd_notify(0, "STOPPING=1");
    server.stop_workers();  // before the daemon their handlers use
    daemon.shutdown();
    spdlog::info("vfgated stopped; the dataplane and guests keep running");
    return kOk;
}
