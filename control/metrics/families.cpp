// The families of a MetricsSample: the daemon's own (dataplane up, applies), the guests' and
// the VFs', then the dataplane's replies (families_dataplane.cpp).

#include "families.hpp"

#include <algorithm>
#include <string_view>

namespace vfgate::control::detail {
namespace {

using json = nlohmann::json;
using prometheus::MetricFamily;
using prometheus::MetricType;

void control_families(const MetricsSample& s, std::vector<MetricFamily>& out) {
    auto up = family("vfgate_dataplane_up",
                     "1 when vfgated reached the dataplane's control socket for this scrape",
                     MetricType::Gauge);
    add(up, {}, s.dataplane_up ? 1 : 0);
    keep(out, std::move(up));
    auto restarts = family("vfgate_dataplane_restarts_total",
                           "Times vfgated started the dataplane process again after it ended",
                           MetricType::Counter);
    add(restarts, {}, static_cast<double>(s.dataplane_restarts));
    keep(out, std::move(restarts));
    auto applies =
        family("vfgate_applies_total", "Plans vfgated applied to the host, failed ones included",
               MetricType::Counter);
    add(applies, {}, static_cast<double>(s.applies));
    keep(out, std::move(applies));
    auto failures = family("vfgate_apply_failures_total",
                           "Plans whose apply failed (and was rolled back)", MetricType::Counter);
    add(failures, {}, static_cast<double>(s.apply_failures));
    keep(out, std::move(failures));
    auto last = family("vfgate_last_apply_timestamp_seconds",
                       "Unix time of the last apply, 0 when none yet", MetricType::Gauge);
    add(last, {}, s.last_apply_timestamp_seconds);
    keep(out, std::move(last));
}

void guest_families(const std::vector<GuestSample>& guests, std::vector<MetricFamily>& out) {
    auto up = family("vfgate_guest_up", "1 when the guest's QEMU runs it (state running)",
                     MetricType::Gauge);
    auto state = family("vfgate_guest_state",
                        "The guest's state as vfgate-vm reports it: 1 for the current state",
                        MetricType::Gauge);
    auto restarts = family("vfgate_guest_restarts_total",
                           "Times the supervisor restarted the guest's QEMU after it ended",
                           MetricType::Counter);
    for (const GuestSample& g : guests) {
        add(up, {{"guest", g.name}}, g.state == "running" ? 1 : 0);
        for (std::string_view known : kGuestStates) {
            add(state, {{"guest", g.name}, {"state", std::string(known)}},
                known == g.state ? 1 : 0);
        }
        if (std::find(kGuestStates.begin(), kGuestStates.end(), g.state) == kGuestStates.end()) {
            add(state, {{"guest", g.name}, {"state", g.state.empty() ? "unknown" : g.state}}, 1);
        }
        add(restarts, {{"guest", g.name}}, g.restarts);
    }
    keep(out, std::move(up));
    keep(out, std::move(state));
    keep(out, std::move(restarts));
}

void vf_families(const std::vector<VfSample>& vfs, std::vector<MetricFamily>& out) {
    auto assigned =
        family("vfgate_vf_assigned",
               "1 when the VF is assigned to a guest NIC (label guest), else 0", MetricType::Gauge);
    auto driver = family("vfgate_vf_driver_info",
                         "The driver the VF is bound to (\"none\" when unbound); always 1",
                         MetricType::Gauge);
    for (const VfSample& v : vfs) {
        const std::string index = std::to_string(v.index);
        add(assigned, {{"pf", v.pf}, {"vf", index}, {"guest", v.guest}}, v.assigned ? 1 : 0);
        add(driver, {{"pf", v.pf}, {"vf", index}, {"driver", v.driver.empty() ? "none" : v.driver}},
            1);
    }
    keep(out, std::move(assigned));
    keep(out, std::move(driver));
}

}  // namespace

std::vector<MetricFamily> families(const MetricsSample& sample) {
    std::vector<MetricFamily> out;
    control_families(sample, out);
    guest_families(sample.guests, out);
    vf_families(sample.vfs, out);
    if (sample.stats) stats_families(*sample.stats, out);
    if (sample.rules) rules_families(*sample.rules, out);
    if (sample.conntrack) conntrack_families(*sample.conntrack, out);
    if (sample.offload) offload_families(*sample.offload, out);
    return out;
}

MetricFamily family(const char* name, const char* help, MetricType type) {
    MetricFamily f;
    f.name = name;
    f.help = help;
    f.type = type;
    return f;
}

void add(MetricFamily& f, Labels labels, double value) {
    prometheus::ClientMetric m;
    m.label = std::move(labels);
    if (f.type == MetricType::Counter) {
        m.counter.value = value;
    } else {
        m.gauge.value = value;
    }
    f.metric.push_back(std::move(m));
}

void keep(std::vector<MetricFamily>& out, MetricFamily f) {
    if (!f.metric.empty()) out.push_back(std::move(f));
}

std::optional<double> number(const json& j, const char* key) {
    if (!j.is_object()) return std::nullopt;
    auto it = j.find(key);
    if (it == j.end() || !it->is_number()) return std::nullopt;
    return it->get<double>();
}

std::optional<std::string> label_value(const json& j, const char* key) {
    if (!j.is_object()) return std::nullopt;
    auto it = j.find(key);
    if (it == j.end()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_number_integer()) return it->dump();
    return std::nullopt;
}

const json& member(const json& j, const char* key) {
    static const json kNone;
    if (!j.is_object()) return kNone;
    auto it = j.find(key);
    return it == j.end() ? kNone : *it;
}

}  // namespace vfgate::control::detail
