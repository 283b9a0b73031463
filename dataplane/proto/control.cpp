// JSON of the control socket's requests and replies (vfgate/dataplane/control.hpp). The wire
// format is what the dataplane has always sent: keep it byte for byte (nlohmann::json orders
// an object's keys, so only the keys, their types and what is omitted matter).

#include <nlohmann/json.hpp>

#include <vfgate/dataplane/control.hpp>

namespace vfgate::dataplane {
namespace {

using nlohmann::json;

// An optional field: set when present, omitted when not.
template <class T>
void put(json& j, const char* key, const std::optional<T>& v) {
    if (v) j[key] = *v;
}

template <class T>
void get(const json& j, const char* key, std::optional<T>& v) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        v.reset();
    } else {
        v = it->get<T>();
    }
}

// A string that is omitted when empty.
void put(json& j, const char* key, const std::string& v) {
    if (!v.empty()) j[key] = v;
}

void get(const json& j, const char* key, std::string& v) { v = j.value(key, std::string()); }

// A VLAN: 0 (untagged) is null.
json vlan_json(std::uint16_t vlan) { return vlan == 0 ? json(nullptr) : json(vlan); }

std::uint16_t vlan_of(const json& j) {
    return j.is_null() ? std::uint16_t{0} : j.get<std::uint16_t>();
}

}  // namespace

void to_json(json& j, const MbufUsage& v) {
    j = json{{"size", v.size}, {"in_use", v.in_use}, {"available", v.available}};
}

void from_json(const json& j, MbufUsage& v) {
    j.at("size").get_to(v.size);
    j.at("in_use").get_to(v.in_use);
    j.at("available").get_to(v.available);
}

void to_json(json& j, const StatusReply& v) {
    j = json{{"host", v.host},
             {"pid", v.pid},
             {"config", v.config},
             {"control_socket", v.control_socket},
             {"running", v.running},
             {"uptime_s", v.uptime_s},
             {"generation", v.generation},
             {"file_prefix", v.file_prefix},
             {"main_core", v.main_core},
             {"worker_cores", v.worker_cores},
             {"hugepages", v.hugepages},
             {"ports", v.ports},
             {"mbufs", v.mbufs ? json(*v.mbufs) : json(nullptr)}};
}

void from_json(const json& j, StatusReply& v) {
    j.at("host").get_to(v.host);
    j.at("pid").get_to(v.pid);
    j.at("config").get_to(v.config);
    v.control_socket = j.value("control_socket", std::string());  // older dataplanes lack it
    j.at("running").get_to(v.running);
    j.at("uptime_s").get_to(v.uptime_s);
    j.at("generation").get_to(v.generation);
    j.at("file_prefix").get_to(v.file_prefix);
    j.at("main_core").get_to(v.main_core);
    j.at("worker_cores").get_to(v.worker_cores);
    j.at("hugepages").get_to(v.hugepages);
    j.at("ports").get_to(v.ports);
    get(j, "mbufs", v.mbufs);
}

void to_json(json& j, const PortEntry& v) {
    j = json{{"name", v.name}, {"role", v.role}};
    put(j, "dpdk_port", v.dpdk_port);
    put(j, "driver", v.driver);
    put(j, "devargs", v.devargs);
    put(j, "device_mac", v.device_mac);
    put(j, "link", v.link);
    put(j, "speed_mbps", v.speed_mbps);
    put(j, "rx_queues", v.rx_queues);
    put(j, "mtu", v.mtu);
    put(j, "vhost_socket", v.vhost_socket);
    if (v.mac) {
        j["mac"] = *v.mac;
        j["vlan"] = vlan_json(v.vlan);
    }
    put(j, "uplink", v.uplink);
    put(j, "pf", v.pf);
    put(j, "vf", v.vf);
}

void from_json(const json& j, PortEntry& v) {
    j.at("name").get_to(v.name);
    j.at("role").get_to(v.role);
    get(j, "dpdk_port", v.dpdk_port);
    get(j, "driver", v.driver);
    get(j, "devargs", v.devargs);
    get(j, "device_mac", v.device_mac);
    get(j, "link", v.link);
    get(j, "speed_mbps", v.speed_mbps);
    get(j, "rx_queues", v.rx_queues);
    get(j, "mtu", v.mtu);
    get(j, "vhost_socket", v.vhost_socket);
    get(j, "mac", v.mac);
    v.vlan = j.contains("vlan") ? vlan_of(j["vlan"]) : 0;
    get(j, "uplink", v.uplink);
    get(j, "pf", v.pf);
    get(j, "vf", v.vf);
}

