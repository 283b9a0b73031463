// vfgatectl dataplane status|ports|stats|fdb|rules|conntrack|reload: a client of the
// dataplane's control socket.

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include <vfgate/common/jsonl.hpp>
#include <vfgate/common/table.hpp>
#include <vfgate/config/load.hpp>
#include <vfgate/dataplane/control.hpp>

#include "commands.hpp"

namespace vfgate::ctl {
namespace {

using jsonl::Json;

struct Target {
    std::string socket;
    std::string config;  // take the socket from this config instead
    bool json = false;
};

std::string text(const Json& v) {
    if (v.is_null()) return "-";
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_float()) {
        char buf[32];
        static_cast<void>(std::snprintf(buf, sizeof buf, "%.1f", v.get<double>()));
        return buf;
    }
    return v.dump();
}

void print_status(const Json& s) {
    for (const auto& [k, v] : s.items()) {
        if (v.is_object()) {
            std::string parts;
            for (const auto& [k2, v2] : v.items()) {
                parts += (parts.empty() ? "" : ", ") + k2 + " " + text(v2);
            }
            std::cout << k << ": " << parts << "\n";
        } else {
            std::cout << k << ": " << text(v) << "\n";
        }
    }
}

void print_ports(const Json& ports) {
    Table t({"NAME", "ROLE", "DPDK", "DRIVER", "LINK", "MAC", "VLAN", "UPLINK", "RXQ", "MTU"});
    for (const auto& p : ports) {
        t.add({text(p["name"]), text(p["role"]), text(p.value("dpdk_port", Json())),
               text(p.value("driver", Json())), text(p.value("link", Json())),
               text(p.value("mac", Json())), text(p.value("vlan", Json())),
               text(p.value("uplink", Json())), text(p.value("rx_queues", Json())),
               text(p.value("mtu", Json()))});
    }
    t.print(std::cout);
}

void print_stats(const Json& s) {
    Table t({"PORT", "RX_PKTS", "RX_BYTES", "TX_PKTS", "TX_BYTES", "DROPS", "DROP_REASONS"});
    for (const auto& p : s["ports"]) {
        std::string why;
        for (const auto& [reason, n] : p["drops"].items()) {
            if (n.get<std::uint64_t>() != 0) {
                why += (why.empty() ? "" : ",") + reason + "=" + text(n);
            }
        }
        t.add({text(p["name"]), text(p["rx_packets"]), text(p["rx_bytes"]), text(p["tx_packets"]),
               text(p["tx_bytes"]), text(p["drops_total"]), why.empty() ? "-" : why});
    }
    t.print(std::cout);
    std::cout << "\n";
    // IN + COPIES = OUT + DROPS: every frame a worker took in, or a flood copied, was sent or
    // counted as a drop.
    Table w({"WORKER", "CORE", "IN", "COPIES", "OUT", "DROPS", "BUSY_%", "CYCLES/PKT"});
    for (const auto& x : s["workers"]) {
        w.add({text(x["index"]), text(x["core"]), text(x["packets_in"]), text(x["copies"]),
               text(x["packets_out"]), text(x["drops"]), text(x["busy_percent"]),
               text(x["cycles_per_packet"])});
    }
    w.print(std::cout);
}

void print_fdb(const Json& fdb) {
    Table t({"UPLINK", "VLAN", "MAC", "PORT"});
    for (const auto& e : fdb) {
        t.add({text(e["uplink"]), text(e["vlan"]), text(e["mac"]), text(e["port"])});
    }
    t.print(std::cout);
}

void print_rules(const Json& nics) {
    Table t({"NIC", "DIR", "RULE", "ACTION", "HITS"});
    for (const auto& n : nics) {
        for (const char* dir : {"ingress", "egress"}) {
            const Json& d = n[dir];
            for (const auto& r : d["rules"]) {
                t.add({text(n["nic"]), dir, text(r["id"]), text(r["action"]), text(r["hits"])});
            }
            t.add({text(n["nic"]), dir, "(default)", text(d["default"]), text(d["default_hits"])});
            if (n["stateful"].get<bool>()) {
                t.add({text(n["nic"]), dir, "(established)", "allow", text(d["established"])});
            }
        }
    }
    t.print(std::cout);
}

void print_conntrack(const Json& c) {
    Table w(
        {"WORKER", "ENTRIES", "DENIED", "CAPACITY", "CREATED", "EXPIRED", "REVOKED", "TABLE_FULL"});
    for (const auto& x : c["workers"]) {
        w.add({text(x["index"]), text(x["entries"]), text(x["denied"]), text(x["capacity"]),
               text(x["created"]), text(x["expired"]), text(x["revoked"]), text(x["table_full"])});
    }
    w.print(std::cout);
    if (!c.contains("connections")) return;
    std::cout << "\n";
    if (c["connections"].empty()) {
        std::cout << text(c["matched"]) << " connection(s) match\n";
        return;
    }
    Table t({"NIC", "DIR", "PROTO", "SOURCE", "DESTINATION", "STATE", "EXPIRES_S", "PKTS_ORIG",
             "PKTS_REPLY"});
    auto endpoint = [](const Json& x, const char* addr, const char* port) {
        std::string a = text(x[addr]);
        if (a.find(':') != std::string::npos) a = "[" + a + "]";
        if (x.contains(port)) return a + ":" + text(x[port]);
        if (x.contains("icmp_id")) return a + " id " + text(x["icmp_id"]);
        return a;
    };
    for (const auto& x : c["connections"]) {
        t.add({text(x["nic"]), text(x["direction"]), text(x["proto"]), endpoint(x, "src", "sport"),
               endpoint(x, "dst", "dport"), text(x["state"]), text(x["expires_in_s"]),
               text(x["packets"]["original"]), text(x["packets"]["reply"])});
    }
    t.print(std::cout);
    const auto shown = c["connections"].size();
    if (c["matched"].get<std::size_t>() > shown) {
        std::cout << "(" << shown << " of " << text(c["matched"]) << " shown; raise --limit)\n";
    }
}

void print_reload(const Json& r) {
    auto list = [](const Json& a) {
        std::string s;
        for (const auto& x : a) s += (s.empty() ? "" : ", ") + x.get<std::string>();
        return s.empty() ? std::string("none") : s;
    };
    std::cout << "reloaded: generation " << r["generation"] << "\n"
              << "  added:   " << list(r["added"]) << "\n"
              << "  removed: " << list(r["removed"]) << "\n"
              << "  updated: " << list(r["updated"]) << "\n";
}

int call(const Target& t, const char* method, const Json& params, void (*print)(const Json&)) {
    std::string socket = t.socket;
    if (!t.config.empty()) {
        auto cfg = config::load_file(t.config);
        if (!cfg.ok()) {
            for (const auto& d : cfg.errors) std::cerr << d.to_string() << "\n";
            return kFailed;
        }
        socket = cfg.config->dataplane ? cfg.config->dataplane->control_socket
                                       : config::kDefaultControlSocket;
    }
    auto r = jsonl::call(socket, method, params);
    if (!r) {
        std::cerr << "vfgatectl: " << method << ": " << r.error().to_string() << "\n";
        return kFailed;
    }
    if (t.json) {
        std::cout << r->dump(2) << "\n";
    } else {
        print(*r);
    }
    return kOk;
}

}  // namespace

