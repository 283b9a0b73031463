#include "telemetry.hpp"

#include <atomic>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>
#include <rte_telemetry.h>

#include "dataplane.hpp"

namespace vfgate::dataplane {
namespace {

using nlohmann::json;

// Telemetry callbacks have no user data: they find the dataplane here. Set by the control
// thread at start (release), cleared at stop; read by the telemetry thread (acquire).
std::atomic<const Dataplane*> g_dataplane{nullptr};

// Flat JSON object -> telemetry dict of unsigned ints and strings; nested objects are
// flattened with '_' ("drops" {"runt": 1} -> "drops_runt").
void add_flat(rte_tel_data* d, const json& obj, const std::string& prefix) {
    for (const auto& [k, v] : obj.items()) {
        std::string key = prefix;
        if (!key.empty()) key += '_';
        key += k;
        if (v.is_object()) {
            add_flat(d, v, key);
        } else if (v.is_number_unsigned() || v.is_number_integer()) {
            rte_tel_data_add_dict_u64(d, key.c_str(), v.get<std::uint64_t>());
        } else if (v.is_number_float()) {
            rte_tel_data_add_dict_u64(d, key.c_str(), static_cast<std::uint64_t>(v.get<double>()));
        } else if (v.is_string()) {
            rte_tel_data_add_dict_string(d, key.c_str(), v.get<std::string>().c_str());
        } else if (v.is_boolean()) {
            rte_tel_data_add_dict_u64(d, key.c_str(), v.get<bool>() ? 1 : 0);
        }
    }
}

int status(const char*, const char*, rte_tel_data* d) {
    const Dataplane* dp = g_dataplane.load(std::memory_order_acquire);
    if (dp == nullptr) return -EAGAIN;
    const json s = dp->status();
    rte_tel_data_start_dict(d);
    for (const char* key : {"host", "pid", "generation", "ports", "uptime_s", "file_prefix"}) {
        add_flat(d, json{{key, s[key]}}, "");
    }
    return 0;
}

int ports(const char*, const char*, rte_tel_data* d) {
    const Dataplane* dp = g_dataplane.load(std::memory_order_acquire);
    if (dp == nullptr) return -EAGAIN;
    rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
    for (const auto& p : dp->ports()) rte_tel_data_add_array_string(d, p.name.c_str());
    return 0;
}

int port_stats(const char*, const char* params, rte_tel_data* d) {
    const Dataplane* dp = g_dataplane.load(std::memory_order_acquire);
    if (dp == nullptr) return -EAGAIN;
    if (params == nullptr || *params == '\0') return -EINVAL;
    const json stats = dp->stats();  // not `: dp->stats()["ports"]`: the temporary would die
    for (const auto& p : stats["ports"]) {
        if (p["name"] != params) continue;
        rte_tel_data_start_dict(d);
        json flat = p;
        flat.erase("name");
        add_flat(d, flat, "");
        return 0;
    }
    return -ENOENT;
}

int worker_stats(const char*, const char* params, rte_tel_data* d) {
    const Dataplane* dp = g_dataplane.load(std::memory_order_acquire);
    if (dp == nullptr) return -EAGAIN;
    if (params == nullptr || *params == '\0') return -EINVAL;
    char* end = nullptr;
    unsigned long want = std::strtoul(params, &end, 10);
    if (*end != '\0') return -EINVAL;
    const json stats = dp->stats();
    for (const auto& w : stats["workers"]) {
        if (w["index"].get<unsigned long>() != want) continue;
        rte_tel_data_start_dict(d);
        add_flat(d, w, "");
        return 0;
    }
    return -ENOENT;
}

}  // namespace

void register_telemetry(const Dataplane& dp) {
    static bool registered = false;
    g_dataplane.store(&dp, std::memory_order_release);
    if (registered) return;
    registered = true;
    rte_telemetry_register_cmd("/vfgate/status", status, "vfgate dataplane status. No parameters");
    rte_telemetry_register_cmd("/vfgate/ports", ports, "vfgate port names. No parameters");
    rte_telemetry_register_cmd("/vfgate/port_stats", port_stats,
                               "vfgate counters of one port. Parameters: port name");
    rte_telemetry_register_cmd("/vfgate/worker_stats", worker_stats,
                               "vfgate counters of one worker. Parameters: worker index");
}

void unregister_telemetry() { g_dataplane.store(nullptr, std::memory_order_release); }

}  // namespace vfgate::dataplane
