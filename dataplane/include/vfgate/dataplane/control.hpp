#pragma once
// The dataplane's public surface: the methods of its control socket (JSON lines, see
// vfgate/common/jsonl.hpp and docs/dataplane.md) with their requests and replies as structs.
// The dataplane serves them on its main thread; vfgatectl and vfgated call them.
//
// Each struct has to_json/from_json (found by ADL, so `json j = reply` and
// `j.get<StatusReply>()` work) in the DPDK-free library `dataplane_proto_dep`. They give the
// wire format docs/dataplane.md describes; a field marked "omitted" is left out of the JSON
// object when absent (std::optional, or empty where said), never sent as null. from_json reads
// what the dataplane sends and throws nlohmann::json::exception on a reply of the wrong shape.
// Plain data: no locking, copy freely.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include <vfgate/common/error.hpp>

namespace vfgate::dataplane {

namespace method {

inline constexpr const char* kStatus = "status";         // process, cores, memory, generation
inline constexpr const char* kPorts = "ports";           // ports with role, driver, link, MAC, VLAN
inline constexpr const char* kStats = "stats";           // counters per port and per worker
inline constexpr const char* kFdb = "fdb";               // the forwarding table
inline constexpr const char* kReload = "config.reload";  // params {"path": FILE} optional
// Firewall rules and hit counters per guest NIC; params {"nic": "guest/nic"} optional.
inline constexpr const char* kRules = "firewall.rules";
// Connection tables: counts per worker; with params {"nic": NAME} and/or {"limit": N}, also
// up to N connections (default 1000 when a NIC is named).
inline constexpr const char* kConntrack = "firewall.conntrack";
// The most connections one firewall.conntrack reply lists; a larger "limit" is refused.
inline constexpr unsigned kMaxConntrackListed = 100'000;
// How many a firewall.conntrack naming a NIC lists when it gives no "limit".
inline constexpr unsigned kDefaultConntrackListed = 1000;
// What runs in the NICs (rte_flow) and what stays in software, and why; no params.
inline constexpr const char* kOffload = "offload";

}  // namespace method

// status: no params.
struct MbufUsage {
    std::uint64_t size = 0;
    std::uint64_t in_use = 0;
    std::uint64_t available = 0;
};

struct StatusReply {
    std::string host;  // the config's host name, else the system's
    std::int64_t pid = 0;
    std::string config;          // the config file it runs (the last one reloaded)
    std::string control_socket;  // the socket it serves (the config's control_socket)
    bool running = false;        // its workers are launched
    std::int64_t uptime_s = 0;
    std::uint64_t generation = 0;  // of the published snapshot: grows with every change
    std::string file_prefix;       // EAL's, for dpdk-telemetry.py -f
    std::int64_t main_core = 0;
    std::vector<unsigned> worker_cores;
    bool hugepages = false;
    std::uint64_t ports = 0;         // DPDK ports open
    std::optional<MbufUsage> mbufs;  // null before the mempool exists
};

// ports: no params; the reply is a list.
struct PortEntry {
    std::string name;  // "up0", "guest/nic"
    std::string role;  // "uplink", "guest", or "switched by the NIC" (a VF of a legacy PF)
    // Ports the dataplane opened (uplink, guest); omitted for the others.
    std::optional<std::uint16_t> dpdk_port;
    std::optional<std::string> driver;
    std::optional<std::string> devargs;
    std::optional<std::string> device_mac;  // what the device reports
    std::optional<std::string> link;        // "up" or "down"
    std::optional<std::uint32_t> speed_mbps;
    std::optional<std::uint16_t> rx_queues;
    std::optional<std::uint32_t> mtu;
    std::optional<std::string> vhost_socket;  // type vhost-user
    // Guest NICs: the NIC's MAC and access VLAN, sent together; VLAN 0 (untagged) is null.
    std::optional<std::string> mac;
    std::uint16_t vlan = 0;
    std::optional<std::string> uplink;  // role guest
    // role "switched by the NIC": its PF (the config's name) and VF index.
    std::optional<std::string> pf;
    std::optional<std::int64_t> vf;
};
using PortsReply = std::vector<PortEntry>;

// stats: no params.
struct DeviceCounters {  // the PMD's own (rte_eth_stats)
    std::uint64_t ipackets = 0;
    std::uint64_t opackets = 0;
    std::uint64_t imissed = 0;
    std::uint64_t ierrors = 0;
    std::uint64_t oerrors = 0;
    std::uint64_t rx_nombuf = 0;
};

struct PortStats {
    std::string name;
    std::uint64_t rx_packets = 0;
    std::uint64_t rx_bytes = 0;
    std::uint64_t tx_packets = 0;  // tx_failed excluded
    std::uint64_t tx_bytes = 0;
    std::map<std::string, std::uint64_t> drops;  // by reason, every reason listed
    std::uint64_t drops_total = 0;
    DeviceCounters device;
};

// packets_in + copies = packets_out + drops (docs/dataplane.md, Drops).
struct WorkerStats {
    unsigned index = 0;
    unsigned core = 0;  // its lcore
    std::uint64_t packets = 0;
    std::uint64_t packets_in = 0;
    std::uint64_t copies = 0;
    std::uint64_t packets_out = 0;
    std::uint64_t drops = 0;
    std::uint64_t busy_cycles = 0;
    std::uint64_t idle_cycles = 0;
    double cycles_per_packet = 0;
    double busy_percent = 0;
    // Plain IPv4 TCP and UDP packets of stateless firewalls whose verdict came from the verdict
    // cache, and those it did not know (docs/firewall.md, "The verdict cache").
    std::uint64_t verdict_cache_hits = 0;
    std::uint64_t verdict_cache_misses = 0;
    // Full bursts sent straight to their port, past the TX buffers (docs/dataplane.md, "Output").
    std::uint64_t direct_bursts = 0;
};

struct StatsReply {
    std::vector<PortStats> ports;
    std::vector<WorkerStats> workers;
    std::uint64_t tsc_hz = 0;
};

// fdb: no params; the reply is a list.
struct FdbEntry {
    std::string uplink;
    std::uint16_t vlan = 0;  // 0: untagged (null)
    std::string mac;
    std::string port;
};
using FdbReply = std::vector<FdbEntry>;

// config.reload.
struct ReloadRequest {
    std::string path;  // absolute; empty (omitted): the file it runs
};

struct ReloadReply {
    std::vector<std::string> added, removed, updated;  // port names
    std::uint64_t generation = 0;
};

// firewall.rules.
struct RulesRequest {
    std::string nic;  // "guest/nic"; empty (omitted): every NIC with a firewall
};

struct RuleHits {
    std::string id;
    std::string action;      // "allow" or "deny"
    std::uint64_t hits = 0;  // packets the software matched to it
    // Packets its flows dropped in the NIC, read back from their COUNT actions (omitted when
    // the rule isn't in a NIC, or the PMD counts nothing).
    std::optional<std::uint64_t> nic_packets;
};

struct DirectionRules {
    std::vector<RuleHits> rules;  // in order: the first match wins
    std::string default_action;   // "default" on the wire
    std::uint64_t default_hits = 0;
    std::uint64_t established = 0;  // packets conntrack passed
};

struct NicRules {
    std::string nic;
    bool stateful = false;
    DirectionRules ingress;
    DirectionRules egress;
};
using RulesReply = std::vector<NicRules>;

// firewall.conntrack.
struct ConntrackRequest {
    std::string nic;                     // empty (omitted): every NIC
    std::optional<std::uint64_t> limit;  // 0 to kMaxConntrackListed

