// What the control socket shows of the firewall: rules with their hit counters, and the
// connection tables (listed by the workers themselves, see CtDump).

#include <thread>

#include <rte_cycles.h>

#include <vfgate/dataplane/control.hpp>

#include "dataplane.hpp"

namespace vfgate::dataplane {
namespace {

// `offload`: the NIC flows (null at stop), for the packets a rule's flows dropped in the NIC.
DirectionRules direction_rules(const RuleSet& rs, const offload::FlowTable* offload,
                               const std::string& nic, config::Direction dir) {
    DirectionRules d;
    const auto in_nic =
        offload != nullptr ? offload->nic_packets(nic, dir) : std::map<int, std::uint64_t>{};
    for (std::size_t i = 0; i < rs.rules(); ++i) {
        RuleHits r;
        r.id = rs.id(i);
        r.action = config::to_string(rs.rule_action(i));
        r.hits = rs.total(i);
        if (auto n = in_nic.find(static_cast<int>(i)); n != in_nic.end()) r.nic_packets = n->second;
        d.rules.push_back(std::move(r));
    }
    d.default_action = config::to_string(rs.fallback());
    d.default_hits = rs.total(rs.default_slot());
    d.established = rs.total(rs.established_slot());
    return d;
}

std::string address(std::uint8_t family, const std::array<std::uint8_t, 16>& bytes) {
    IpAddr ip;
    ip.family = family == 4 ? IpFamily::kV4 : IpFamily::kV6;
    ip.bytes = bytes;
    return to_string(ip);
}

Connection connection(const CtEntry& e, const std::string& nic, std::uint32_t now, double tick_s) {
    const ConnKey& k = e.key;
    const bool swapped = (e.flags & CtEntry::kOrigSwapped) != 0;
    const auto src = swapped ? k.addr_b() : k.addr_a();
    const auto dst = swapped ? k.addr_a() : k.addr_b();
    const std::uint16_t sport = swapped ? k.port_b : k.port_a;
    const std::uint16_t dport = swapped ? k.port_a : k.port_b;
    const bool egress = (e.flags & CtEntry::kEgress) != 0;
    Connection c;
    c.nic = nic;
    c.family = k.family;
    c.proto = config::proto_name(k.proto);
    c.src = address(k.family, src);
    c.dst = address(k.family, dst);
    c.state = to_string(e.state);
    c.expires_in_s =
        ct_expired(e.expires, now)
            ? 0
            : static_cast<std::uint64_t>(static_cast<double>(e.expires - now) * tick_s);
    c.packets_original = e.packets[0];
    c.packets_reply = e.packets[1];
    c.direction = egress ? "egress" : "ingress";
    c.rule = e.rule;
    if (k.proto == kIpProtoTcp || k.proto == kIpProtoUdp) {
        c.sport = sport;
        c.dport = dport;
    } else if (k.proto == kIpProtoIcmp || k.proto == kIpProtoIcmpv6) {
        c.icmp_id = sport;
    }
    return c;
}

}  // namespace

Result<RulesReply> Dataplane::rules(const std::string& nic) const {
    std::lock_guard lock(mu_);
    const Snapshot* s = current_.load(std::memory_order_acquire);
    RulesReply out;
    std::vector<std::string> names;
    for (const PortInfo& p : s->table.ports()) {
        const auto& fw = s->firewall.nic[index(s->table.by_name(p.name))];
        if (!fw) continue;
        names.push_back(p.name);
        if (!nic.empty() && p.name != nic) continue;
        out.push_back(NicRules{.nic = p.name,
                               .stateful = fw->stateful,
                               .ingress = direction_rules(fw->dir[kIngress], offload_.get(), p.name,
                                                          config::Direction::kIngress),
                               .egress = direction_rules(fw->dir[kEgress], offload_.get(), p.name,
                                                         config::Direction::kEgress)});
    }
    if (!nic.empty() && out.empty()) {
        std::string known;
        for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
        return fail(ErrorKind::kNotFound, "no guest NIC \"" + nic + "\" with a firewall" +
                                              (known.empty() ? std::string(" (no NIC has one)")
                                                             : "; those with one: " + known));
    }
    return out;
}

Result<ConntrackReply> Dataplane::conntrack(const std::string& nic, std::size_t limit) {
    std::lock_guard lock(mu_);
    // A listing buffer is allocated per request: bounded, whatever the client asks.
    limit = std::min<std::size_t>(limit, method::kMaxConntrackListed);
    std::uint16_t zone = 0;
    if (!nic.empty()) {
        auto z = zones_.find(nic);
        if (z == zones_.end()) {
            return fail(ErrorKind::kNotFound,
                        "no guest NIC \"" + nic + "\" with a firewall has been seen");
        }
        zone = z->second;
    }
    std::map<std::uint16_t, std::string> names;
    for (const auto& [name, z] : zones_) names[z] = name;
    const std::uint64_t hz = rte_get_tsc_hz();
    const double tick_s =
        static_cast<double>(std::uint64_t{1} << ct_tick_shift(hz)) / static_cast<double>(hz);
    ConntrackReply out;
    std::vector<Connection> listed;
    std::uint64_t matched = 0;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        Worker& w = *workers_[i];
        const std::uint32_t size = w.firewall.ct.size.load(std::memory_order_relaxed);
        out.entries += size;
        out.workers.push_back(
            CtWorkerCounts{.index = w.index,
                           .entries = size,
                           .denied = w.firewall.ct.denied.load(std::memory_order_relaxed),
                           .capacity = conntrack_.empty() ? 0 : conntrack_[i]->capacity(),
                           .created = w.firewall.ct.created.get(),
                           .expired = w.firewall.ct.expired.load(std::memory_order_relaxed),
                           .revoked = w.firewall.ct.revoked.get(),
                           .table_full = w.firewall.ct.full.get(),
                           .evicted = w.firewall.ct.evicted.load(std::memory_order_relaxed)});
        if (conntrack_.empty() || (limit == 0 && nic.empty())) continue;
        // The worker walks its own table (a chunk per pass) and copies what matches.
        CtDump& d = w.dump;
        if (d.state.load(std::memory_order_acquire) == CtDump::kRequested) {
            return fail(ErrorKind::kConflict, "a previous listing is still running; try again");
        }
        d.all_zones = nic.empty();
        d.zone = zone;
        d.out.assign(limit - std::min<std::size_t>(limit, listed.size()), CtEntry{});
        d.copied = 0;
        d.matched = 0;
        d.cursor = 0;
        d.state.store(CtDump::kRequested, std::memory_order_release);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (d.state.load(std::memory_order_acquire) != CtDump::kDone) {
            if (std::chrono::steady_clock::now() > deadline) {
                return fail(ErrorKind::kSystem, "worker " + std::to_string(w.index) +
                                                    " did not list its connections "
                                                    "within 10 s");
            }
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        matched += d.matched;
        for (std::uint32_t c = 0; c < d.copied; ++c) {
            auto it = names.find(d.out[c].key.zone);
            listed.push_back(
                connection(d.out[c], it == names.end() ? "?" : it->second, d.now, tick_s));
        }
        d.state.store(CtDump::kIdle, std::memory_order_release);
    }
    if (!nic.empty() || limit != 0) {
        out.matched = matched;
        out.connections = std::move(listed);
    }
    return out;
}

}  // namespace vfgate::dataplane
