// The families of the dataplane's `offload` reply (docs/dataplane.md, "Control socket"): per
// uplink its state, flows in the NIC and flows refused, its entries per placement, the packets
// the NIC flows counted, and the last update. As for the other replies, a field missing or of
// another type just isn't reported.

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "families.hpp"

namespace vfgate::control::detail {
namespace {

using json = nlohmann::json;
using prometheus::MetricFamily;
using prometheus::MetricType;

void port_families(const json& ports, std::vector<MetricFamily>& out) {
    auto flows =
        family("vfgate_offload_flows",
               "Flows (rte_flow rules) the dataplane has in the uplink's NIC", MetricType::Gauge);
    auto state = family("vfgate_offload_port_state",
                        "The uplink's offload state: 1 for the current one (on; off by config; "
                        "unsupported by its PMD)",
                        MetricType::Gauge);
    auto refused = family("vfgate_offload_refused_flows",
                          "Flows the uplink's PMD refused in the last update (their entries run "
                          "in software)",
                          MetricType::Gauge);
    if (ports.is_array()) {
        for (const json& p : ports) {
            auto name = label_value(p, "name");
            if (!name) continue;
            if (auto v = number(p, "flows")) add(flows, {{"port", *name}}, *v);
            if (auto v = number(p, "refused")) add(refused, {{"port", *name}}, *v);
            auto current = label_value(p, "state");
            if (!current) continue;
            for (std::string_view known : kOffloadStates) {
                add(state, {{"port", *name}, {"state", std::string(known)}},
                    known == *current ? 1 : 0);
            }
            if (std::find(kOffloadStates.begin(), kOffloadStates.end(), *current) ==
                kOffloadStates.end()) {
                add(state, {{"port", *name}, {"state", *current}}, 1);
            }
        }
    }
    keep(out, std::move(flows));
    keep(out, std::move(state));
    keep(out, std::move(refused));
}

// Entries per uplink and placement: both placements of every port listed (0 when none), and
// whatever else the entries name.
void entry_count_family(const json& ports, const json& entries, std::vector<MetricFamily>& out) {
    std::map<std::pair<std::string, std::string>, double> count;
    if (ports.is_array()) {
        for (const json& p : ports) {
            if (auto name = label_value(p, "name")) {
                count[{*name, "nic"}] += 0;
                count[{*name, "software"}] += 0;
            }
        }
    }
    if (entries.is_array()) {
        for (const json& e : entries) {
            auto port = label_value(e, "port");
            auto where = label_value(e, "where");
            if (port && where) count[{*port, *where}] += 1;
        }
    }
    auto f = family("vfgate_offload_entries",
                    "Offload entries (firewall rules and defaults, unused VLANs, steering) per "
                    "uplink, by where they run: nic or software",
                    MetricType::Gauge);
    for (const auto& [key, n] : count) add(f, {{"port", key.first}, {"where", key.second}}, n);
    keep(out, std::move(f));
}

// The packets an entry's NIC flows counted. An entry that isn't a rule shows as its kind in
// parentheses, which no rule id can contain; a series already given (a rule whose id is
// "default" beside its direction's default) is not repeated.
void nic_packets_family(const json& entries, std::vector<MetricFamily>& out) {
    auto f = family("vfgate_offload_nic_packets_total",
                    "Packets the NIC flows of an offload entry dropped, as their COUNT action "
                    "reports (entries without one are absent)",
                    MetricType::Counter);
    std::set<std::tuple<std::string, std::string, std::string, std::string>> seen;
    if (entries.is_array()) {
        for (const json& e : entries) {
            auto port = label_value(e, "port");
            auto kind = label_value(e, "kind");
            auto v = number(e, "nic_packets");
            if (!port || !kind || !v) continue;
            std::string rule = "(" + *kind + ")";
            if (*kind == "rule") rule = label_value(e, "rule").value_or("");
            std::string nic = label_value(e, "nic").value_or("");
            std::string dir = label_value(e, "direction").value_or("");
            if (!seen.emplace(*port, nic, dir, rule).second) continue;
            add(f, {{"port", *port}, {"nic", nic}, {"direction", dir}, {"rule", rule}}, *v);
        }
    }
    keep(out, std::move(f));
}

void update_families(const json& update, std::vector<MetricFamily>& out) {
    if (auto ms = number(update, "ms")) {
        auto f = family("vfgate_offload_last_update_seconds",
                        "Time the last update of the NICs' flows took, creating and destroying "
                        "them (at start or a reload)",
                        MetricType::Gauge);
        add(f, {}, *ms / 1000);
        keep(out, std::move(f));
    }
    if (auto it = update.is_object() ? update.find("swap_in_software") : update.end();
        update.is_object() && it != update.end() && it->is_boolean()) {
        auto f = family("vfgate_offload_swap_in_software",
                        "1 when the last update ran the new rules in software while the NICs' "
                        "old flows were removed (a NIC refused a new flow beside the old ones)",
                        MetricType::Gauge);
        add(f, {}, it->get<bool>() ? 1 : 0);
        keep(out, std::move(f));
    }
}

}  // namespace

void offload_families(const json& offload, std::vector<MetricFamily>& out) {
    const json& ports = member(offload, "ports");
    const json& entries = member(offload, "entries");
    port_families(ports, out);
    entry_count_family(ports, entries, out);
    nic_packets_family(entries, out);
    update_families(member(offload, "last_update"), out);
}

}  // namespace vfgate::control::detail
