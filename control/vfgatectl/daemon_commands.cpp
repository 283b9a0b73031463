// vfgatectl plan|apply|status|guests|vfs|logs: clients of vfgated's control socket
// (docs/control.md). The daemon is found from the config (-c FILE: its run directory's
// vfgated.sock), from -s SOCKET, or at /run/vfgate/vfgated.sock.

#include <chrono>
#include <iostream>
#include <memory>
#include <string_view>
#include <thread>
#include <unistd.h>

#include <vfgate/common/file.hpp>
#include <vfgate/common/jsonl.hpp>
#include <vfgate/common/table.hpp>
#include <vfgate/config/load.hpp>

#include "commands.hpp"

namespace vfgate::ctl {
namespace {

using jsonl::Json;
using namespace std::chrono_literals;

constexpr int kChangesPending = 3;
constexpr const char* kDefaultSocket = "/run/vfgate/vfgated.sock";

struct Args {
    std::string file;  // -f FILE: the config to plan or apply
    std::string guest;
    std::size_t lines = 100;
    bool json = false;
};

// The config text and its name as the daemon is sent them; the caller's own rights read it.
Result<Json> config_params(const std::string& file) {
    if (file.empty()) return Json::object();
    auto text = read_regular_file(file, 64u << 20);
    if (!text) return tl::unexpected(std::move(text.error()).context(file));
    return Json{{"yaml", *text}, {"source", file}};
}

Result<std::string> daemon_socket(const DaemonTarget& t) {
    if (!t.socket.empty()) return t.socket;
    if (t.config.empty()) return std::string(kDefaultSocket);
    auto cfg = config::load_file(t.config);
    if (!cfg.ok()) {
        std::string all;
        for (const auto& d : cfg.errors) all += (all.empty() ? "" : "\n") + d.to_string();
        return fail(ErrorKind::kInvalidArgument, all);
    }
    return config::run_dir(*cfg.config) + "/vfgated.sock";
}

Result<Json> call(const DaemonTarget& t, const std::string& method, const Json& params,
                  std::chrono::milliseconds timeout = 120s) {
    auto sock = daemon_socket(t);
    if (!sock) return tl::unexpected(sock.error());
    auto r = jsonl::call(*sock, method, params, timeout);
    if (!r && r.error().kind() == ErrorKind::kSystem) {
        const int e = r.error().sys_errno();
        if (e == EACCES || e == EPERM) {
            return fail(ErrorKind::kSystem,
                        "cannot reach vfgated at " + *sock +
                            ": permission denied (the socket is root's and the vfgate group's, "
                            "mode 0660: run as root or as a member of group vfgate)");
        }
        if (e == ENOENT || e == ECONNREFUSED) {
            return fail(ErrorKind::kSystem, "vfgated is not running (no server at " + *sock +
                                                "; start it with `vfgated --config FILE`)");
        }
    }
    return r;
}

int failed(const Error& e) {
    std::cerr << "vfgatectl: " << e.to_string() << "\n";
    return kFailed;
}

int plan(const DaemonTarget& t, const Args& a) {
    auto params = config_params(a.file);
    if (!params) return failed(params.error());
    auto r = call(t, "plan", *params);
    if (!r) return failed(r.error());
    if (a.json) {
        std::cout << r->dump(2) << "\n";
    } else {
        for (const auto& w : r->value("warnings", Json::array())) {
            std::cerr << "warning: " << w.get<std::string>() << "\n";
        }
        std::cout << r->value("text", "") << "\n";
        for (const auto& u : r->value("unchanged", Json::array())) {
            std::cout << "  unchanged: " << u.get<std::string>() << "\n";
        }
    }
    return r->value("changes", false) ? kChangesPending : kOk;
}

int apply(const DaemonTarget& t, const Args& a) {
    auto params = config_params(a.file);
    if (!params) return failed(params.error());
    auto r = call(t, "apply", *params);
    if (!r) return failed(r.error());
    const auto id = r->value("id", std::uint64_t{0});
    std::size_t next = 0;
    for (;;) {
        auto p = call(t, "apply.progress", {{"id", id}, {"from", next}}, 10s);
        if (!p) return failed(p.error());
        for (const auto& line : p->value("lines", Json::array())) {
            std::cout << line.get<std::string>() << "\n" << std::flush;
        }
        next = p->value("next", next);
        if (p->value("done", false)) {
            if (p->value("ok", false)) return kOk;
            std::cerr << "vfgatectl: apply " << id << " failed";
            const std::string step = p->value("failed_step", "");
            if (!step.empty()) std::cerr << " at \"" << step << "\"";
            std::cerr << ": " << p->value("error", "") << "\n";
            return kFailed;
        }
        std::this_thread::sleep_for(200ms);
    }
}

std::string num(const Json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return "-";
    return it->is_string() ? it->get<std::string>() : it->dump();
}

void print_guests(const Json& guests) {
    Table t({"GUEST", "STATE", "PID", "UPTIME_S", "RESTARTS", "ACCEL", "POLICY", "DECLARED",
             "MESSAGE"});
    for (const auto& g : guests) {
        t.add({num(g, "guest"), num(g, "state"), num(g, "pid"), num(g, "uptime_s"),
               num(g, "restarts"), num(g, "accel"), num(g, "restart_policy"),
               g.value("declared", false) ? "yes" : "no", g.value("message", "")});
    }
    t.print(std::cout);
}

int status(const DaemonTarget& t, const Args& a) {
    auto r = call(t, "status", Json::object(), 30s);
    if (!r) return failed(r.error());
    if (!r->is_object() || !r->contains("vfgated")) {
        // Another server's status (the dataplane's socket has one too), not vfgated's.
        return failed(Error(ErrorKind::kInvalidArgument,
                            "the socket's status is not vfgated's (for the dataplane's own, "
                            "run: vfgatectl dataplane status)"));
    }
    if (a.json) {
        std::cout << r->dump(2) << "\n";
        return kOk;
    }
    const Json& v = (*r)["vfgated"];
    const std::string host = r->value("host", "");
    std::cout << "host: " << (host.empty() ? "(system host name)" : host) << "\n";
    std::cout << "vfgated: pid " << num(v, "pid") << ", config " << num(*r, "config") << "\n";
    std::cout << "applied: " << num(*r, "applied") << "\n";
    const Json& dp = (*r)["dataplane"];
    std::cout << "dataplane: "
              << (dp.value("running", false)
                      ? "running, pid " + num(dp, "pid") + ", generation " + num(dp, "generation") +
                            ", " + num(dp, "ports") + " ports"
                      : "not running" +
                            (dp.contains("error") ? " (" + num(dp, "error") + ")" : std::string()))
              << ", restarts " << num(dp, "restarts") << "\n";
    const Json& ap = (*r)["applies"];
    std::cout << "applies: " << num(ap, "total") << ", failed " << num(ap, "failed") << "\n";
    if (ap.contains("last") && !ap["last"].is_null()) {
        const Json& last = ap["last"];
        std::cout << "last apply: " << num(last, "id") << " (" << num(last, "source") << "): "
                  << (!last.value("done", false) ? "running"
                      : last.value("ok", false)
                          ? "ok"
                          : "failed at \"" + num(last, "failed_step") + "\": " + num(last, "error"))
                  << "\n";
    }
    for (const auto& pf : (*r)["vfs"]) {
        std::size_t assigned = 0;
        for (const auto& vf : pf["vfs"]) assigned += vf.value("guest", "").empty() ? 0 : 1;
        std::cout << "PF " << num(pf, "pci") << " (" << num(pf, "netdev")
                  << "): " << num(pf, "num_vfs") << " VFs, " << assigned << " assigned\n";
    }
    std::cout << "\n";
    print_guests((*r)["guests"]);
    return kOk;
}

int guests(const DaemonTarget& t, const Args& a) {
    auto r = call(t, "guests", Json::object(), 30s);
    if (!r) return failed(r.error());
    if (a.json) {
        std::cout << r->dump(2) << "\n";
    } else {
        print_guests(*r);
    }
    return kOk;
}

int vfs(const DaemonTarget& t, const Args& a) {
    auto r = call(t, "vfs", Json::object(), 30s);
    if (!r) return failed(r.error());
    if (a.json) {
        std::cout << r->dump(2) << "\n";
        return kOk;
    }
    if ((*r)["pfs"].empty()) std::cout << "no SR-IOV PFs on this host\n";
    for (const auto& pf : (*r)["pfs"]) {
        std::cout << num(pf, "pci") << " (" << num(pf, "netdev") << ", " << num(pf, "driver")
                  << "): " << num(pf, "num_vfs") << "/" << num(pf, "total_vfs") << " VFs\n";
        Table tb({"VF", "PCI", "DRIVER", "MAC", "VLAN", "GUEST", "HELD BY"});
        for (const auto& v : pf["vfs"]) {
            tb.add({num(v, "index"), num(v, "pci"), num(v, "driver"), num(v, "mac"), num(v, "vlan"),
                    num(v, "guest"), num(v, "holder")});
        }
        tb.print(std::cout);
    }
    return kOk;
}

// A guest writes its console as it likes: on a terminal, its control characters (an escape
// sequence could retitle, recolour or rewrite the operator's screen) are shown as ^X / ^?.
// Into a pipe or a file the bytes go as they are.
std::string shown(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // a serial port's CR LF
    std::string out;
    out.reserve(line.size());
    for (const char c : line) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) {
            out += '^';
            out += static_cast<char>(u ^ 0x40);
        } else {
            out += c;
        }
    }
    return out;
}

