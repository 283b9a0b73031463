// control/metrics: the text exposition of a sample built from real dataplane replies (captured
// from vfgate-dataplane on net_pcap ports: tests/unit/data/metrics/), checked line by line,
// against a golden file (tests/unit/golden/metrics/) and with `promtool check metrics`.

#include "metrics/metrics.hpp"

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../common/golden.hpp"
#include "../common/promtool.hpp"

namespace {

using nlohmann::json;
using testing::Contains;
using testing::Not;
using vfgate::control::Metrics;
using vfgate::control::MetricsSample;

const std::string kData = std::string(VFGATE_SOURCE_ROOT) + "/tests/unit/data/metrics/";

json load(const std::string& name) {
    std::ifstream in(kData + name);
    EXPECT_TRUE(in) << kData + name;
    return json::parse(in, nullptr, false);
}

MetricsSample captured() {
    MetricsSample s;
    s.dataplane_up = true;
    s.stats = load("stats.json");
    s.rules = load("rules.json");
    s.conntrack = load("conntrack.json");
    s.offload = load("offload.json");
    s.guests = {{"web", "running", 0, 4242}, {"app", "crashed", 3, 0}, {"lab", "migrating", 1, 0}};
    s.vfs = {{"pf0", 0, "web/eth0", "vfio-pci", true}, {"pf0", 1, "", "", false}};
    s.applies = 7;
    s.apply_failures = 1;
    s.dataplane_restarts = 2;
    s.last_apply_timestamp_seconds = 1764000000.5;
    return s;
}

std::string text_of(MetricsSample s) {
    return Metrics([s = std::move(s)] { return s; }).text();
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

TEST(MetricsText, ReportsPortsDropsRulesConntrackWorkersGuestsAndVfs) {
    const auto l = lines(text_of(captured()));
    EXPECT_THAT(l, Contains("# TYPE vfgate_port_rx_packets_total counter"));
    EXPECT_THAT(l, Contains("# HELP vfgate_port_rx_packets_total Frames the dataplane received "
                            "on the port, dropped ones included"));
    EXPECT_THAT(l, Contains("vfgate_port_rx_packets_total{port=\"up0\"} 9"));
    EXPECT_THAT(l, Contains("vfgate_port_rx_bytes_total{port=\"web/eth0\"} 216"));
    EXPECT_THAT(l, Contains("vfgate_port_tx_packets_total{port=\"app/eth0\"} 1"));
    EXPECT_THAT(l, Contains("vfgate_port_drops_total{port=\"up0\",reason=\"runt\"} 1"));
    EXPECT_THAT(l, Contains("vfgate_port_drops_total{port=\"web/eth0\",reason=\"spoofed_mac\"} 1"));
    EXPECT_THAT(l, Contains("vfgate_port_drops_total{port=\"up0\",reason=\"conntrack_full\"} 0"));
    EXPECT_THAT(l, Contains("vfgate_port_device_rx_missed_total{port=\"up0\"} 0"));
    EXPECT_THAT(l, Contains("vfgate_rule_hits_total{nic=\"web/eth0\",direction=\"ingress\","
                            "rule=\"ssh\",action=\"allow\"} 3"));
    EXPECT_THAT(l, Contains("vfgate_rule_hits_total{nic=\"web/eth0\",direction=\"egress\","
                            "rule=\"no-smtp\",action=\"deny\"} 2"));
    EXPECT_THAT(l, Contains("vfgate_rule_default_hits_total{nic=\"web/eth0\","
                            "direction=\"ingress\",action=\"deny\"} 2"));
    EXPECT_THAT(l, Contains("vfgate_firewall_established_total{nic=\"web/eth0\","
                            "direction=\"egress\"} 1"));
    EXPECT_THAT(l, Contains("# TYPE vfgate_conntrack_entries gauge"));
    EXPECT_THAT(l, Contains("vfgate_conntrack_entries{worker=\"0\"} 8"));
    EXPECT_THAT(l, Contains("vfgate_conntrack_table_full_total{worker=\"0\"} 0"));
    EXPECT_THAT(l, Contains("vfgate_worker_packets_total{worker=\"0\"} 13"));
    EXPECT_THAT(l, Contains("vfgate_worker_cycles_per_packet{worker=\"0\"} 19762"));
    EXPECT_THAT(l, Contains("vfgate_worker_busy_ratio{worker=\"0\"} 1.861083013688019e-05"));
    EXPECT_THAT(l, Contains("vfgate_dataplane_tsc_hertz 2600000000"));
    EXPECT_THAT(l, Contains("# TYPE vfgate_offload_flows gauge"));
    EXPECT_THAT(l, Contains("vfgate_offload_flows{port=\"up0\"} 3"));
    EXPECT_THAT(l, Contains("vfgate_offload_port_state{port=\"up0\",state=\"on\"} 1"));
    EXPECT_THAT(l, Contains("vfgate_offload_port_state{port=\"up0\",state=\"unsupported\"} 0"));
    EXPECT_THAT(l, Contains("vfgate_offload_refused_flows{port=\"up0\"} 1"));
    EXPECT_THAT(l, Contains("vfgate_offload_entries{port=\"up0\",where=\"nic\"} 2"));
    EXPECT_THAT(l, Contains("vfgate_offload_entries{port=\"up0\",where=\"software\"} 5"));
    EXPECT_THAT(l, Contains("# TYPE vfgate_offload_nic_packets_total counter"));
    EXPECT_THAT(l, Contains("vfgate_offload_nic_packets_total{port=\"up0\",nic=\"app/eth0\","
                            "direction=\"ingress\",rule=\"default\"} 3"));
    EXPECT_THAT(l, Contains("vfgate_offload_nic_packets_total{port=\"up0\",nic=\"\","
                            "direction=\"\",rule=\"(unused-vlans)\"} 5"));
    EXPECT_THAT(l, Contains("vfgate_offload_last_update_seconds 0.00175"));
    EXPECT_THAT(l, Contains("vfgate_offload_swap_in_software 0"));
    EXPECT_THAT(l, Contains("vfgate_dataplane_up 1"));
    EXPECT_THAT(l, Contains("vfgate_guest_up{guest=\"web\"} 1"));
    EXPECT_THAT(l, Contains("vfgate_guest_up{guest=\"app\"} 0"));
    EXPECT_THAT(l, Contains("vfgate_guest_state{guest=\"app\",state=\"crashed\"} 1"));
    EXPECT_THAT(l, Contains("vfgate_guest_state{guest=\"app\",state=\"running\"} 0"));
    EXPECT_THAT(l, Contains("vfgate_guest_state{guest=\"lab\",state=\"migrating\"} 1"));
    EXPECT_THAT(l, Contains("vfgate_guest_restarts_total{guest=\"app\"} 3"));
    EXPECT_THAT(l, Contains("vfgate_vf_assigned{pf=\"pf0\",vf=\"0\",guest=\"web/eth0\"} 1"));
    EXPECT_THAT(l, Contains("vfgate_vf_driver_info{pf=\"pf0\",vf=\"1\",driver=\"none\"} 1"));
    EXPECT_THAT(l, Contains("vfgate_applies_total 7"));
    EXPECT_THAT(l, Contains("vfgate_apply_failures_total 1"));
    EXPECT_THAT(l, Contains("vfgate_dataplane_restarts_total 2"));
    EXPECT_THAT(l, Contains("vfgate_last_apply_timestamp_seconds 1764000000.5"));
}

// Every family has HELP and TYPE lines before its samples, a vfgate_ name, _total on counters.
TEST(MetricsText, EveryFamilyIsDeclaredAndNamedByTheRules) {
    std::map<std::string, std::string> type;
    std::set<std::string> help;
    std::size_t samples = 0;
    for (const std::string& l : lines(text_of(captured()))) {
        std::istringstream in(l);
        std::string first, name, rest;
        in >> first;
        if (first == "#") {
            std::string kind;
            in >> kind >> name >> rest;
            EXPECT_EQ(name.rfind("vfgate_", 0), 0U) << l;
            if (kind == "TYPE") type[name] = rest;
            if (kind == "HELP") help.insert(name);
            EXPECT_FALSE(rest.empty()) << l;
            continue;
        }
        name = first.substr(0, first.find('{'));
        ++samples;
        ASSERT_TRUE(type.contains(name)) << "no TYPE before " << l;
        EXPECT_TRUE(help.contains(name)) << "no HELP before " << l;
        if (type[name] == "counter") {
            EXPECT_TRUE(name.ends_with("_total")) << l;
        } else {
            EXPECT_EQ(type[name], "gauge") << l;
            EXPECT_FALSE(name.ends_with("_total")) << l;
        }
    }
    EXPECT_GT(samples, 100U);
    EXPECT_EQ(type.size(), help.size());
}

TEST(MetricsText, MatchesTheGoldenFile) {
    vfgate::testing::expect_golden(
        std::string(VFGATE_SOURCE_ROOT) + "/tests/unit/golden/metrics/captured.txt",
        text_of(captured()));
}

std::pair<int, std::string> promtool(const std::string& text) {
    return vfgate::testing::promtool_check_metrics(VFGATE_PROMTOOL, text);
}

TEST(MetricsText, PassesPromtoolCheckMetrics) {
    ASSERT_STRNE(VFGATE_PROMTOOL, "") << "promtool not found (Debian package prometheus; "
                                         "scripts/setup installs it)";
    auto [status, out] = promtool(text_of(captured()));
    EXPECT_EQ(status, 0) << out;
    EXPECT_EQ(out, "");
    // The check has teeth: a counter without _total is reported.
    auto [bad_status, bad_out] = promtool(
        "# HELP vfgate_x A counter.\n# TYPE vfgate_x counter\n"
        "vfgate_x 1\n");
    EXPECT_NE(bad_status, 0);
    EXPECT_THAT(bad_out, testing::HasSubstr("_total"));
}

TEST(MetricsText, DataplaneDownReportsOnlyTheDaemonsOwn) {
    MetricsSample s;
    s.applies = 1;
    const std::string text = text_of(s);
    EXPECT_THAT(lines(text), Contains("vfgate_dataplane_up 0"));
    EXPECT_THAT(lines(text), Contains("vfgate_applies_total 1"));
    EXPECT_EQ(text.find("vfgate_port_"), std::string::npos) << text;
    EXPECT_EQ(text.find("vfgate_guest_"), std::string::npos) << text;  // no guest: no family
    EXPECT_EQ(promtool(text).first, 0);
}

// A reply with fields missing or of another type loses those metrics, nothing else.
TEST(MetricsText, ToleratesMissingAndMistypedFields) {
    MetricsSample s;
    s.dataplane_up = true;
    s.stats = json::parse(R"({"ports": [{"name": "p0", "rx_packets": 5, "tx_packets": "many",
                                         "drops": {"runt": 2, "odd": null}},
                                        {"rx_packets": 7}],
                              "workers": "none", "tsc_hz": null})");
    s.rules = json::parse(R"([{"nic": "g/a", "ingress": {"rules": [{"id": "r1", "hits": 4},
                                                                   {"hits": 9}]},
                               "egress": 3}, {"ingress": {}}, 5])");
    s.conntrack = json::parse(R"({"workers": [{"index": 0, "entries": 3}, {"entries": 4}]})");
    const auto l = lines(text_of(s));
    EXPECT_THAT(l, Contains("vfgate_port_rx_packets_total{port=\"p0\"} 5"));
    EXPECT_THAT(l, Contains("vfgate_port_drops_total{port=\"p0\",reason=\"runt\"} 2"));
    EXPECT_THAT(l, Contains("vfgate_rule_hits_total{nic=\"g/a\",direction=\"ingress\","
                            "rule=\"r1\",action=\"\"} 4"));
    EXPECT_THAT(l, Contains("vfgate_conntrack_entries{worker=\"0\"} 3"));
    const std::string text = text_of(s);
    for (const char* absent : {"vfgate_port_tx_packets_total", "reason=\"odd\"", "vfgate_worker_",
                               "vfgate_dataplane_tsc_hertz", "vfgate_rule_default_hits_total",
                               "} 7", "} 9", "vfgate_conntrack_created_total"}) {
        EXPECT_EQ(text.find(absent), std::string::npos) << absent << " in\n" << text;
    }
    EXPECT_EQ(promtool(text).first, 0);
}

