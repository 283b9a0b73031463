// FlowTable (dataplane/dpdk/offload.hpp) on a fake NIC: which flows it creates and destroys, in
// which order around the publish (drops after it, steering before), and what runs in software when
// the PMD refuses a flow. A flow is named by its eth_dst here ("F<n>").

#include <cerrno>
#include <map>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "offload.hpp"

namespace vfgate::dataplane::offload {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;

std::string name(const FlowSpec& f) { return "F" + std::to_string(f.eth_dst.value_or(0)); }

FlowSpec flow(int n) {
    FlowSpec f;
    f.eth_dst = static_cast<MacBits>(n);
    return f;
}

// A NIC: ports without rte_flow, flows it refuses, COUNT it lacks, a table of limited size.
struct FakeNic final : FlowBackend {
    std::vector<std::string>* log;
    std::set<std::uint16_t> no_flow;     // ENOSYS
    std::set<std::uint16_t> no_count;    // validate refuses COUNT (ENOTSUP)
    std::set<std::string> refuse;        // validate refuses (EINVAL)
    std::set<std::string> create_fails;  // create fails (ENOTSUP)
    std::size_t capacity = 100;          // flows per port; then create fails (ENOSPC)
    std::map<std::uintptr_t, std::pair<std::uint16_t, FlowSpec>> flows;
    std::map<std::uintptr_t, std::uint64_t> hits;
    std::uintptr_t next = 1;

    explicit FakeNic(std::vector<std::string>* l) : log(l) {}

    std::size_t on(std::uint16_t port) const {
        std::size_t n = 0;
        for (const auto& [h, f] : flows) n += f.first == port;
        return n;
    }
    Result<void> validate(std::uint16_t port, const FlowSpec& f) override {
        log->push_back("validate " + name(f) + (f.count ? "" : " nocount"));
        if (no_flow.contains(port)) {
            return tl::unexpected(
                Error(ErrorKind::kUnsupported, "net_null: Function not implemented", ENOSYS));
        }
        if (refuse.contains(name(f))) {
            return tl::unexpected(
                Error(ErrorKind::kUnsupported, "fake: bad item (Invalid argument)", EINVAL));
        }
        if (f.count && no_count.contains(port)) {
            return tl::unexpected(Error(ErrorKind::kUnsupported,
                                        "fake: no COUNT (Operation not supported)", ENOTSUP));
        }
        return {};
    }
    Result<FlowHandle> create(std::uint16_t port, const FlowSpec& f) override {
        log->push_back("create " + name(f));
        if (create_fails.contains(name(f))) {
            return tl::unexpected(Error(ErrorKind::kUnsupported, "fake: no cls_flower", ENOTSUP));
        }
        if (on(port) >= capacity) {
            return tl::unexpected(Error(ErrorKind::kUnsupported, "fake: table full", ENOSPC));
        }
        flows[next] = {port, f};
        return FlowHandle{port, next++};
    }
    Result<void> destroy(FlowHandle h) override {
        log->push_back("destroy " + name(flows.at(h.flow).second));
        flows.erase(h.flow);
        return {};
    }
    Result<std::uint64_t> query_count(FlowHandle h) override {
        if (!flows.at(h.flow).second.count) return fail(ErrorKind::kUnsupported, "no count");
        return hits[h.flow];
    }
    Result<void> flush(std::uint16_t port) override {
        log->push_back("flush " + std::to_string(port));
        if (no_flow.contains(port)) {
            return tl::unexpected(
                Error(ErrorKind::kUnsupported, "net_null: Function not implemented", ENOSYS));
        }
        std::erase_if(flows, [&](const auto& kv) { return kv.second.first == port; });
        return {};
    }
    std::vector<std::string> installed() const {
        std::vector<std::string> out;
        for (const auto& [h, f] : flows) out.push_back(name(f.second));
        std::sort(out.begin(), out.end());
        return out;
    }
};

Entry rule(const std::string& id, std::vector<int> flows, const std::string& port = "up0") {
    Entry e;
    e.port = port;
    e.nic = "g/a";
    e.rule = id;
    e.index = id.back() - '0';
    e.to_nic = true;
    for (int n : flows) e.flows.push_back(flow(n));
    return e;
}

// A switchdev steering entry (its flows send a port's traffic to its representor), named `id`.
Entry steer(const std::string& id, std::vector<int> flows) {
    Entry e;
    e.kind = EntryKind::kSteering;
    e.port = "up0";
    e.nic = id;
    e.to_nic = true;
    for (int n : flows) {
        FlowSpec f = flow(n);
        f.transfer = true;
        f.action = FlowAction::kToRepresentor;
        f.to_port = id;
        e.flows.push_back(f);
    }
    return e;
}

class FlowTableTest : public testing::Test {
  protected:
    std::vector<std::string> log_;
    FakeNic* nic_ = new FakeNic(&log_);
    FlowTable table_{std::unique_ptr<FlowBackend>(nic_)};
    std::uint64_t generation_ = 0;

