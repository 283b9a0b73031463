// The families of the dataplane's replies (docs/dataplane.md, "Control socket"): `stats` (per
// port and per worker), `firewall.rules` (per NIC, direction and rule) and `firewall.conntrack`
// (per worker). A field missing from a reply, or of another type, just isn't reported.

#include <span>

#include "families.hpp"

namespace vfgate::control::detail {
namespace {

using json = nlohmann::json;
using prometheus::MetricFamily;
using prometheus::MetricType;

// A number field of each item of a reply's list, reported as one family.
struct Field {
    const char* key;
    const char* name;
    const char* help;
    MetricType type = MetricType::Counter;
    double divide_by = 1;  // busy_percent: 100, for a ratio
};

constexpr Field kPortFields[] = {
    {"rx_packets", "vfgate_port_rx_packets_total",
     "Frames the dataplane received on the port, dropped ones included"},
    {"rx_bytes", "vfgate_port_rx_bytes_total", "Bytes of the frames received on the port"},
    {"tx_packets", "vfgate_port_tx_packets_total",
     "Frames the port's TX queues took (tx_failed drops excluded)"},
    {"tx_bytes", "vfgate_port_tx_bytes_total",
     "Bytes of the frames handed to the port's TX queues"},
};

constexpr Field kDeviceFields[] = {
    {"ipackets", "vfgate_port_device_rx_packets_total",
     "Frames the device received, as its driver counts them (DPDK ipackets)"},
    {"opackets", "vfgate_port_device_tx_packets_total",
     "Frames the device sent, as its driver counts them (DPDK opackets)"},
    {"imissed", "vfgate_port_device_rx_missed_total",
     "Frames the device dropped because its RX ring was full (DPDK imissed)"},
    {"ierrors", "vfgate_port_device_rx_errors_total",
     "Erroneous frames the device received (DPDK ierrors)"},
    {"oerrors", "vfgate_port_device_tx_errors_total", "Frames the device failed to send (oerrors)"},
    {"rx_nombuf", "vfgate_port_device_rx_nombuf_total",
     "Times the device found no mbuf to receive into (DPDK rx_nombuf)"},
};

constexpr Field kWorkerFields[] = {
    {"packets", "vfgate_worker_packets_total",
     "Frames the worker received and processed (the divisor of cycles per packet)"},
    {"packets_in", "vfgate_worker_packets_in_total",
     "Frames the worker received; packets_in + copies = packets_out + drops"},
    {"copies", "vfgate_worker_copies_total",
     "Extra frames floods fanned out to (a frame flooded to N ports counts N-1)"},
    {"packets_out", "vfgate_worker_packets_out_total",
     "Frames the worker handed to TX queues or still buffers for them"},
    {"drops", "vfgate_worker_drops_total", "Frames the worker dropped, for any reason"},
    {"busy_cycles", "vfgate_worker_busy_cycles_total",
     "TSC cycles of loop passes that moved packets (vfgate_dataplane_tsc_hertz per second)"},
    {"idle_cycles", "vfgate_worker_idle_cycles_total", "TSC cycles of loop passes that found none"},
    {"busy_percent", "vfgate_worker_busy_ratio",
     "Share of the worker's cycles spent on passes that moved packets, since start (0 to 1)",
     MetricType::Gauge, 100},
    {"cycles_per_packet", "vfgate_worker_cycles_per_packet",
     "Busy TSC cycles per frame processed, since start", MetricType::Gauge},
    {"verdict_cache_hits", "vfgate_worker_verdict_cache_hits_total",
     "Packets a stateless firewall decided from the worker's verdict cache"},
    {"verdict_cache_misses", "vfgate_worker_verdict_cache_misses_total",
     "Packets a stateless firewall classified because the verdict cache did not know their flow"},
    {"direct_bursts", "vfgate_worker_direct_bursts_total",
     "Full bursts sent straight to their port, past the TX buffers (all one way, untouched)"},
};

constexpr Field kConntrackFields[] = {
    {"entries", "vfgate_conntrack_entries",
     "Entries in the worker's connection table, remembered denials included", MetricType::Gauge},
    {"denied", "vfgate_conntrack_denied_entries",
     "Entries that remember a denied flow (part of vfgate_conntrack_entries)", MetricType::Gauge},
    {"capacity", "vfgate_conntrack_capacity", "Entries the worker's connection table can hold",
     MetricType::Gauge},
    {"created", "vfgate_conntrack_created_total", "Connections the worker's table recorded"},
    {"expired", "vfgate_conntrack_expired_total", "Connections that timed out"},
    {"evicted", "vfgate_conntrack_evicted_total",
     "Connections never answered that a new one evicted from the worker's full table"},
    {"revoked", "vfgate_conntrack_revoked_total",
     "Connections cut because a rule change no longer allows them"},
    {"table_full", "vfgate_conntrack_table_full_total",
     "New connections that found the worker's table full (dropped as conntrack_full)"},
};

// One family per field, a sample per item of `items` that has `id_key` (as label `label`) and
// the field (in the item's member `sub` when given).
void item_families(const json& items, const char* id_key, const char* label, const char* sub,
                   std::span<const Field> fields, std::vector<MetricFamily>& out) {
    if (!items.is_array()) return;
    for (const Field& field : fields) {
        auto f = family(field.name, field.help, field.type);
        for (const json& item : items) {
            auto id = label_value(item, id_key);
            auto v = number(sub != nullptr ? member(item, sub) : item, field.key);
            if (id && v) add(f, {{label, *id}}, *v / field.divide_by);
        }
        keep(out, std::move(f));
    }
}

void drop_families(const json& ports, std::vector<MetricFamily>& out) {
    auto f = family("vfgate_port_drops_total",
                    "Frames dropped, by the port they came in on (tx_failed: the port that "
                    "refused them) and reason (docs/dataplane.md, Drops)",
                    MetricType::Counter);
    if (ports.is_array()) {
        for (const json& p : ports) {
            auto name = label_value(p, "name");
            const json& drops = member(p, "drops");
            if (!name || !drops.is_object()) continue;
            for (const auto& [reason, count] : drops.items()) {
                if (!count.is_number()) continue;
                add(f, {{"port", *name}, {"reason", reason}}, count.get<double>());
            }
        }
    }
    keep(out, std::move(f));
}

}  // namespace

void stats_families(const json& stats, std::vector<MetricFamily>& out) {
    if (auto hz = number(stats, "tsc_hz")) {
        auto f =
            family("vfgate_dataplane_tsc_hertz",
                   "TSC frequency: the dataplane's cycle counters advance this much per second",
                   MetricType::Gauge);
        add(f, {}, *hz);
        keep(out, std::move(f));
    }
    const json& ports = member(stats, "ports");
    item_families(ports, "name", "port", nullptr, kPortFields, out);
    drop_families(ports, out);
    item_families(ports, "name", "port", "device", kDeviceFields, out);
    item_families(member(stats, "workers"), "index", "worker", nullptr, kWorkerFields, out);
}

void rules_families(const json& rules, std::vector<MetricFamily>& out) {
    auto hits = family("vfgate_rule_hits_total",
                       "Packets a firewall rule matched, per guest NIC, direction and rule id",
                       MetricType::Counter);
    auto defaults = family("vfgate_rule_default_hits_total",
                           "Packets no rule matched, which got the direction's default action",
                           MetricType::Counter);
    auto established = family("vfgate_firewall_established_total",
                              "Packets a stateful firewall passed as part of a known connection",
                              MetricType::Counter);
    if (rules.is_array()) {
        for (const json& n : rules) {
            auto nic = label_value(n, "nic");
            if (!nic) continue;
            for (const char* dir : {"ingress", "egress"}) {
                const json& d = member(n, dir);
                if (const json& list = member(d, "rules"); list.is_array()) {
                    for (const json& r : list) {
                        auto id = label_value(r, "id");
                        auto action = label_value(r, "action");
                        auto v = number(r, "hits");
                        if (!id || !v) continue;
                        add(hits,
                            {{"nic", *nic},
                             {"direction", dir},
                             {"rule", *id},
                             {"action", action.value_or("")}},
                            *v);
                    }
                }
                if (auto v = number(d, "default_hits")) {
                    add(defaults,
                        {{"nic", *nic},
                         {"direction", dir},
                         {"action", label_value(d, "default").value_or("")}},
                        *v);
                }
                if (auto v = number(d, "established")) {
                    add(established, {{"nic", *nic}, {"direction", dir}}, *v);
                }
            }
        }
    }
    keep(out, std::move(hits));
    keep(out, std::move(defaults));
    keep(out, std::move(established));
}

void conntrack_families(const json& conntrack, std::vector<MetricFamily>& out) {
    item_families(member(conntrack, "workers"), "index", "worker", nullptr, kConntrackFields, out);
}

}  // namespace vfgate::control::detail