// A dataplane older than the `offload` method: its other families stay, no offload family.
TEST(MetricsText, WithoutAnOffloadReplyOnlyTheOffloadFamiliesAreMissing) {
    MetricsSample s = captured();
    s.offload.reset();
    const std::string text = text_of(s);
    EXPECT_EQ(text.find("vfgate_offload_"), std::string::npos) << text;
    EXPECT_THAT(lines(text), Contains("vfgate_port_rx_packets_total{port=\"up0\"} 9"));
    EXPECT_EQ(promtool(text).first, 0);
}

// A PMD without rte_flow: its state, nothing in the NIC, no counter, no update yet.
TEST(MetricsText, OffloadOfAnUnsupportedPort) {
    MetricsSample s;
    s.dataplane_up = true;
    s.offload = load("offload_unsupported.json");
    const std::string text = text_of(s);
    const auto l = lines(text);
    EXPECT_THAT(l, Contains("vfgate_offload_port_state{port=\"up0\",state=\"unsupported\"} 1"));
    EXPECT_THAT(l, Contains("vfgate_offload_port_state{port=\"up0\",state=\"on\"} 0"));
    EXPECT_THAT(l, Contains("vfgate_offload_flows{port=\"up0\"} 0"));
    EXPECT_THAT(l, Contains("vfgate_offload_entries{port=\"up0\",where=\"nic\"} 0"));
    EXPECT_THAT(l, Contains("vfgate_offload_entries{port=\"up0\",where=\"software\"} 2"));
    for (const char* absent : {"vfgate_offload_nic_packets_total", "vfgate_offload_last_update",
                               "vfgate_offload_swap_in_software"}) {
        EXPECT_EQ(text.find(absent), std::string::npos) << absent << " in\n" << text;
    }
    EXPECT_EQ(promtool(text).first, 0);
}