void to_json(json& j, const DeviceCounters& v) {
    j = json{{"ipackets", v.ipackets}, {"opackets", v.opackets}, {"imissed", v.imissed},
             {"ierrors", v.ierrors},   {"oerrors", v.oerrors},   {"rx_nombuf", v.rx_nombuf}};
}

void from_json(const json& j, DeviceCounters& v) {
    j.at("ipackets").get_to(v.ipackets);
    j.at("opackets").get_to(v.opackets);
    j.at("imissed").get_to(v.imissed);
    j.at("ierrors").get_to(v.ierrors);
    j.at("oerrors").get_to(v.oerrors);
    j.at("rx_nombuf").get_to(v.rx_nombuf);
}

void to_json(json& j, const PortStats& v) {
    j = json{{"name", v.name},
             {"rx_packets", v.rx_packets},
             {"rx_bytes", v.rx_bytes},
             {"tx_packets", v.tx_packets},
             {"tx_bytes", v.tx_bytes},
             {"drops", v.drops},
             {"drops_total", v.drops_total},
             {"device", v.device}};
}

void from_json(const json& j, PortStats& v) {
    j.at("name").get_to(v.name);
    j.at("rx_packets").get_to(v.rx_packets);
    j.at("rx_bytes").get_to(v.rx_bytes);
    j.at("tx_packets").get_to(v.tx_packets);
    j.at("tx_bytes").get_to(v.tx_bytes);
    j.at("drops").get_to(v.drops);
    j.at("drops_total").get_to(v.drops_total);
    j.at("device").get_to(v.device);
}

void to_json(json& j, const WorkerStats& v) {
    j = json{{"index", v.index},
             {"core", v.core},
             {"packets", v.packets},
             {"packets_in", v.packets_in},
             {"copies", v.copies},
             {"packets_out", v.packets_out},
             {"drops", v.drops},
             {"busy_cycles", v.busy_cycles},
             {"idle_cycles", v.idle_cycles},
             {"cycles_per_packet", v.cycles_per_packet},
             {"busy_percent", v.busy_percent},
             {"verdict_cache_hits", v.verdict_cache_hits},
             {"verdict_cache_misses", v.verdict_cache_misses},
             {"direct_bursts", v.direct_bursts}};
}

void from_json(const json& j, WorkerStats& v) {
    j.at("index").get_to(v.index);
    j.at("core").get_to(v.core);
    j.at("packets").get_to(v.packets);
    j.at("packets_in").get_to(v.packets_in);
    j.at("copies").get_to(v.copies);
    j.at("packets_out").get_to(v.packets_out);
    j.at("drops").get_to(v.drops);
    j.at("busy_cycles").get_to(v.busy_cycles);
    j.at("idle_cycles").get_to(v.idle_cycles);
    j.at("cycles_per_packet").get_to(v.cycles_per_packet);
    j.at("busy_percent").get_to(v.busy_percent);
    v.verdict_cache_hits = j.value("verdict_cache_hits", std::uint64_t{0});
    v.verdict_cache_misses = j.value("verdict_cache_misses", std::uint64_t{0});
    v.direct_bursts = j.value("direct_bursts", std::uint64_t{0});
}

void to_json(json& j, const StatsReply& v) {
    j = json{{"ports", v.ports}, {"workers", v.workers}, {"tsc_hz", v.tsc_hz}};
}

void from_json(const json& j, StatsReply& v) {
    j.at("ports").get_to(v.ports);
    j.at("workers").get_to(v.workers);
    j.at("tsc_hz").get_to(v.tsc_hz);
}

void to_json(json& j, const FdbEntry& v) {
    j = json{{"uplink", v.uplink}, {"vlan", vlan_json(v.vlan)}, {"mac", v.mac}, {"port", v.port}};
}

void from_json(const json& j, FdbEntry& v) {
    j.at("uplink").get_to(v.uplink);
    v.vlan = vlan_of(j.at("vlan"));
    j.at("mac").get_to(v.mac);
    j.at("port").get_to(v.port);
}