    // How many connections to list: the limit, else kDefaultConntrackListed for a NIC, else 0.
    std::uint64_t listed() const {
        return limit ? *limit : nic.empty() ? 0 : method::kDefaultConntrackListed;
    }
};

// The request's params, strictly: a limit that is not an integer from 0 to kMaxConntrackListed
// is an InvalidArgument error ("firewall.conntrack: bad params: limit: found -1; expected ...").
// A `nic` of the wrong type throws nlohmann::json::exception, as from_json does.
Result<ConntrackRequest> parse_conntrack_request(const nlohmann::json& params);

struct CtWorkerCounts {
    unsigned index = 0;
    std::uint64_t entries = 0;
    std::uint64_t denied = 0;  // entries remembering a denied flow
    std::uint64_t capacity = 0;
    std::uint64_t created = 0;
    std::uint64_t expired = 0;
    std::uint64_t revoked = 0;
    std::uint64_t table_full = 0;
    std::uint64_t evicted = 0;  // for new connections in a full table, before they expired
};

struct Connection {
    std::string nic;
    unsigned family = 4;  // 4 or 6
    std::string proto;    // "tcp", "udp", "icmp", "icmpv6" or the number
    std::string src;      // the originator's address
    std::string dst;
    std::string state;
    std::uint64_t expires_in_s = 0;
    std::uint64_t packets_original = 0;  // "packets": {"original", "reply"} on the wire
    std::uint64_t packets_reply = 0;
    std::string direction;                      // "ingress" or "egress": the rules that allowed it
    std::uint32_t rule = 0;                     // the allowing rule's index + 1; 0: the default
    std::optional<std::uint16_t> sport, dport;  // tcp and udp (omitted otherwise)
    std::optional<std::uint16_t> icmp_id;       // icmp and icmpv6 (omitted otherwise)
};

struct ConntrackReply {
    std::vector<CtWorkerCounts> workers;
    std::uint64_t entries = 0;  // over the workers
    // With a NIC or a limit (omitted otherwise): how many matched, and up to `limit` of them.
    std::optional<std::uint64_t> matched;
    std::optional<std::vector<Connection>> connections;
};

// offload: no params.
struct OffloadPort {  // an uplink
    std::string name;
    std::string driver;
    // "on"; "off" (the config's `offload: false`); "unsupported" (the PMD has no rte_flow, or
    // refused the first flow it was asked to check: `note` gives its message).
    std::string state;
    std::uint64_t flows = 0;    // in the NIC now
    std::uint64_t refused = 0;  // flows the PMD refused in the last update (their entries run
                                // in software)
    std::string note;           // omitted when empty
};

struct OffloadEntry {
    std::string kind;         // "rule", "unused-vlans" or "steering"
    std::string port;         // the uplink whose NIC holds (or would hold) its flows
    std::string nic;          // rule: "guest/nic"; steering: the port steered; else omitted
    std::string direction;    // rule: "ingress" or "egress"; else omitted
    std::string rule;         // rule: its id, or "default"; else omitted
    std::string action;       // rule: "allow" or "deny"; else omitted
    std::string where;        // "nic" or "software"
    std::string why_not;      // software: why (the plan's reason or the PMD's error); else omitted
    std::uint64_t flows = 0;  // its flows in the NIC
    std::optional<std::uint64_t> nic_packets;  // their COUNT; omitted without one
};

// The last change of the NICs' flows (at start or a reload).
struct OffloadUpdate {
    std::uint64_t generation = 0;                                 // the snapshot it went with
    std::uint64_t added = 0, removed = 0, kept = 0, refused = 0;  // flows
    double ms = 0;  // time spent creating and destroying flows
    // The NIC refused a new flow while the old ones were in place: the new rules ran in
    // software while the old flows were removed, then their flows were created.
    bool swap_in_software = false;
    std::string note;  // omitted when empty
};

struct OffloadReply {
    std::vector<OffloadPort> ports;
    std::vector<OffloadEntry> entries;  // as the plan lists them (core/offload_plan.hpp)
    std::optional<OffloadUpdate> last_update;
};

// JSON, as the control socket sends it (see the top of this file).
void to_json(nlohmann::json& j, const MbufUsage& v);
void from_json(const nlohmann::json& j, MbufUsage& v);
void to_json(nlohmann::json& j, const StatusReply& v);
void from_json(const nlohmann::json& j, StatusReply& v);
void to_json(nlohmann::json& j, const PortEntry& v);
void from_json(const nlohmann::json& j, PortEntry& v);
void to_json(nlohmann::json& j, const DeviceCounters& v);
void from_json(const nlohmann::json& j, DeviceCounters& v);
void to_json(nlohmann::json& j, const PortStats& v);
void from_json(const nlohmann::json& j, PortStats& v);
void to_json(nlohmann::json& j, const WorkerStats& v);
void from_json(const nlohmann::json& j, WorkerStats& v);
void to_json(nlohmann::json& j, const StatsReply& v);
void from_json(const nlohmann::json& j, StatsReply& v);
void to_json(nlohmann::json& j, const FdbEntry& v);
void from_json(const nlohmann::json& j, FdbEntry& v);
void to_json(nlohmann::json& j, const ReloadRequest& v);
void from_json(const nlohmann::json& j, ReloadRequest& v);
void to_json(nlohmann::json& j, const ReloadReply& v);
void from_json(const nlohmann::json& j, ReloadReply& v);
void to_json(nlohmann::json& j, const RulesRequest& v);
void from_json(const nlohmann::json& j, RulesRequest& v);
void to_json(nlohmann::json& j, const RuleHits& v);
void from_json(const nlohmann::json& j, RuleHits& v);
void to_json(nlohmann::json& j, const DirectionRules& v);
void from_json(const nlohmann::json& j, DirectionRules& v);
void to_json(nlohmann::json& j, const NicRules& v);
void from_json(const nlohmann::json& j, NicRules& v);
void to_json(nlohmann::json& j, const ConntrackRequest& v);
void from_json(const nlohmann::json& j, ConntrackRequest& v);  // as parse_conntrack_request
void to_json(nlohmann::json& j, const CtWorkerCounts& v);
void from_json(const nlohmann::json& j, CtWorkerCounts& v);
void to_json(nlohmann::json& j, const Connection& v);
void from_json(const nlohmann::json& j, Connection& v);
void to_json(nlohmann::json& j, const ConntrackReply& v);
void from_json(const nlohmann::json& j, ConntrackReply& v);
void to_json(nlohmann::json& j, const OffloadPort& v);
void from_json(const nlohmann::json& j, OffloadPort& v);
void to_json(nlohmann::json& j, const OffloadEntry& v);
void from_json(const nlohmann::json& j, OffloadEntry& v);
void to_json(nlohmann::json& j, const OffloadUpdate& v);
void from_json(const nlohmann::json& j, OffloadUpdate& v);
void to_json(nlohmann::json& j, const OffloadReply& v);
void from_json(const nlohmann::json& j, OffloadReply& v);

}  // namespace vfgate::dataplane