// Mistyped fields lose their series; a state vfgate doesn't know gets its own; a swap is 1; the
// same labels twice (a rule with the id "default" beside the default) give one series.
TEST(MetricsText, OffloadToleratesOddReplies) {
    MetricsSample s;
    s.offload = json::parse(R"({"ports": [{"name": "up0", "state": "paused", "flows": "3"},
                                          {"state": "on", "flows": 1}],
                                "entries": [{"port": "up0", "kind": "rule", "nic": "g/a",
                                             "direction": "ingress", "rule": "default",
                                             "where": "nic", "nic_packets": 4},
                                            {"port": "up0", "kind": "rule", "nic": "g/a",
                                             "direction": "ingress", "rule": "default",
                                             "where": "nic", "nic_packets": 6},
                                            {"port": "up0", "where": "nic", "nic_packets": 9}],
                                "last_update": {"ms": "slow", "swap_in_software": true}})");
    const std::string text = text_of(s);
    const auto l = lines(text);
    EXPECT_THAT(l, Contains("vfgate_offload_port_state{port=\"up0\",state=\"paused\"} 1"));
    EXPECT_THAT(l, Contains("vfgate_offload_port_state{port=\"up0\",state=\"on\"} 0"));
    EXPECT_THAT(l, Contains("vfgate_offload_entries{port=\"up0\",where=\"nic\"} 3"));
    EXPECT_THAT(l, Contains("vfgate_offload_nic_packets_total{port=\"up0\",nic=\"g/a\","
                            "direction=\"ingress\",rule=\"default\"} 4"));
    EXPECT_THAT(l, Contains("vfgate_offload_swap_in_software 1"));
    for (const char* absent : {"vfgate_offload_flows", "} 6", "} 9", "last_update_seconds"}) {
        EXPECT_EQ(text.find(absent), std::string::npos) << absent << " in\n" << text;
    }
    EXPECT_EQ(promtool(text).first, 0);
}

TEST(MetricsText, LabelValuesAreEscaped) {
    MetricsSample s;
    s.guests = {{"a\"b\\c\nd", "running", 0, 0}};
    EXPECT_THAT(lines(text_of(s)), Contains("vfgate_guest_up{guest=\"a\\\"b\\\\c\\nd\"} 1"));
    EXPECT_EQ(promtool(text_of(s)).first, 0);
}

TEST(MetricsText, ASourceThatThrowsGivesAnEmptyScrape) {
    Metrics m([]() -> MetricsSample { throw std::runtime_error("dataplane reply garbled"); });
    EXPECT_EQ(m.text(), "");
}

}  // namespace