void to_json(json& j, const ReloadRequest& v) {
    j = json::object();
    if (!v.path.empty()) j["path"] = v.path;
}

void from_json(const json& j, ReloadRequest& v) { v.path = j.value("path", std::string()); }

void to_json(json& j, const ReloadReply& v) {
    j = json{{"added", v.added},
             {"removed", v.removed},
             {"updated", v.updated},
             {"generation", v.generation}};
}

void from_json(const json& j, ReloadReply& v) {
    j.at("added").get_to(v.added);
    j.at("removed").get_to(v.removed);
    j.at("updated").get_to(v.updated);
    j.at("generation").get_to(v.generation);
}

void to_json(json& j, const RulesRequest& v) {
    j = json::object();
    if (!v.nic.empty()) j["nic"] = v.nic;
}

void from_json(const json& j, RulesRequest& v) { v.nic = j.value("nic", std::string()); }

void to_json(json& j, const RuleHits& v) {
    j = json{{"id", v.id}, {"action", v.action}, {"hits", v.hits}};
    put(j, "nic_packets", v.nic_packets);
}

void from_json(const json& j, RuleHits& v) {
    j.at("id").get_to(v.id);
    j.at("action").get_to(v.action);
    j.at("hits").get_to(v.hits);
    get(j, "nic_packets", v.nic_packets);
}

void to_json(json& j, const DirectionRules& v) {
    j = json{{"rules", v.rules},
             {"default", v.default_action},
             {"default_hits", v.default_hits},
             {"established", v.established}};
}

void from_json(const json& j, DirectionRules& v) {
    j.at("rules").get_to(v.rules);
    j.at("default").get_to(v.default_action);
    j.at("default_hits").get_to(v.default_hits);
    j.at("established").get_to(v.established);
}

void to_json(json& j, const NicRules& v) {
    j = json{
        {"nic", v.nic}, {"stateful", v.stateful}, {"ingress", v.ingress}, {"egress", v.egress}};
}

void from_json(const json& j, NicRules& v) {
    j.at("nic").get_to(v.nic);
    j.at("stateful").get_to(v.stateful);
    j.at("ingress").get_to(v.ingress);
    j.at("egress").get_to(v.egress);
}

Result<ConntrackRequest> parse_conntrack_request(const json& params) {
    ConntrackRequest r;
    r.nic = params.value("nic", std::string());
    if (auto l = params.find("limit"); l != params.end()) {
        // Strict: a negative, fractional or huge limit is an error, not silently clamped.
        if (!l->is_number_unsigned() || l->get<std::uint64_t>() > method::kMaxConntrackListed) {
            return fail(ErrorKind::kInvalidArgument,
                        std::string(method::kConntrack) + ": bad params: limit: found " +
                            l->dump() + "; expected an integer from 0 to " +
                            std::to_string(method::kMaxConntrackListed));
        }
        r.limit = l->get<std::uint64_t>();
    }
    return r;
}

void to_json(json& j, const ConntrackRequest& v) {
    j = json::object();
    if (!v.nic.empty()) j["nic"] = v.nic;
    put(j, "limit", v.limit);
}

void from_json(const json& j, ConntrackRequest& v) {
    auto r = parse_conntrack_request(j);
    if (!r) throw json::other_error::create(501, r.error().message(), &j);
    v = std::move(*r);
}

void to_json(json& j, const CtWorkerCounts& v) {
    j = json{{"index", v.index},       {"entries", v.entries},       {"denied", v.denied},
             {"capacity", v.capacity}, {"created", v.created},       {"expired", v.expired},
             {"revoked", v.revoked},   {"table_full", v.table_full}, {"evicted", v.evicted}};
}

void from_json(const json& j, CtWorkerCounts& v) {
    j.at("index").get_to(v.index);
    j.at("entries").get_to(v.entries);
    j.at("denied").get_to(v.denied);
    j.at("capacity").get_to(v.capacity);
    j.at("created").get_to(v.created);
    j.at("expired").get_to(v.expired);
    j.at("revoked").get_to(v.revoked);
    j.at("table_full").get_to(v.table_full);
    v.evicted = j.value("evicted", std::uint64_t{0});  // absent from dataplanes before it
}