void add_dataplane_commands(CLI::App& app, std::function<int()>& run) {
    auto* dp = app.add_subcommand("dataplane", "Query and steer a running vfgate-dataplane");
    dp->require_subcommand(1);
    auto t = std::make_shared<Target>();
    t->socket = config::kDefaultControlSocket;
    dp->add_option("-s,--socket", t->socket, "the dataplane's control socket")
        ->capture_default_str();
    dp->add_option("-c,--config", t->config, "take the control socket from this config");
    dp->add_flag("--json", t->json, "print the reply as JSON");
    dp->fallthrough();

    struct Cmd {
        const char* name;
        const char* help;
        void (*print)(const Json&);
    };
    static const Cmd kCmds[] = {
        {dataplane::method::kStatus, "Process, cores, memory and snapshot generation",
         print_status},
        {dataplane::method::kPorts, "Ports: role, driver, link, MAC, VLAN, uplink", print_ports},
        {dataplane::method::kStats, "Counters per port (drops by reason) and per worker",
         print_stats},
        {dataplane::method::kFdb, "The forwarding table: which MAC is on which port, per VLAN",
         print_fdb},
    };
    for (const auto& c : kCmds) {
        auto* sub = dp->add_subcommand(c.name, c.help);
        sub->callback(
            [t, &run, &c] { run = [t, &c] { return call(*t, c.name, Json::object(), c.print); }; });
    }
    auto nic = std::make_shared<std::string>();
    auto* rules = dp->add_subcommand(
        "rules", "Firewall rules with their hit counters, per guest NIC and direction");
    rules->add_option("NIC", *nic, "only this guest NIC (guest/nic)");
    rules->callback([t, nic, &run] {
        run = [t, nic] {
            Json params = nic->empty() ? Json::object() : Json{{"nic", *nic}};
            return call(*t, dataplane::method::kRules, params, print_rules);
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
            Json params = Json::object();
            if (!nic->empty()) params["nic"] = *nic;
            params["limit"] = *count_only ? 0 : *limit;
            return call(*t, dataplane::method::kConntrack, params, print_conntrack);
        };
    });
    auto path = std::make_shared<std::string>();
    auto* reload =
        dp->add_subcommand("reload", "Re-read the config file and apply the changes live");
    reload->add_option("FILE", *path, "a config file to switch to (default: the one it runs)");
    reload->callback([t, path, &run] {
        run = [t, path]() -> int {
            Json params = Json::object();
            if (!path->empty()) {
                // The dataplane runs elsewhere: a relative path means ours, so send it whole.
                std::error_code ec;
                auto full = std::filesystem::absolute(*path, ec);
                if (ec) {
                    std::cerr << "vfgatectl: reload: " << *path << ": " << ec.message() << "\n";
                    return kFailed;
                }
                params["path"] = full.lexically_normal().string();
            }
            return call(*t, dataplane::method::kReload, params, print_reload);
        };
    });
}

}  // namespace vfgate::ctl
