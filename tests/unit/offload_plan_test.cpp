// The offload plan: which rules go to the NIC, as which rte_flow rules (in testpmd's syntax),
// and why the others stay in software. Golden files in tests/unit/golden/offload/: NAME.yaml is
// the config, NAME.txt the plan (VFGATE_UPDATE_GOLDEN=1 rewrites it); what the .txt says is
// what `vfgatectl dataplane offload` shows a user.
#include "offload_plan.hpp"

#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vfgate/config/load.hpp>

#include "../common/golden.hpp"

namespace vfgate::dataplane::offload {
namespace {

using ::testing::HasSubstr;

const std::string kDir = std::string(VFGATE_SOURCE_ROOT) + "/tests/unit/golden/offload/";

config::Config load_file(const std::string& path) {
    config::LoadResult r = config::load_file(path);
    if (!r.ok()) {
        for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
        return {};
    }
    return *r.config;
}

const char* kind_name(EntryKind k) {
    switch (k) {
        case EntryKind::kRule:
            return "rule";
        case EntryKind::kUnusedVlans:
            return "unused-vlans";
        case EntryKind::kSteering:
            return "steering";
    }
    return "?";
}

std::string render(const Plan& p) {
    std::ostringstream os;
    for (const auto& e : p.entries) {
        os << e.port << " " << kind_name(e.kind);
        if (e.kind == EntryKind::kRule) {
            os << " " << e.nic << " " << config::to_string(e.direction) << " " << e.rule << " ("
               << config::to_string(e.action) << ")";
        } else if (!e.nic.empty()) {
            os << " " << e.nic;
        }
        if (e.to_nic) {
            os << ": nic, " << e.flows.size() << (e.flows.size() == 1 ? " flow" : " flows") << "\n";
            for (const auto& f : e.flows) os << "  " << to_testpmd(f, e.port) << "\n";
        } else {
            os << ": software: " << e.why_not << "\n";
        }
    }
    return os.str();
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, PlanIsAsRecorded) {
    const auto cfg = load_file(kDir + GetParam() + ".yaml");
    ASSERT_TRUE(cfg.dataplane);
    vfgate::testing::expect_golden(kDir + GetParam() + ".txt", render(plan(cfg)));
}

INSTANTIATE_TEST_SUITE_P(Offload, Golden,
                         ::testing::Values("stateless", "stateful", "uplinks", "switchdev"));

TEST(Plan, NoDataplaneNoEntries) {
    config::Config cfg;
    EXPECT_TRUE(plan(cfg).entries.empty());
}

TEST(Plan, EveryRuleOfEveryDirectionIsListed) {
    const auto cfg = load_file(kDir + "stateless.yaml");
    const Plan p = plan(cfg);
    std::size_t rules = 0;
    for (const auto& e : p.entries) rules += e.kind == EntryKind::kRule ? 1 : 0;
    // web: 13 ingress + default, 1 egress + default; db: 1 + default, 0 + default.
    EXPECT_EQ(rules, 14U + 2U + 2U + 1U);
    for (const auto& e : p.entries) {
        EXPECT_EQ(e.to_nic, !e.flows.empty()) << e.nic << " " << e.rule;
        EXPECT_EQ(e.to_nic, e.why_not.empty()) << e.nic << " " << e.rule;
    }
}

// A list of 20,000 deny rules: the plan stays within its flow and comparison budgets and says
// so for the rules past them.
TEST(Plan, ManyRulesStayWithinTheBudgets) {
    config::Config cfg = load_file(kDir + "stateless.yaml");
    auto& fw = *cfg.guests[1].nics[0].firewall;
    fw.ingress.clear();
    for (int i = 0; i < 20000; ++i) {
        config::Rule r;
        r.id = "r" + std::to_string(i);
        r.proto = config::kProtoTcp;
        r.src.push_back(Cidr{*parse_ip("10.0.0.0"), 8});
        r.dst_ports.push_back({1 + i % 60000, 1 + i % 60000});
        fw.ingress.push_back(r);
    }
    std::size_t flows = 0, no_flows_left = 0, too_many = 0;
    for (const auto& e : plan(cfg).entries) {
        if (e.nic != "db/eth0") continue;
        flows += e.flows.size();
        no_flows_left += e.why_not.find("no flows left") != std::string::npos;
        too_many += e.why_not.find("too many rules to check") != std::string::npos;
    }
    EXPECT_EQ(flows, 2828U);  // the comparisons run out first: 2828 rules, one flow each
    EXPECT_EQ(no_flows_left, 0U);
    EXPECT_EQ(too_many, 20000U - 2828U);
}

TEST(Testpmd, WritesMasksAndExactValues) {
    FlowSpec f;
    f.eth_dst = 0x525400000101ULL;
    f.family = 4;
    f.src = Cidr{*parse_ip("10.1.0.0"), 16};
    f.dst = Cidr{*parse_ip("192.0.2.1"), 32};
    f.proto = 6;
    f.dport = Masked16{1024, 0xfc00};
    EXPECT_EQ(to_testpmd(f, "0"),
              "flow create 0 ingress pattern eth dst is 52:54:00:00:01:01 type is 0x800 / ipv4 src "
              "spec 10.1.0.0 src mask 255.255.0.0 dst is 192.0.2.1 proto is 6 / tcp dst spec 1024 "
              "dst mask 0xfc00 / end actions count / drop / end");
}

}  // namespace
}  // namespace vfgate::dataplane::offload
