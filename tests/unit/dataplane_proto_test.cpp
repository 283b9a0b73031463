// The control socket's structs and their JSON (vfgate/dataplane/control.hpp): the wire format
// as the dataplane has always sent it, absent fields omitted, and back.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <vfgate/dataplane/control.hpp>

namespace vfgate::dataplane {
namespace {

using nlohmann::json;
using testing::HasSubstr;

template <class T>
T round_trip(const T& v, const std::string& wire) {
    const json j = v;
    EXPECT_EQ(j.dump(), wire);
    return json::parse(wire).get<T>();
}

TEST(DataplaneProto, StatusWithoutAMempoolHasNullMbufs) {
    StatusReply s{.host = "h",
                  .pid = 42,
                  .config = "/etc/vfgate.yaml",
                  .control_socket = "/run/vfgate/dataplane.sock",
                  .running = true,
                  .uptime_s = 7,
                  .generation = 3,
                  .file_prefix = "vfgate-0",
                  .main_core = 0,
                  .worker_cores = {1, 2},
                  .hugepages = false,
                  .ports = 2,
                  .mbufs = std::nullopt};
    auto back = round_trip(
        s, R"({"config":"/etc/vfgate.yaml","control_socket":"/run/vfgate/dataplane.sock",)"
           R"("file_prefix":"vfgate-0","generation":3,"host":"h","hugepages":false,"main_core":0,)"
           R"("mbufs":null,"pid":42,"ports":2,"running":true,"uptime_s":7,"worker_cores":[1,2]})");
    EXPECT_EQ(back.control_socket, s.control_socket);
    EXPECT_EQ(back.worker_cores, s.worker_cores);
    EXPECT_FALSE(back.mbufs);
    s.mbufs = MbufUsage{.size = 10, .in_use = 4, .available = 6};
    EXPECT_EQ(json(s)["mbufs"].dump(), R"({"available":6,"in_use":4,"size":10})");
}

TEST(DataplaneProto, PortsOmitWhatARoleLacksAndSendTheVlanWithTheMac) {
    PortEntry up;
    up.name = "up0";
    up.role = "uplink";
    up.dpdk_port = 0;
    up.mtu = 1500;
    EXPECT_EQ(json(up).dump(), R"({"dpdk_port":0,"mtu":1500,"name":"up0","role":"uplink"})");
    PortEntry guest;
    guest.name = "g/a";
    guest.role = "guest";
    guest.mac = "02:00:00:00:00:0a";
    guest.uplink = "up0";
    auto back = round_trip(
        guest,
        R"({"mac":"02:00:00:00:00:0a","name":"g/a","role":"guest","uplink":"up0","vlan":null})");
    EXPECT_EQ(back.vlan, 0);
    EXPECT_FALSE(back.dpdk_port);
    PortEntry vf;
    vf.name = "g/v";
    vf.role = "switched by the NIC";
    vf.mac = "02:00:00:00:00:0b";
    vf.vlan = 100;
    vf.pf = "pf0";
    vf.vf = 1;
    EXPECT_EQ(round_trip(vf, R"({"mac":"02:00:00:00:00:0b","name":"g/v","pf":"pf0",)"
                             R"("role":"switched by the NIC","vf":1,"vlan":100})")
                  .vlan,
              100);
}

TEST(DataplaneProto, ConntrackListsOnlyWhenAsked) {
    ConntrackReply counts;
    counts.workers.emplace_back().entries = 1;
    counts.entries = 1;
    EXPECT_EQ(json(counts).dump(),
              R"({"entries":1,"workers":[{"capacity":0,"created":0,"denied":0,"entries":1,)"
              R"("evicted":0,"expired":0,"index":0,"revoked":0,"table_full":0}]})");
    Connection tcp;
    tcp.nic = "g/a";
    tcp.proto = "tcp";
    tcp.src = "10.0.0.1";
    tcp.dst = "10.0.0.2";
    tcp.state = "established";
    tcp.packets_original = 3;
    tcp.packets_reply = 2;
    tcp.direction = "egress";
    tcp.sport = 1000;
    tcp.dport = 22;
    counts.matched = 1;
    counts.connections = std::vector<Connection>{tcp};
    auto back = round_trip(
        counts, R"({"connections":[{"direction":"egress","dport":22,"dst":"10.0.0.2",)"
                R"("expires_in_s":0,"family":4,"nic":"g/a","packets":{"original":3,"reply":2},)"
                R"("proto":"tcp","rule":0,"sport":1000,"src":"10.0.0.1","state":"established"}],)"
                R"("entries":1,"matched":1,"workers":[{"capacity":0,"created":0,"denied":0,)"
                R"("entries":1,"evicted":0,"expired":0,"index":0,"revoked":0,"table_full":0}]})");
    ASSERT_TRUE(back.connections);
    EXPECT_EQ(back.connections->at(0).dport, 22);
    EXPECT_FALSE(back.connections->at(0).icmp_id);
}

TEST(DataplaneProto, RuleHitsSendNicPacketsOnlyWhenTheNicCounts) {
    RuleHits sw{.id = "ssh", .action = "allow", .hits = 3, .nic_packets = std::nullopt};
    EXPECT_FALSE(round_trip(sw, R"({"action":"allow","hits":3,"id":"ssh"})").nic_packets);
    RuleHits nic{.id = "smtp", .action = "deny", .hits = 0, .nic_packets = 12};
    EXPECT_EQ(
        round_trip(nic, R"({"action":"deny","hits":0,"id":"smtp","nic_packets":12})").nic_packets,
        12u);
}

OffloadEntry rule_entry(std::string port, std::string nic, std::string dir, std::string rule,
                        std::string action, std::string where) {
    OffloadEntry e;
    e.kind = "rule";
    e.port = std::move(port);
    e.nic = std::move(nic);
    e.direction = std::move(dir);
    e.rule = std::move(rule);
    e.action = std::move(action);
    e.where = std::move(where);
    return e;
}

TEST(DataplaneProto, OffloadOmitsWhatAnEntryLacks) {
    OffloadReply r;
    r.ports.resize(2);
    r.ports[0].name = "up0";
    r.ports[0].driver = "net_mlx5";
    r.ports[0].state = "on";
    r.ports[0].flows = 3;
    r.ports[1].name = "up1";
    r.ports[1].driver = "net_pcap";
    r.ports[1].state = "unsupported";
    r.ports[1].note = "flow validate: Function not implemented";
    r.entries.push_back(rule_entry("up0", "web/eth0", "ingress", "no-smtp", "deny", "nic"));
    r.entries.back().flows = 2;
    r.entries.back().nic_packets = 7;
    OffloadEntry& vlans = r.entries.emplace_back();
    vlans.kind = "unused-vlans";
    vlans.port = "up0";
    vlans.where = "nic";
    vlans.flows = 1;
    r.entries.push_back(rule_entry("up1", "app/eth0", "egress", "default", "allow", "software"));
    r.entries.back().why_not = "allow: the software decides";
    auto back = round_trip(
        r, R"({"entries":[{"action":"deny","direction":"ingress","flows":2,"kind":"rule",)"
           R"("nic":"web/eth0","nic_packets":7,"port":"up0","rule":"no-smtp","where":"nic"},)"
           R"({"flows":1,"kind":"unused-vlans","port":"up0","where":"nic"},)"
           R"({"action":"allow","direction":"egress","flows":0,"kind":"rule","nic":"app/eth0",)"
           R"("port":"up1","rule":"default","where":"software",)"
           R"("why_not":"allow: the software decides"}],)"
           R"("ports":[{"driver":"net_mlx5","flows":3,"name":"up0","refused":0,"state":"on"},)"
           R"({"driver":"net_pcap","flows":0,"name":"up1",)"
           R"("note":"flow validate: Function not implemented","refused":0,)"
           R"("state":"unsupported"}]})");
    ASSERT_EQ(back.entries.size(), 3u);
    EXPECT_EQ(back.entries[0].nic_packets, 7u);
    EXPECT_EQ(back.entries[1].nic, "");
    EXPECT_FALSE(back.entries[1].nic_packets);
    EXPECT_EQ(back.entries[2].why_not, "allow: the software decides");
    EXPECT_EQ(back.ports[1].note, "flow validate: Function not implemented");
    EXPECT_FALSE(back.last_update);

    r.ports.clear();
    r.entries.clear();
    OffloadUpdate& u = r.last_update.emplace();
    u.generation = 3;
    u.added = 12;
    u.removed = 4;
    u.kept = 8;
    u.ms = 1.5;
    EXPECT_EQ(round_trip(r, R"({"entries":[],"last_update":{"added":12,"generation":3,"kept":8,)"
                            R"("ms":1.5,"refused":0,"removed":4,"swap_in_software":false},)"
                            R"("ports":[]})")
                  .last_update->kept,
              8u);
    u.swap_in_software = true;
    u.note = "up0: flow create: No space left on device";
    EXPECT_EQ(json(r)["last_update"].dump(),
              R"({"added":12,"generation":3,"kept":8,"ms":1.5,)"
              R"("note":"up0: flow create: No space left on device","refused":0,"removed":4,)"
              R"("swap_in_software":true})");
    auto swapped = json(r).get<OffloadReply>();
    EXPECT_TRUE(swapped.last_update->swap_in_software);
    EXPECT_EQ(swapped.last_update->note, u.note);
}

TEST(DataplaneProto, RequestsOmitTheirDefaults) {
    EXPECT_EQ(json(ReloadRequest{}).dump(), "{}");
    EXPECT_EQ(json(ReloadRequest{.path = "/x.yaml"}).dump(), R"({"path":"/x.yaml"})");
    EXPECT_EQ(json(RulesRequest{}).dump(), "{}");
    EXPECT_EQ(json(ConntrackRequest{.nic = "g/a", .limit = 5}).dump(),
              R"({"limit":5,"nic":"g/a"})");
    EXPECT_EQ(ConntrackRequest{}.listed(), 0u);
}

TEST(DataplaneProto, ConntrackLimitIsCheckedNotClamped) {
    EXPECT_EQ(parse_conntrack_request(json{{"nic", "g/a"}})->listed(), 1000u);
    // As from the wire, where a non-negative number is unsigned.
    EXPECT_EQ(parse_conntrack_request(json::parse(R"({"nic": "g/a", "limit": 0})"))->listed(), 0u);
    for (const json& bad : {json(-1), json(1.5), json(100001), json("5")}) {
        auto r = parse_conntrack_request(json{{"limit", bad}});
        ASSERT_FALSE(r) << bad.dump();
        EXPECT_EQ(r.error().to_string(), "firewall.conntrack: bad params: limit: found " +
                                             bad.dump() + "; expected an integer from 0 to 100000");
        EXPECT_THROW(json({{"limit", bad}}).get<ConntrackRequest>(), json::exception);
    }
}

TEST(DataplaneProto, AReplyOfTheWrongShapeThrows) {
    EXPECT_THROW(json::parse(R"({"added": []})").get<ReloadReply>(), json::exception);
    EXPECT_THROW(json::parse(R"([{"uplink": 1}])").get<FdbReply>(), json::exception);
    // An offload reply: a port without its state, an entry's count as text, a null note, a
    // last_update that isn't an object, the whole reply a list.
    for (const char* bad :
         {R"({"ports": [{"name": "up0", "driver": "d", "flows": 0, "refused": 0}],
              "entries": []})",
          R"({"ports": [], "entries": [{"kind": "rule", "port": "up0", "where": "nic",
                                        "flows": 1, "nic_packets": "7"}]})",
          R"({"ports": [{"name": "up0", "driver": "d", "state": "on", "flows": 0,
                         "refused": 0, "note": null}], "entries": []})",
          R"({"ports": [], "entries": [], "last_update": 3})", R"([])"}) {
        EXPECT_THROW(json::parse(bad).get<OffloadReply>(), json::exception) << bad;
    }
    EXPECT_THROW(json::parse(R"({"id": "x", "action": "deny", "hits": 1, "nic_packets": "1"})")
                     .get<RuleHits>(),
                 json::exception);
}

}  // namespace
}  // namespace vfgate::dataplane
