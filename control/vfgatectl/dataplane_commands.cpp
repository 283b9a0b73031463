// vfgatectl dataplane status|ports|stats|fdb|reload: a client of the dataplane's control socket.

#include <cstdio>
#include <iostream>
#include <memory>

#include <vfgate/common/jsonl.hpp>
#include <vfgate/config/load.hpp>
#include <vfgate/dataplane/control.hpp>

#include "commands.hpp"
#include "table.hpp"

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
    Table w({"WORKER", "CORE", "PACKETS", "BUSY_%", "CYCLES/PKT"});
    for (const auto& x : s["workers"]) {
        w.add({text(x["index"]), text(x["core"]), text(x["packets"]), text(x["busy_percent"]),
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
    auto path = std::make_shared<std::string>();
    auto* reload =
        dp->add_subcommand("reload", "Re-read the config file and apply the changes live");
    reload->add_option("FILE", *path, "a config file to switch to (default: the one it runs)");
    reload->callback([t, path, &run] {
        run = [t, path] {
            Json params = path->empty() ? Json::object() : Json{{"path", *path}};
            return call(*t, dataplane::method::kReload, params, print_reload);
        };
    });
}

}  // namespace vfgate::ctl