void to_json(json& j, const Connection& v) {
    j = json{{"nic", v.nic},
             {"family", v.family},
             {"proto", v.proto},
             {"src", v.src},
             {"dst", v.dst},
             {"state", v.state},
             {"expires_in_s", v.expires_in_s},
             {"packets", json{{"original", v.packets_original}, {"reply", v.packets_reply}}},
             {"direction", v.direction},
             {"rule", v.rule}};
    put(j, "sport", v.sport);
    put(j, "dport", v.dport);
    put(j, "icmp_id", v.icmp_id);
}

void from_json(const json& j, Connection& v) {
    j.at("nic").get_to(v.nic);
    j.at("family").get_to(v.family);
    j.at("proto").get_to(v.proto);
    j.at("src").get_to(v.src);
    j.at("dst").get_to(v.dst);
    j.at("state").get_to(v.state);
    j.at("expires_in_s").get_to(v.expires_in_s);
    j.at("packets").at("original").get_to(v.packets_original);
    j.at("packets").at("reply").get_to(v.packets_reply);
    j.at("direction").get_to(v.direction);
    j.at("rule").get_to(v.rule);
    get(j, "sport", v.sport);
    get(j, "dport", v.dport);
    get(j, "icmp_id", v.icmp_id);
}

void to_json(json& j, const ConntrackReply& v) {
    j = json{{"workers", v.workers}, {"entries", v.entries}};
    put(j, "matched", v.matched);
    put(j, "connections", v.connections);
}

void from_json(const json& j, ConntrackReply& v) {
    j.at("workers").get_to(v.workers);
    j.at("entries").get_to(v.entries);
    get(j, "matched", v.matched);
    get(j, "connections", v.connections);
}

void to_json(json& j, const OffloadPort& v) {
    j = json{{"name", v.name},
             {"driver", v.driver},
             {"state", v.state},
             {"flows", v.flows},
             {"refused", v.refused}};
    put(j, "note", v.note);
}

void from_json(const json& j, OffloadPort& v) {
    j.at("name").get_to(v.name);
    j.at("driver").get_to(v.driver);
    j.at("state").get_to(v.state);
    j.at("flows").get_to(v.flows);
    j.at("refused").get_to(v.refused);
    get(j, "note", v.note);
}

void to_json(json& j, const OffloadEntry& v) {
    j = json{{"kind", v.kind}, {"port", v.port}, {"where", v.where}, {"flows", v.flows}};
    put(j, "nic", v.nic);
    put(j, "direction", v.direction);
    put(j, "rule", v.rule);
    put(j, "action", v.action);
    put(j, "why_not", v.why_not);
    put(j, "nic_packets", v.nic_packets);
}

void from_json(const json& j, OffloadEntry& v) {
    j.at("kind").get_to(v.kind);
    j.at("port").get_to(v.port);
    j.at("where").get_to(v.where);
    j.at("flows").get_to(v.flows);
    get(j, "nic", v.nic);
    get(j, "direction", v.direction);
    get(j, "rule", v.rule);
    get(j, "action", v.action);
    get(j, "why_not", v.why_not);
    get(j, "nic_packets", v.nic_packets);
}

void to_json(json& j, const OffloadUpdate& v) {
    j = json{{"generation", v.generation},
             {"added", v.added},
             {"removed", v.removed},
             {"kept", v.kept},
             {"refused", v.refused},
             {"ms", v.ms},
             {"swap_in_software", v.swap_in_software}};
    put(j, "note", v.note);
}

void from_json(const json& j, OffloadUpdate& v) {
    j.at("generation").get_to(v.generation);
    j.at("added").get_to(v.added);
    j.at("removed").get_to(v.removed);
    j.at("kept").get_to(v.kept);
    j.at("refused").get_to(v.refused);
    j.at("ms").get_to(v.ms);
    j.at("swap_in_software").get_to(v.swap_in_software);
    get(j, "note", v.note);
}

void to_json(json& j, const OffloadReply& v) {
    j = json{{"ports", v.ports}, {"entries", v.entries}};
    put(j, "last_update", v.last_update);
}

void from_json(const json& j, OffloadReply& v) {
    j.at("ports").get_to(v.ports);
    j.at("entries").get_to(v.entries);
    get(j, "last_update", v.last_update);
}

}  // namespace vfgate::dataplane
