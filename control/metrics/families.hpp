#pragma once
// The metric families of one MetricsSample (see metrics.hpp for the names), built directly as
// prometheus-cpp MetricFamily values: pure, no I/O. Internal to control/metrics.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <prometheus/metric_family.h>

#include "metrics.hpp"

namespace vfgate::control::detail {

using Labels = std::vector<prometheus::ClientMetric::Label>;

// Every family of `sample`, in a fixed order; families without a sample are left out.
std::vector<prometheus::MetricFamily> families(const MetricsSample& sample);

// Helpers shared by the builders.
prometheus::MetricFamily family(const char* name, const char* help, prometheus::MetricType type);
// Appends a sample: the counter or the gauge value, after the family's type.
void add(prometheus::MetricFamily& f, Labels labels, double value);
// Moves `f` to `out` unless it has no sample.
void keep(std::vector<prometheus::MetricFamily>& out, prometheus::MetricFamily f);

// A number member of a JSON object; nullopt when `j` isn't an object or the member is
// missing or not a number.
std::optional<double> number(const nlohmann::json& j, const char* key);
// A member usable as a label value: a string as it is, an integer in decimal.
std::optional<std::string> label_value(const nlohmann::json& j, const char* key);
// A member of an object, or an empty JSON value when there is none.
const nlohmann::json& member(const nlohmann::json& j, const char* key);

// The dataplane's replies (families_dataplane.cpp).
void stats_families(const nlohmann::json& stats, std::vector<prometheus::MetricFamily>& out);
void rules_families(const nlohmann::json& rules, std::vector<prometheus::MetricFamily>& out);
void conntrack_families(const nlohmann::json& conntrack,
                        std::vector<prometheus::MetricFamily>& out);
// The `offload` reply (families_offload.cpp).
void offload_families(const nlohmann::json& offload, std::vector<prometheus::MetricFamily>& out);

}  // namespace vfgate::control::detail
