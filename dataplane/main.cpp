// vfgate-dataplane: the DPDK poll-mode switch of a vfgate host.
//
//   vfgate-dataplane --config FILE [--log-level LEVEL] [--print-eal]
//                    [--control-idle-timeout S] [--control-send-timeout S]
//
// Reads the `dataplane` section and the guests' NICs from FILE, builds its EAL arguments,
// opens the ports, starts one worker per worker core and serves its control socket (its limits
// and timeouts: docs/dataplane.md). SIGTERM or SIGINT: stop cleanly (exit 0). SIGHUP: reload
// FILE, like the control socket's config.reload.

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <vfgate/common/jsonl_server.hpp>
#include <vfgate/common/log.hpp>
#include <vfgate/config/load.hpp>
#include <vfgate/dataplane/control.hpp>

#include "dpdk/dataplane.hpp"
#include "spdlog/spdlog.h"

namespace {

using vfgate::dataplane::Dataplane;
using vfgate::jsonl::Json;

// A path given to config.reload: absolute (ours is not the caller's working directory), whole
// (a NUL would cut it short), and readable by the caller itself: the dataplane runs as root
// and must not load, for a peer with group access to the socket, a file that peer can't read.
vfgate::Result<void> reload_path_allowed(const std::string& path, const vfgate::jsonl::Peer& peer) {
    using vfgate::ErrorKind;
    using vfgate::fail;
    if (path.empty()) return {};
    if (path.find('\0') != std::string::npos) {
        return fail(ErrorKind::kInvalidArgument, "the path contains a NUL byte");
    }
    if (path.front() != '/') {
        return fail(ErrorKind::kInvalidArgument,
                    "'" + path +
                        "' is not an absolute path (the dataplane's working directory is not "
                        "the caller's)");
    }
    return vfgate::jsonl::peer_can_read(peer, path);
}

// Each handler reads its params into the request struct and answers with the reply struct
// (vfgate/dataplane/control.hpp); a param of the wrong type throws, and the server says so.
void serve(Dataplane& dp, vfgate::jsonl::Server& server) {
    using Result = vfgate::Result<Json>;
    namespace m = vfgate::dataplane::method;
    namespace dp_ = vfgate::dataplane;
    server.handle(m::kStatus, [&](const Json&) -> Result { return dp.status(); });
    server.handle(m::kPorts, [&](const Json&) -> Result { return dp.ports(); });
    server.handle(m::kStats, [&](const Json&) -> Result { return dp.stats(); });
    server.handle(m::kFdb, [&](const Json&) -> Result { return dp.fdb(); });
    server.handle(m::kRules, [&](const Json& params) -> Result {
        return dp.rules(params.get<dp_::RulesRequest>().nic);
    });
    server.handle(m::kConntrack, [&](const Json& params) -> Result {
        auto req = dp_::parse_conntrack_request(params);
        if (!req) return tl::unexpected(req.error());
        return dp.conntrack(req->nic, req->listed());
    });
    server.handle(m::kOffload, [&](const Json&) -> Result { return dp.offload(); });
    server.handle(m::kReload, [&](const Json& params, const vfgate::jsonl::Peer& peer) -> Result {
        const std::string path = params.get<dp_::ReloadRequest>().path;
        if (auto ok = reload_path_allowed(path, peer); !ok) {
            spdlog::error("config.reload: {}", ok.error().to_string());
            return tl::unexpected(ok.error());
        }
        auto r = dp.reload(path);
        if (!r) {
            spdlog::error("config.reload: {}", r.error().to_string());
            return tl::unexpected(r.error());
        }
        return *r;
    });
}

// CLI::Range lets NaN through (it fails both comparisons).
std::string finite_seconds(const std::string& s) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    return end != s.c_str() && std::isfinite(v) ? std::string()
                                                : "expected a number of seconds, not " + s;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"vfgate-dataplane: the vfgate DPDK switch", "vfgate-dataplane"};
    std::string config_path;
    std::string log_level = "info";
    bool print_eal = false;
    double idle_timeout_s = 60;
    double send_timeout_s = 10;
    app.add_option("-c,--config", config_path, "vfgate config file (YAML, version 1)")->required();
    app.add_option("--control-idle-timeout", idle_timeout_s,
                   "close a control client that sends no request for this many seconds")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 86400.0))
        ->check(finite_seconds);
    app.add_option("--control-send-timeout", send_timeout_s,
                   "close a control client that takes none of its replies for this many seconds")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 86400.0))
        ->check(finite_seconds);
    app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
    app.add_flag("--print-eal", print_eal, "print the EAL arguments the config gives, and exit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    static_cast<void>(vfgate::setup_logging(log_level));

    auto loaded = vfgate::config::load_file(config_path);
    if (!loaded.ok()) {
        for (const auto& d : loaded.errors) std::cerr << d.to_string() << "\n";
        return 1;
    }
    if (!loaded.config->dataplane) {
        spdlog::error("{}: no dataplane section: nothing to switch", config_path);
        return 1;
    }
    vfgate::dataplane::pin_vfs_from_state(*loaded.config);
    const auto& cfg = *loaded.config;
    if (print_eal) {
        auto plan = vfgate::dataplane::plan_ports(cfg, vfgate::dataplane::pci_of_netdev);
        if (!plan) {
            spdlog::error("{}", plan.error().to_string());
            return 1;
        }
        for (const auto& a : vfgate::dataplane::plan_eal(cfg, *plan, log_level).args) {
            std::cout << a << "\n";
        }
        return 0;
    }

    // Block the signals before EAL starts its threads, so that they arrive only on signalfd.
    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, s);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    int sfd = signalfd(-1, &signals, SFD_CLOEXEC);

    auto ms = [](double s) { return std::chrono::milliseconds(static_cast<long>(s * 1000)); };
    vfgate::jsonl::Server server({.idle_timeout = ms(idle_timeout_s),
                                  .send_timeout = ms(send_timeout_s),
                                  .log = [](const std::string& m) { spdlog::warn("{}", m); },
                                  .max_buffered = 64u << 20});
    if (auto r = server.listen(cfg.dataplane->control_socket, 0660); !r) {
        spdlog::error("control socket: {}", r.error().to_string());
        return 1;
    }
    Dataplane dp;
    if (auto r = dp.start(cfg, config_path, log_level); !r) {
        spdlog::error("{}", r.error().to_string());
        return 1;
    }
    serve(dp, server);
    spdlog::info("serving {}", cfg.dataplane->control_socket);
    server.run(sfd, [&](int fd) {
        signalfd_siginfo info{};
        if (::read(fd, &info, sizeof info) != sizeof info) return false;
        if (info.ssi_signo == SIGHUP) {
            auto r = dp.reload();
            if (!r) spdlog::error("reload on SIGHUP: {}", r.error().to_string());
            return false;
        }
        spdlog::info("signal {}: stopping", info.ssi_signo);
        return true;
    });
    dp.stop();
    ::close(sfd);
    spdlog::info("stopped");
    return 0;
}