int logs(const DaemonTarget& t, const Args& a) {
    auto r = call(t, "logs", {{"guest", a.guest}, {"lines", a.lines}}, 30s);
    if (!r) return failed(r.error());
    const bool tty = ::isatty(STDOUT_FILENO) != 0;
    for (const auto& line : (*r)["lines"]) {
        const auto& text = line.get<std::string>();
        std::cout << (tty ? shown(text) : text) << "\n";
    }
    return kOk;
}

}  // namespace

void add_daemon_commands(CLI::App& app, const std::shared_ptr<DaemonTarget>& target,
                         std::function<int()>& run) {
    auto a = std::make_shared<Args>();
    auto bind = [&run, a, target](CLI::App* cmd, int (*fn)(const DaemonTarget&, const Args&)) {
        cmd->callback([&run, a, target, fn] { run = [a, target, fn] { return fn(*target, *a); }; });
    };
    auto* p = app.add_subcommand(
        "plan", "What vfgated would change to reach FILE (or its own config); exit 3: changes");
    p->add_option("-f,--file", a->file, "the config to plan for (default: vfgated's --config)");
    p->add_flag("--json", a->json, "JSON instead of text");
    bind(p, plan);
    auto* ap = app.add_subcommand("apply", "Make the host match FILE, printing each step");
    ap->add_option("-f,--file", a->file, "the config to apply (default: vfgated's --config)");
    bind(ap, apply);
    auto* st = app.add_subcommand("status", "vfgated, the dataplane, guests and the last apply");
    st->add_flag("--json", a->json, "JSON instead of text");
    bind(st, status);
    auto* g = app.add_subcommand("guests", "The guests and their state");
    g->add_flag("--json", a->json, "JSON instead of a table");
    bind(g, guests);
    auto* v = app.add_subcommand("vfs", "SR-IOV PFs, their VFs and which guest has each");
    v->add_flag("--json", a->json, "JSON instead of a table");
    bind(v, vfs);
    auto* l = app.add_subcommand("logs", "A guest's console log");
    l->add_option("GUEST", a->guest, "the guest")->required();
    l->add_option("-n,--lines", a->lines, "how many of the last lines")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}));
    bind(l, logs);
}

}  // namespace vfgate::ctl
