// vfgatectl's tables of the dataplane's replies (control/vfgatectl/dataplane_text.hpp), from
// hand-built replies, against golden files (tests/unit/golden/ctl/).

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../common/golden.hpp"
#include "dataplane_text.hpp"

namespace vfgate::ctl {
namespace {

using dataplane::OffloadEntry;
using dataplane::OffloadPort;
using dataplane::OffloadReply;
using dataplane::OffloadUpdate;
using ::testing::HasSubstr;

const std::string kGolden = std::string(VFGATE_SOURCE_ROOT) + "/tests/unit/golden/ctl/";

OffloadPort port(std::string name, std::string driver, std::string state, std::uint64_t flows,
                 std::uint64_t refused, std::string note = "") {
    OffloadPort p;
    p.name = std::move(name);
    p.driver = std::move(driver);
    p.state = std::move(state);
    p.flows = flows;
    p.refused = refused;
    p.note = std::move(note);
    return p;
}

OffloadEntry rule(std::string port, std::string nic, std::string dir, std::string id,
                  std::string action, std::string where, std::uint64_t flows = 0) {
    OffloadEntry e;
    e.kind = "rule";
    e.port = std::move(port);
    e.nic = std::move(nic);
    e.direction = std::move(dir);
    e.rule = std::move(id);
    e.action = std::move(action);
    e.where = std::move(where);
    e.flows = flows;
    return e;
}

OffloadEntry other(std::string kind, std::string port, std::string nic, std::string where,
                   std::uint64_t flows) {
    OffloadEntry e;
    e.kind = std::move(kind);
    e.port = std::move(port);
    e.nic = std::move(nic);
    e.where = std::move(where);
    e.flows = flows;
    return e;
}

// Every case the table has to show: a NIC rule with its COUNT, one whose PMD counts nothing,
// one the PMD refused (its message), an allow the plan keeps in software, a port whose PMD has
// no rte_flow, a port with offload off, the unused VLANs and a switchdev steering entry.
OffloadReply sample() {
    OffloadReply r;
    r.ports = {port("up0", "net_mlx5", "on", 5, 1),
               port("up1", "net_pcap", "unsupported", 0, 0,
                    "flow validate: Function not implemented (ENOSYS)"),
               port("up2", "net_ice", "off", 0, 0)};
    r.entries.push_back(rule("up0", "web/eth0", "ingress", "no-smtp", "deny", "nic", 2));
    r.entries.back().nic_packets = 1234;
    r.entries.push_back(rule("up0", "web/eth0", "ingress", "no-telnet", "deny", "nic", 1));
    r.entries.push_back(rule("up0", "web/eth0", "ingress", "big", "deny", "software"));
    r.entries.back().why_not = "up0: flow create: port 0: item not supported (EINVAL)";
    r.entries.push_back(rule("up0", "web/eth0", "ingress", "ssh", "allow", "software"));
    r.entries.back().why_not = "an allow: only the software can let a packet through";
    r.entries.push_back(rule("up0", "web/eth0", "egress", "default", "allow", "software"));
    r.entries.back().why_not = "an allow: only the software can let a packet through";
    r.entries.push_back(other("unused-vlans", "up0", "", "nic", 1));
    r.entries.back().nic_packets = 0;
    r.entries.push_back(other("steering", "up0", "db/vf0", "nic", 1));
    r.entries.push_back(rule("up1", "app/eth0", "ingress", "no-smb", "deny", "software"));
    r.entries.back().why_not = "the port's PMD has no rte_flow";
    r.entries.push_back(rule("up2", "lab/eth0", "ingress", "no-smb", "deny", "software"));
    r.entries.back().why_not = "offload: false on uplink up2";
    OffloadUpdate& u = r.last_update.emplace();
    u.generation = 3;
    u.added = 12;
    u.removed = 4;
    u.kept = 8;
    u.refused = 1;
    u.ms = 1.84;
    return r;
}

TEST(CtlText, OffloadShowsPortsEntriesAndTheLastUpdate) {
    const std::string text = offload_text(sample());
    EXPECT_THAT(text, HasSubstr("last update: generation 3, 12 added, 4 removed, 8 kept, 1 "
                                "refused in 1.8 ms\n"));
    vfgate::testing::expect_golden(kGolden + "offload.txt", text);
}

TEST(CtlText, OffloadSaysWhenTheSwapRanInSoftware) {
    OffloadReply r;
    r.ports = {port("up0", "net_mlx5", "on", 3, 0)};
    OffloadUpdate& u = r.last_update.emplace();
    u.generation = 9;
    u.added = 3;
    u.removed = 3;
    u.ms = 0.25;
    u.swap_in_software = true;
    u.note = "up0: flow create: No space left on device (ENOSPC)";
    vfgate::testing::expect_golden(kGolden + "offload_swap.txt", offload_text(r));
}

TEST(CtlText, OffloadWithoutAnUpdateOrEntries) {
    OffloadReply r;
    r.ports = {port("up0", "net_null", "unsupported", 0, 0, "no rte_flow")};
    const std::string text = offload_text(r);
    EXPECT_THAT(text, HasSubstr("\nlast update: none\n"));
    EXPECT_THAT(text, HasSubstr("PORT  NIC  DIR  RULE  ACTION  WHERE  FLOWS  NIC-PKTS  WHY NOT\n"
                                "\n"));
}

// A PMD's message reaches the terminal escaped: it can't move the cursor or fake a line.
TEST(CtlText, OffloadEscapesControlCharacters) {
    OffloadReply r;
    r.ports = {port("up0", "net_x", "unsupported", 0, 0, "bad\x1b[2J\nfake line")};
    r.entries.push_back(rule("up0", "web/eth0", "ingress", "r1", "deny", "software"));
    r.entries.back().why_not = "refused\r\x07";
    OffloadUpdate& u = r.last_update.emplace();
    u.note = "x\ny";
    const std::string text = offload_text(r);
    EXPECT_THAT(text, HasSubstr("bad\\x1b[2J\\x0afake line"));
    EXPECT_THAT(text, HasSubstr("refused\\x0d\\x07"));
    EXPECT_THAT(text, HasSubstr("; x\\x0ay\n"));
    for (char c : text) {
        EXPECT_TRUE(c == '\n' || c < 0 || c >= 0x20) << text;
    }
}

TEST(CtlText, RulesShowTheNicsPacketsWhereTheyAreCounted) {
    dataplane::NicRules n;
    n.nic = "web/eth0";
    n.stateful = true;
    n.ingress.rules = {{.id = "ssh", .action = "allow", .hits = 3, .nic_packets = std::nullopt},
                       {.id = "no-smtp", .action = "deny", .hits = 0, .nic_packets = 17}};
    n.ingress.default_action = "deny";
    n.ingress.default_hits = 2;
    n.egress.default_action = "allow";
    n.egress.established = 5;
    vfgate::testing::expect_golden(kGolden + "rules.txt", rules_text({n}));
}

}  // namespace
}  // namespace vfgate::ctl
