// vfgate-vm: the guests of a vfgate config, in QEMU (docs/vm-launcher.md).
//   vfgate-vm argv GUEST -f CONFIG [--json]   the QEMU command line `start` would run
//   vfgate-vm start GUEST -f CONFIG           start it under a supervisor; returns once it runs
//   vfgate-vm stop GUEST [--timeout S]        power it down (then quit, then SIGKILL)
//   vfgate-vm kill GUEST                      SIGKILL, no restart
//   vfgate-vm status [GUEST] [--json]         state, pid, uptime, restarts, accel
//   vfgate-vm console GUEST                   the serial console; Ctrl-] leaves
//   vfgate-vm list                            guests with a run directory
// Exit codes: 0 ok, 1 failed, 2 usage or a bad config.

#include <array>
#include <cstring>
#include <iostream>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <vfgate/common/table.hpp>
#include <vfgate/config/load.hpp>
#include <vfgate/vm-launcher/host.hpp>
#include <vfgate/vm-launcher/plan.hpp>
#include <vfgate/vm-launcher/supervise.hpp>

namespace {

using namespace vfgate;
using namespace vfgate::vm;
using Json = nlohmann::json;

constexpr int kOk = 0, kFailed = 1, kUsage = 2;
constexpr char kEscape = 0x1d;  // Ctrl-]

struct Options {
    HostOptions host;
    std::string run_root = kDefaultRunRoot;
    std::string file;
    std::string guest;
    bool json = false;
    int timeout_s = 60;
};

int report(const Error& e) {
    std::cerr << "vfgate-vm: " << e.to_string() << "\n";
    return e.kind() == ErrorKind::kInvalidArgument ? kUsage : kFailed;
}

Result<GuestPlan> make_plan(const Options& opt) {
    auto cfg = config::load_file(opt.file);
    if (!cfg.ok()) {
        std::string all;
        for (const auto& e : cfg.errors) all += (all.empty() ? "" : "\n") + e.to_string();
        return fail(ErrorKind::kInvalidArgument, all);
    }
    auto facts = observe_host(*cfg.config, opt.guest, opt.host);
    if (!facts) return tl::unexpected(facts.error());
    return plan_guest(*cfg.config, opt.guest, *facts, opt.run_root);
}

void warn(const GuestPlan& p) {
    for (const auto& w : p.warnings) std::cerr << "vfgate-vm: warning: " << w << "\n";
}

int argv_cmd(const Options& opt) {
    auto p = make_plan(opt);
    if (!p) return report(p.error());
    warn(*p);
    if (opt.json) {
        std::cout << Json(p->argv).dump(2) << "\n";
        return kOk;
    }
    // One argument per line, each quoted for a POSIX shell, so the output can be pasted.
    for (std::size_t i = 0; i < p->argv.size(); ++i) {
        std::string q = "'";
        for (char c : p->argv[i]) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
        q += "'";
        std::cout << (i == 0 ? "" : "    ") << q << (i + 1 < p->argv.size() ? " \\\n" : "\n");
    }
    for (const auto& u : p->unattached) {
        std::cerr << "vfgate-vm: " << u.nic << ": " << u.reason << "\n";
    }
    return kOk;
}

Json status_json(const GuestStatus& s) {
    Json unattached = Json::array();
    for (const auto& u : s.unattached) unattached.push_back({{"nic", u.nic}, {"reason", u.reason}});
    return {{"guest", s.guest},
            {"state", s.state},
            {"pid", s.pid},
            {"supervisor_pid", s.supervisor_pid},
            {"uptime_s", s.uptime_s},
            {"restarts", s.restarts},
            {"accel", s.accel},
            {"restart", s.restart_policy},
            {"cpu_pinning", s.cpu_pinning},
            {"unattached", unattached},
            {"message", s.message},
            {"last_exit", s.last_exit}};
}

std::string dash(const std::string& s) { return s.empty() ? "-" : s; }

void print_status(const std::vector<GuestStatus>& all, bool json) {
    if (json) {
        Json j = Json::array();
        for (const auto& s : all) j.push_back(status_json(s));
        std::cout << j.dump(2) << "\n";
        return;
    }
    Table t({"GUEST", "STATE", "PID", "UPTIME", "RESTARTS", "ACCEL", "MESSAGE"});
    for (const auto& s : all) {
        std::string msg = s.message;
        if (msg.empty() && s.restarts > 0 && !s.last_exit.empty()) {
            msg = "last exit: " + s.last_exit;
        }
        for (const auto& u : s.unattached) {
            msg += (msg.empty() ? "" : "; ") + u.nic + " not attached (" + u.reason + ")";
        }
        t.add({s.guest, s.state, s.pid == 0 ? "-" : std::to_string(s.pid),
               s.pid == 0 ? "-" : std::to_string(s.uptime_s) + "s", std::to_string(s.restarts),
               dash(s.accel), dash(msg)});
    }
    t.print(std::cout);
}

int start_cmd(const Options& opt) {
    auto p = make_plan(opt);
    if (!p) return report(p.error());
    warn(*p);
    StartOptions so;
    std::array<char, 4096> self{};
    const ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
    so.supervisor_exe = n > 0 ? std::string(self.data(), static_cast<std::size_t>(n)) : "vfgate-vm";
    so.timeout = std::chrono::seconds(opt.timeout_s);
    auto s = start(*p, so);
    if (!s) return report(s.error());
    print_status({*s}, opt.json);
    return kOk;
}

int status_cmd(const Options& opt) {
    std::vector<std::string> names =
        opt.guest.empty() ? list(opt.run_root) : std::vector<std::string>{opt.guest};
    std::vector<GuestStatus> all;
    for (const auto& n : names) {
        auto s = status(opt.run_root, n);
        if (!s) return report(s.error());
        all.push_back(*s);
    }
    print_status(all, opt.json);
    return kOk;
}

int console_cmd(const Options& opt) {
    const RunPaths p = run_paths(opt.run_root, opt.guest);
    sockaddr_un a{};
    if (p.serial.size() >= sizeof a.sun_path) {
        return report(Error(ErrorKind::kInvalidArgument, "console of " + opt.guest + ": " +
                                                             p.serial + " is longer than a Unix " +
                                                             "socket address holds (107 bytes)"));
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    a.sun_family = AF_UNIX;
    p.serial.copy(a.sun_path, sizeof a.sun_path - 1);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        return report(Error::from_errno(errno, "console of " + opt.guest + ": connect " + p.serial +
                                                   " (is the guest running?)"));
    }
    std::cerr << "vfgate-vm: connected to " << opt.guest << "'s serial console; Ctrl-] leaves\n";
    termios saved{};
    const bool tty = ::isatty(0) != 0 && ::tcgetattr(0, &saved) == 0;
    if (tty) {
        termios raw = saved;
        ::cfmakeraw(&raw);
        ::tcsetattr(0, TCSANOW, &raw);
    }
    std::array<char, 4096> buf{};
    int rc = kOk;
    for (bool done = false; !done;) {
        std::array<pollfd, 2> fds{{{0, POLLIN, 0}, {fd, POLLIN, 0}}};
        if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) break;
        if ((fds[0].revents & (POLLIN | POLLHUP)) != 0) {
            const ssize_t n = ::read(0, buf.data(), buf.size());
            if (n <= 0) break;
            auto len = static_cast<std::size_t>(n);
            if (const void* e = std::memchr(buf.data(), kEscape, len)) {
                len = static_cast<std::size_t>(static_cast<const char*>(e) - buf.data());
                done = true;
            }
            if (len > 0 && ::send(fd, buf.data(), len, MSG_NOSIGNAL) < 0) break;
        }
        if ((fds[1].revents & (POLLIN | POLLHUP)) != 0) {
            const ssize_t n = ::read(fd, buf.data(), buf.size());
            if (n <= 0) {
                rc = kFailed;
                break;
            }
            if (::write(1, buf.data(), static_cast<std::size_t>(n)) < 0) break;
        }
    }
    if (tty) ::tcsetattr(0, TCSANOW, &saved);
    ::close(fd);
    std::cerr << "\r\nvfgate-vm: " << (rc == kOk ? "left the console" : "the console closed")
              << "\n";
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"vfgate-vm: the guests of a vfgate config, in QEMU", "vfgate-vm"};
    app.set_version_flag("-V,--version", "vfgate-vm " VFGATE_VERSION);
    app.require_subcommand(1);
    app.fallthrough();
    Options opt;
    app.add_option("--run-dir", opt.run_root, "where guests' runtime files live")
        ->capture_default_str();
    app.add_option("--qemu", opt.host.qemu, "the QEMU binary")->capture_default_str();
    app.add_option("--vf-state", opt.host.vf_state_file, "vfgate-vf's assignments")
        ->capture_default_str();
    app.add_option("--probe-kernel", opt.host.probe_kernel, "a kernel for the KVM probe");

    auto* argv_c = app.add_subcommand("argv", "print the QEMU command line start would run");
    auto* start_c = app.add_subcommand("start", "start a guest; returns once it runs");
    for (auto* c : {argv_c, start_c}) {
        c->add_option("guest", opt.guest, "the guest's name")->required();
        c->add_option("-f,--file", opt.file, "the vfgate config")->required();
        c->add_flag("--json", opt.json, "JSON output");
    }
    start_c->add_option("--timeout", opt.timeout_s, "seconds to wait for the guest to run")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600));
    auto* stop_c = app.add_subcommand("stop", "power a guest down (then quit, then SIGKILL)");
    stop_c->add_option("guest", opt.guest, "the guest's name")->required();
    stop_c->add_option("--timeout", opt.timeout_s, "seconds to wait for the power-off")
        ->capture_default_str()
        ->check(CLI::Range(0, 3600));
    auto* kill_c = app.add_subcommand("kill", "SIGKILL a guest's QEMU; no restart");
    kill_c->add_option("guest", opt.guest, "the guest's name")->required();
    auto* status_c = app.add_subcommand("status", "guests' state, pid, uptime, restarts, accel");
    status_c->add_option("guest", opt.guest, "one guest (default: all)");
    status_c->add_flag("--json", opt.json, "JSON output");
    auto* console_c = app.add_subcommand("console", "the serial console; Ctrl-] leaves");
    console_c->add_option("guest", opt.guest, "the guest's name")->required();
    auto* list_c = app.add_subcommand("list", "guests with a run directory");
    std::string sup_dir;
    bool sup_adopt = false;
    auto* sup_c = app.add_subcommand("supervise", "(internal) a guest's supervisor");
    sup_c->add_option("run_dir", sup_dir)->required();
    sup_c->add_flag("--adopt", sup_adopt, "adopt the running QEMU or exit; never start one");
    sup_c->group("");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? kOk : kUsage;
    }
    auto say = [](const std::string& s) { std::cout << s << "\n" << std::flush; };
    if (*argv_c) return argv_cmd(opt);
    if (*start_c) return start_cmd(opt);
    if (*stop_c) {
        auto s = stop(opt.run_root, opt.guest, std::chrono::seconds(opt.timeout_s), say);
        if (!s) return report(s.error());
        print_status({*s}, false);
        return s->pid == 0 ? kOk : kFailed;
    }
    if (*kill_c) {
        auto s = vfgate::vm::kill(opt.run_root, opt.guest, say);
        if (!s) return report(s.error());
        return s->pid == 0 ? kOk : kFailed;
    }
    if (*status_c) return status_cmd(opt);
    if (*console_c) return console_cmd(opt);
    if (*list_c) {
        for (const auto& n : list(opt.run_root)) std::cout << n << "\n";
        return kOk;
    }
    return supervise(sup_dir, sup_adopt);
}
