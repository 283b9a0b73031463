// vfgatectl dataplane status|ports|stats|fdb|rules|conntrack|offload|reload: a client of the
// dataplane's control socket. Where vfgated runs the dataplane (its socket is beside the
// config's), the requests go through vfgated, which owns the dataplane's config: `reload` is
// then refused in favour of `vfgatectl apply`. `-s SOCKET` always talks to the dataplane itself.

#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include <vfgate/common/jsonl.hpp>
#include <vfgate/common/table.hpp>
#include <vfgate/config/load.hpp>
#include <vfgate/dataplane/control.hpp>

#include "commands.hpp"
#include "dataplane_text.hpp"

namespace vfgate::ctl {
namespace {

using jsonl::Json;

struct Target {
    std::string socket;
    bool socket_given = false;  // -s: the dataplane itself, never through vfgated
    std::string config;         // take the socket from this config instead
    bool json = false;
    std::shared_ptr<DaemonTarget> daemon;  // vfgatectl's own -c and -s
};

// The dataplane's socket, and vfgated's when one serves the config's run directory.
struct Route {
    std::string dataplane;
    std::string daemon;  // empty: talk to the dataplane directly
    // vfgated's socket was found in the config's run directory, not named with -s: when nothing
    // serves it any more, the dataplane is asked directly.
    bool found = false;
};

Result<Route> route(const Target& t) {
    Route r{t.socket, ""};
    if (t.socket_given) return r;
    if (!t.daemon->socket.empty()) {
        r.daemon = t.daemon->socket;
        return r;
    }
    const std::string file = t.config.empty() ? t.daemon->config : t.config;
    if (file.empty()) return r;
    auto cfg = config::load_file(file);
    if (!cfg.ok()) {
        std::string all;
        for (const auto& d : cfg.errors) all += (all.empty() ? "" : "\n") + d.to_string();
        return fail(ErrorKind::kInvalidArgument, all);
    }
    r.dataplane = cfg.config->dataplane ? cfg.config->dataplane->control_socket
                                        : config::kDefaultControlSocket;
    const std::string daemon = config::run_dir(*cfg.config) + "/vfgated.sock";
    std::error_code ec;
    if (std::filesystem::is_socket(daemon, ec)) {
        r.daemon = daemon;
        r.found = true;
    }
    return r;
}

Result<Json> request(const Target& t, const char* method, const Json& params) {
    auto r = route(t);
    if (!r) return tl::unexpected(r.error());
    if (!r->daemon.empty()) {
        auto via = jsonl::call(r->daemon, "dataplane", {{"method", method}, {"params", params}});
        // A socket file left by a vfgated that is gone: the config's dataplane may still answer.
        // Not for a vfgated named with -s: its dataplane's socket is not known here.
        if (via || !r->found || via.error().sys_errno() != ECONNREFUSED) return via;
    }
    return jsonl::call(r->dataplane, method, params);
}

std::string vlan_text(std::uint16_t vlan) { return vlan == 0 ? "-" : std::to_string(vlan); }

// Key by key, in the order of the JSON object (alphabetical).
void print_status(const dataplane::StatusReply& s) {
    std::string cores;
    for (unsigned c : s.worker_cores) cores += (cores.empty() ? "" : ",") + std::to_string(c);
    std::cout << "config: " << s.config << "\n";
    if (!s.control_socket.empty()) std::cout << "control_socket: " << s.control_socket << "\n";
    std::cout << "file_prefix: " << s.file_prefix << "\n"
              << "generation: " << s.generation << "\n"
              << "host: " << s.host << "\n"
              << "hugepages: " << text(s.hugepages) << "\n"
              << "main_core: " << s.main_core << "\n"
              << "mbufs: "
              << (s.mbufs ? "available " + text(s.mbufs->available) + ", in_use " +
                                text(s.mbufs->in_use) + ", size " + text(s.mbufs->size)
                          : std::string("-"))
              << "\n"
              << "pid: " << s.pid << "\n"
              << "ports: " << s.ports << "\n"
              << "running: " << text(s.running) << "\n"
              << "uptime_s: " << s.uptime_s << "\n"
              << "worker_cores: [" << cores << "]\n";
}

void print_ports(const dataplane::PortsReply& ports) {
    Table t({"NAME", "ROLE", "DPDK", "DRIVER", "LINK", "MAC", "VLAN", "UPLINK", "RXQ", "MTU"});
    for (const auto& p : ports) {
        t.add({p.name, p.role, text(p.dpdk_port), text(p.driver), text(p.link), text(p.mac),
               p.mac ? vlan_text(p.vlan) : "-", text(p.uplink), text(p.rx_queues), text(p.mtu)});
    }
    t.print(std::cout);
}

void print_stats(const dataplane::StatsReply& s) {
    Table t({"PORT", "RX_PKTS", "RX_BYTES", "TX_PKTS", "TX_BYTES", "DROPS", "DROP_REASONS"});
    for (const auto& p : s.ports) {
        std::string why;
        for (const auto& [reason, n] : p.drops) {
            if (n != 0) why += (why.empty() ? "" : ",") + reason + "=" + text(n);
        }
        t.add({p.name, text(p.rx_packets), text(p.rx_bytes), text(p.tx_packets), text(p.tx_bytes),
               text(p.drops_total), why.empty() ? "-" : why});
    }
    t.print(std::cout);
    std::cout << "\n";
    // IN + COPIES = OUT + DROPS: every frame a worker took in, or a flood copied, was sent or
    // counted as a drop.
    Table w({"WORKER", "CORE", "IN", "COPIES", "OUT", "DROPS", "BUSY_%", "CYCLES/PKT"});
    for (const auto& x : s.workers) {
        w.add({text(x.index), text(x.core), text(x.packets_in), text(x.copies), text(x.packets_out),
               text(x.drops), text(x.busy_percent), text(x.cycles_per_packet)});
    }
    w.print(std::cout);
}

void print_fdb(const dataplane::FdbReply& fdb) {
    Table t({"UPLINK", "VLAN", "MAC", "PORT"});
    for (const auto& e : fdb) t.add({e.uplink, vlan_text(e.vlan), e.mac, e.port});
    t.print(std::cout);
}

void print_rules(const dataplane::RulesReply& nics) { std::cout << rules_text(nics); }

void print_offload(const dataplane::OffloadReply& r) { std::cout << offload_text(r); }

void print_conntrack(const dataplane::ConntrackReply& c) {
    Table w({"WORKER", "ENTRIES", "DENIED", "CAPACITY", "CREATED", "EXPIRED", "EVICTED", "REVOKED",
             "TABLE_FULL"});
    for (const auto& x : c.workers) {
        w.add({text(x.index), text(x.entries), text(x.denied), text(x.capacity), text(x.created),
               text(x.expired), text(x.evicted), text(x.revoked), text(x.table_full)});
    }
    w.print(std::cout);
    if (!c.connections) return;
    std::cout << "\n";
    const std::uint64_t matched = c.matched.value_or(0);
    if (c.connections->empty()) {
        std::cout << matched << " connection(s) match\n";
        return;
    }
    Table t({"NIC", "DIR", "PROTO", "SOURCE", "DESTINATION", "STATE", "EXPIRES_S", "PKTS_ORIG",
             "PKTS_REPLY"});
    auto endpoint = [](const dataplane::Connection& x, std::string a,
                       const std::optional<std::uint16_t>& port) {
        if (a.find(':') != std::string::npos) a = "[" + a + "]";
        if (port) return a + ":" + text(*port);
        if (x.icmp_id) return a + " id " + text(*x.icmp_id);
        return a;
    };
    for (const auto& x : *c.connections) {
        t.add({x.nic, x.direction, x.proto, endpoint(x, x.src, x.sport),
               endpoint(x, x.dst, x.dport), x.state, text(x.expires_in_s), text(x.packets_original),
               text(x.packets_reply)});
    }
    t.print(std::cout);
    const auto shown = c.connections->size();
    if (matched > shown) {
        std::cout << "(" << shown << " of " << matched << " shown; raise --limit)\n";
    }
}

void print_reload(const dataplane::ReloadReply& r) {
    auto list = [](const std::vector<std::string>& a) {
        std::string s;
        for (const auto& x : a) s += (s.empty() ? "" : ", ") + x;
        return s.empty() ? std::string("none") : s;
    };
    std::cout << "reloaded: generation " << r.generation << "\n"
              << "  added:   " << list(r.added) << "\n"
              << "  removed: " << list(r.removed) << "\n"
              << "  updated: " << list(r.updated) << "\n";
}

// Calls `method` and prints its reply: as JSON (as it came) with --json, else read into the
// method's reply struct and shown by `print`.
template <class Reply>
int call(const Target& t, const char* method, const Json& params, void (*print)(const Reply&)) {
    auto r = request(t, method, params);
    if (!r) {
        std::cerr << "vfgatectl: " << method << ": " << r.error().to_string() << "\n";
        return kFailed;
    }
    if (t.json) {
        std::cout << r->dump(2) << "\n";
        return kOk;
    }
    Reply reply;
    try {
        r->get_to(reply);
    } catch (const Json::exception& e) {
        std::cerr << "vfgatectl: " << method << ": unexpected reply: " << e.what() << "\n";
        return kFailed;
    }
    print(reply);
    return kOk;
}

// A subcommand without params.
template <class Reply>
void add_query(CLI::App* dp, const std::shared_ptr<Target>& t, std::function<int()>& run,
               const char* method, const char* help, void (*print)(const Reply&)) {
    dp->add_subcommand(method, help)->callback([t, &run, method, print] {
        run = [t, method, print] { return call(*t, method, Json::object(), print); };
    });
}

}  // namespace

void add_dataplane_commands(CLI::App& app, const std::shared_ptr<DaemonTarget>& daemon,
                            std::function<int()>& run) {
    auto* dp = app.add_subcommand("dataplane", "Query and steer a running vfgate-dataplane");
    dp->require_subcommand(1);
    auto t = std::make_shared<Target>();
    t->daemon = daemon;
    t->socket = config::kDefaultControlSocket;
    dp->add_option("-s,--socket", t->socket, "the dataplane's control socket (not via vfgated)")
        ->capture_default_str()
        ->each([t](const std::string&) { t->socket_given = true; });
    dp->add_option("-c,--config", t->config, "take the control socket from this config");
    dp->add_flag("--json", t->json, "print the reply as JSON");
    dp->fallthrough();

    add_query(dp, t, run, dataplane::method::kStatus,
              "Process, cores, memory and snapshot generation", print_status);
    add_query(dp, t, run, dataplane::method::kPorts, "Ports: role, driver, link, MAC, VLAN, uplink",
              print_ports);
    add_query(dp, t, run, dataplane::method::kStats,
              "Counters per port (drops by reason) and per worker", print_stats);
    add_query(dp, t, run, dataplane::method::kFdb,
              "The forwarding table: which MAC is on which port, per VLAN", print_fdb);
    auto nic = std::make_shared<std::string>();
    auto* rules = dp->add_subcommand(
        "rules", "Firewall rules with their hits (and packets their NIC flows dropped), per NIC");
    rules->add_option("NIC", *nic, "only this guest NIC (guest/nic)");
    rules->callback([t, nic, &run] {
        run = [t, nic] {
            return call(*t, dataplane::method::kRules, Json(dataplane::RulesRequest{*nic}),
                        print_rules);
        };
    });
    auto limit = std::make_shared<std::size_t>(100);
    auto count_only = std::make_shared<bool>(false);
    auto* ct = dp->add_subcommand(
        "conntrack", "Tracked connections: counts per worker, and the connections themselves");
    ct->add_option("NIC", *nic, "only the connections of this guest NIC (guest/nic)");
    ct->add_option("-n,--limit", *limit, "list at most this many connections")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{1}, std::size_t{dataplane::method::kMaxConntrackListed}));
    ct->add_flag("--count", *count_only, "only the counts, no listing");
    ct->callback([t, nic, limit, count_only, &run] {
        run = [t, nic, limit, count_only] {
            dataplane::ConntrackRequest req{.nic = *nic, .limit = *count_only ? 0 : *limit};
            return call(*t, dataplane::method::kConntrack, Json(req), print_conntrack);
        };
    });
    add_query(dp, t, run, dataplane::method::kOffload,
              "What runs in the NICs (rte_flow) and what stays in software, and why",
              print_offload);
    auto path = std::make_shared<std::string>();
    auto* reload =
        dp->add_subcommand("reload", "Re-read the config file and apply the changes live");
    reload->add_option("FILE", *path, "a config file to switch to (default: the one it runs)");
    reload->callback([t, path, &run] {
        run = [t, path]() -> int {
            dataplane::ReloadRequest req;
            if (!path->empty()) {
                // The dataplane runs elsewhere: a relative path means ours, so send it whole.
                std::error_code ec;
                auto full = std::filesystem::absolute(*path, ec);
                if (ec) {
                    std::cerr << "vfgatectl: reload: " << *path << ": " << ec.message() << "\n";
                    return kFailed;
                }
                req.path = full.lexically_normal().string();
            }
            return call(*t, dataplane::method::kReload, Json(req), print_reload);
        };
    });
}

}  // namespace vfgate::ctl