    void SetUp() override { table_.open_port("up0", 0, "net_fake", true); }

    OffloadUpdate update(std::vector<Entry> entries) {
        log_.clear();
        return table_.update(Plan{std::move(entries)}, [&] {
            log_.push_back("publish");
            return ++generation_;
        });
    }
    OffloadEntry entry(const std::string& id) const {
        for (auto& e : table_.report().entries) {
            if (e.rule == id || (e.kind == "steering" && e.nic == id)) return e;
        }
        ADD_FAILURE() << "no entry " << id;
        return {};
    }
    // The log without the validate lines.
    std::vector<std::string> changes() const {
        std::vector<std::string> out;
        for (const auto& l : log_) {
            if (!l.starts_with("validate")) out.push_back(l);
        }
        return out;
    }
};

TEST_F(FlowTableTest, OpenFlushesTheNic) { EXPECT_THAT(log_, ElementsAre("flush 0")); }

// A drop is in the NIC only while the software's rules deny what it matches: new drops are
// created after the rules are published, the drops of rules that go are destroyed before.
TEST_F(FlowTableTest, DropsComeAfterThePublishAndGoBefore) {
    update({rule("r1", {1, 2}), rule("r2", {3})});
    EXPECT_THAT(changes(), ElementsAre("publish", "create F1", "create F2", "create F3"));
    auto u = update({rule("r1", {1, 2}), rule("r3", {4})});
    EXPECT_THAT(changes(), ElementsAre("destroy F3", "publish", "create F4"));
    EXPECT_EQ(u.added, 1u);
    EXPECT_EQ(u.removed, 1u);
    EXPECT_EQ(u.kept, 2u);
    EXPECT_EQ(u.refused, 0u);
    EXPECT_EQ(u.generation, 2u);
    EXPECT_FALSE(u.swap_in_software);
    EXPECT_THAT(nic_->installed(), ElementsAre("F1", "F2", "F4"));
}

// Steering is made before it is broken: a port's traffic always has a way to the switch.
TEST_F(FlowTableTest, SteeringIsCreatedBeforeThePublishAndDestroyedAfter) {
    update({steer("s1", {1})});
    EXPECT_THAT(changes(), ElementsAre("create F1", "publish"));
    update({steer("s1", {2})});
    EXPECT_THAT(changes(), ElementsAre("create F2", "publish", "destroy F1"));
    EXPECT_EQ(entry("s1").where, "nic");
}

// A NIC full of drops that an update replaces: the old ones go first, so the new ones fit.
TEST_F(FlowTableTest, ANicFullOfDropsTakesTheNewOnesAfterTheOldGo) {
    nic_->capacity = 2;
    update({rule("r1", {1}), rule("r2", {2})});
    auto u = update({rule("r3", {3}), rule("r4", {4})});
    EXPECT_THAT(changes(),
                ElementsAre("destroy F1", "destroy F2", "publish", "create F3", "create F4"));
    EXPECT_FALSE(u.swap_in_software);
    EXPECT_THAT(nic_->installed(), ElementsAre("F3", "F4"));
}

// New steering on a NIC full of drops the new plan doesn't keep: the drops go first, and the
// steering is in before the publish (no swap through software).
TEST_F(FlowTableTest, DropsThatGoMakeRoomForSteeringBeforeThePublish) {
    nic_->capacity = 2;
    update({rule("r1", {1}), rule("r2", {2})});
    auto u = update({steer("s1", {3})});
    EXPECT_THAT(changes(), ElementsAre("destroy F1", "destroy F2", "create F3", "publish"));
    EXPECT_FALSE(u.swap_in_software);
    EXPECT_EQ(entry("s1").where, "nic");
}

TEST_F(FlowTableTest, IdenticalFlowsKeepCounting) {
    update({rule("r1", {1})});
    nic_->hits[1] = 7;
    auto u = update({rule("r1", {1})});
    EXPECT_THAT(changes(), ElementsAre("publish"));
    EXPECT_EQ(u.kept, 1u);
    EXPECT_EQ(entry("r1").nic_packets, 7u);
    EXPECT_EQ(table_.nic_packets("g/a", config::Direction::kIngress).at(1), 7u);
    EXPECT_FALSE(table_.nic_packets("g/a", config::Direction::kEgress).contains(1));
    EXPECT_EQ(entry("r1").where, "nic");
}

TEST_F(FlowTableTest, ReplacedFlowsCarryTheirCountOver) {
    update({rule("r1", {1})});
    nic_->hits[1] = 5;
    update({rule("r1", {2})});  // the rule changed: a new flow, the old one's count carried
    nic_->hits[2] = 1;
    EXPECT_EQ(entry("r1").nic_packets, 6u);
}

TEST_F(FlowTableTest, AnEntryIsAtomic) {
    nic_->create_fails = {"F3"};
    auto u = update({rule("r1", {1, 2, 3}), rule("r2", {4})});
    EXPECT_THAT(changes(), ElementsAre("publish", "create F1", "create F2", "create F3",
                                       "destroy F1", "destroy F2", "create F4"));
    EXPECT_EQ(entry("r1").where, "software");
    EXPECT_THAT(entry("r1").why_not, HasSubstr("fake: no cls_flower"));
    EXPECT_EQ(entry("r1").flows, 0u);
    EXPECT_EQ(entry("r2").where, "nic");
    EXPECT_EQ(u.refused, 3u);
    EXPECT_EQ(table_.report().ports.at(0).refused, 3u);
    EXPECT_THAT(nic_->installed(), ElementsAre("F4"));
}

TEST_F(FlowTableTest, ValidateRefusalKeepsTheMessage) {
    nic_->refuse = {"F2"};
    update({rule("r1", {1, 2}), rule("r2", {3})});
    EXPECT_THAT(changes(), ElementsAre("publish", "create F3"));  // r1: nothing created
    EXPECT_EQ(entry("r1").where, "software");
    EXPECT_EQ(entry("r1").why_not, "the PMD refused its flow: fake: bad item (Invalid argument)");
    EXPECT_EQ(table_.report().ports.at(0).state, "on");
}

TEST_F(FlowTableTest, APmdWithoutRteFlowIsUnsupported) {
    nic_->no_flow = {1, 2};
    table_.open_port("up1", 1, "net_null", true);
    update({rule("r1", {1}, "up1"), rule("r2", {2}, "up1"), rule("r3", {3})});
    EXPECT_THAT(log_, ElementsAre("validate F3", "publish", "create F3"));
    const auto r = table_.report();
    ASSERT_EQ(r.ports.size(), 2u);
    EXPECT_EQ(r.ports[1].name, "up1");
    EXPECT_EQ(r.ports[1].state, "unsupported");
    EXPECT_EQ(r.ports[1].note, "net_null: Function not implemented");
    EXPECT_EQ(entry("r1").why_not, "the PMD (net_null) has no rte_flow: Function not implemented");
    EXPECT_EQ(entry("r2").why_not, entry("r1").why_not);
    EXPECT_EQ(entry("r3").where, "nic");
    EXPECT_EQ(r.ports[0].state, "on");
}

// A first flow refused for what it matches (EINVAL) says nothing of rte_flow as a whole.
TEST_F(FlowTableTest, ARefusedFirstFlowLeavesThePortOn) {
    table_.open_port("up2", 2, "net_other", true);
    nic_->no_count = {2};
    nic_->refuse = {"F1"};  // then EINVAL without COUNT: the flow is refused, the port stays on
    update({rule("r1", {1}, "up2")});
    EXPECT_EQ(table_.report().ports.at(1).state, "on");
    EXPECT_EQ(entry("r1").why_not, "the PMD refused its flow: fake: bad item (Invalid argument)");
}

TEST_F(FlowTableTest, CountIsDroppedWhereThePmdHasNone) {
    nic_->no_count = {0};
    update({rule("r1", {1}), rule("r2", {2})});
    EXPECT_THAT(log_, ElementsAre("validate F1", "validate F1 nocount", "validate F2 nocount",
                                  "publish", "create F1", "create F2"));
    EXPECT_EQ(entry("r1").where, "nic");
    EXPECT_EQ(entry("r1").nic_packets, std::nullopt);
    EXPECT_EQ(table_.report().ports.at(0).state, "on");
    EXPECT_THAT(table_.report().ports.at(0).note, HasSubstr("no COUNT"));
}

TEST_F(FlowTableTest, OffMeansSoftwareAndRemovesFlows) {
    update({rule("r1", {1})});
    table_.set_enabled("up0", false);
    update({rule("r1", {1})});
    EXPECT_THAT(changes(), ElementsAre("destroy F1", "publish"));
    EXPECT_EQ(entry("r1").where, "software");
    EXPECT_EQ(table_.report().ports.at(0).state, "off");
}

TEST_F(FlowTableTest, PlanReasonsStay) {
    Entry e = rule("r1", {});
    e.to_nic = false;
    e.why_not = "an allow rule";
    update({e});
    EXPECT_EQ(entry("r1").where, "software");
    EXPECT_EQ(entry("r1").why_not, "an allow rule");
}

TEST_F(FlowTableTest, AFullNicSwapsThroughSoftware) {
    nic_->capacity = 2;
    update({steer("s1", {1}), steer("s2", {2})});
    // s3 and s4 replace s1 and s2 with new flows: the NIC can't hold old and new together.
    auto u = update({steer("s3", {3}), steer("s4", {4})});
    EXPECT_THAT(changes(),
                ElementsAre("create F3",  // table full: back to the old set
                            "publish", "destroy F1", "destroy F2", "create F3", "create F4"));
    EXPECT_TRUE(u.swap_in_software);
    EXPECT_THAT(u.note, HasSubstr("the steering of s3"));
    EXPECT_THAT(u.note, HasSubstr("fake: table full"));
    EXPECT_EQ(u.added, 2u);
    EXPECT_EQ(u.removed, 2u);
    EXPECT_EQ(entry("s3").where, "nic");
    EXPECT_EQ(entry("s4").where, "nic");
    EXPECT_THAT(nic_->installed(), ElementsAre("F3", "F4"));
}

TEST_F(FlowTableTest, RollbackRestoresExactlyTheOldSet) {
    nic_->capacity = 3;
    update({steer("s1", {1}), steer("s2", {2})});
    // F3 fits, F4 doesn't: F3 goes again; after publish F1 goes; F3 and F4 then fit; F5 doesn't.
    std::vector<std::string> before_publish;
    log_.clear();
    auto u = table_.update(Plan{{steer("s2", {2}), steer("s3", {3}), steer("s4", {4, 5})}}, [&] {
        before_publish = nic_->installed();
        log_.push_back("publish");
        return ++generation_;
    });
    EXPECT_THAT(before_publish, ElementsAre("F1", "F2"));
    EXPECT_THAT(changes(),
                ElementsAre("create F3", "create F4", "destroy F3", "publish", "destroy F1",
                            "create F3", "create F4", "create F5", "destroy F4"));
    EXPECT_TRUE(u.swap_in_software);
    EXPECT_EQ(entry("s2").where, "nic");
    EXPECT_EQ(entry("s3").where, "nic");
    EXPECT_EQ(entry("s4").where, "software");
    EXPECT_THAT(entry("s4").why_not, HasSubstr("fake: table full"));
    EXPECT_THAT(nic_->installed(), ElementsAre("F2", "F3"));
}

// A flow the PMD refused with no flow of ours in the way is refused again at the next update
// without sending the new rules through software (net_tap, for one, refuses some flows at
// create: "File exists").
TEST_F(FlowTableTest, AFlowThePmdRefusedAloneIsNoReasonToSwap) {
    nic_->create_fails = {"F9"};
    auto first = update({steer("v0", {8, 9}), steer("s1", {1})});
    EXPECT_FALSE(first.swap_in_software);
    EXPECT_EQ(entry("v0").where, "software");
    // Which of its flows the PMD refuses may change with what else is in the NIC.
    nic_->create_fails = {"F8"};
    auto u = update({steer("v0", {8, 9}), steer("s2", {2})});
    EXPECT_THAT(changes(), ElementsAre("create F8", "create F2", "publish", "destroy F1"));
    EXPECT_FALSE(u.swap_in_software);
    EXPECT_EQ(u.refused, 2u);  // the entry's flows
    EXPECT_EQ(entry("v0").where, "software");
    EXPECT_THAT(entry("v0").why_not, HasSubstr("no cls_flower"));
    EXPECT_EQ(entry("s2").where, "nic");
    EXPECT_THAT(nic_->installed(), ElementsAre("F2"));
}

TEST_F(FlowTableTest, ClosingAPortForgetsItsFlows) {
    update({rule("r1", {1})});
    log_.clear();
    table_.close_port("up0");
    EXPECT_THAT(log_, ElementsAre("destroy F1", "flush 0"));
    EXPECT_EQ(entry("r1").where, "software");
    EXPECT_TRUE(table_.report().ports.empty());
}

TEST_F(FlowTableTest, TeardownRemovesEverything) {
    update({rule("r1", {1}), rule("r2", {2})});
    log_.clear();
    table_.teardown();
    EXPECT_THAT(log_, ElementsAre("destroy F1", "destroy F2", "flush 0"));
    EXPECT_TRUE(nic_->installed().empty());
}

}  // namespace
}  // namespace vfgate::dataplane::offload
