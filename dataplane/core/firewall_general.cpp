// The firewall stage's general path (firewall_stage.hpp): packets with two sides or a stateless
// one the verdict cache doesn't settle, and what the established path leaves (new connections,
// rules since replaced): conntrack for every stateful side, the classifier for what it doesn't
// settle, then each packet's verdict, recording new connections and remembering denials.

#include <algorithm>

#include "firewall_stage.hpp"
#include "firewall_stage_detail.hpp"

namespace vfgate::dataplane {
namespace {

using namespace firewall_detail;

// The originator's packet of a connection, from one of its replies: what the rules allowed.
FlowKey originator_of(const FlowKey& k) noexcept {
    FlowKey o = k;
    std::swap(o.src, o.dst);
    std::swap(o.sport, o.dport);
    if (k.is_icmp) o.icmp_type = k.family == 4 ? 8 : 128;  // echo request
    return o;
}

}  // namespace

// Conntrack for the stateful sides: one bulk lookup; settles those a live connection passes,
// re-checks connections allowed under older rules (and forgets those the rules now deny).
// True when it settled every side of the burst alone (then there is nothing left to classify
// or commit).
bool FirewallStage::track(Burst& b, const FirewallTables& fw, ConnTable* table,
                          std::uint32_t tick) noexcept {
    if (table == nullptr) return false;  // no stateful firewall yet: nothing is tracked
    std::uint32_t settled = 0;
    static_assert(std::size_t{2} * kBurstSize <= ConnTable::kBulkMax);
    std::array<const ConnKey*, std::size_t{2} * kBurstSize> keys;  // NOLINT: scratch
    std::array<std::int32_t, std::size_t{2} * kBurstSize> pos;     // NOLINT: scratch
    const std::uint32_t n = lookups_;
    const auto& which = lookup_side_;
    if (n == 0) return false;
    // Only the sides whose position isn't known: a candidate's lookup found it already (for a new
    // connection, nothing), and the burst changed no position since.
    std::array<std::uint16_t, std::size_t{2} * kBurstSize> unknown;  // NOLINT: scratch
    std::uint32_t n_unknown = 0;
    for (std::uint32_t q = 0; q < n; ++q) {
        const Side& sd = side_[which[q]];
        if (sd.looked_up) {
            pos[q] = sd.pos;
        } else {
            keys[n_unknown] = &conn_[which[q]];
            unknown[n_unknown++] = static_cast<std::uint16_t>(q);
        }
    }
    if (n_unknown != 0) {
        std::array<std::int32_t, std::size_t{2} * kBurstSize> found;  // NOLINT: scratch
        table->lookup(keys.data(), n_unknown, found.data());
        for (std::uint32_t k = 0; k < n_unknown; ++k) pos[unknown[k]] = found[k];
    }
    // Entries that change only when a side is committed (a side left to the rules, or an
    // established one that isn't its packet's only side): a later side of the same connection
    // is deferred, decided once the packets before it are committed, as if they came one at a
    // time. A bit per position (modulo 1024) spares most sides the search.
    std::array<std::int32_t, std::size_t{2} * kBurstSize> left;  // NOLINT: scratch
    std::uint32_t n_left = 0;
    std::array<std::uint64_t, 16> seen{};
    const auto bit = [](std::int32_t p) { return std::uint64_t{1} << (p & 63); };
    const auto leave = [&](std::int32_t p) {
        seen[(p >> 6) & 15] |= bit(p);
        left[n_left++] = p;
    };
    const auto is_left = [&](std::int32_t p) {
        return (seen[(p >> 6) & 15] & bit(p)) != 0 &&
               std::find(left.begin(), left.begin() + n_left, p) != left.begin() + n_left;
    };
    // A side conntrack denies: decided; a sole side's packet is dropped now.
    const auto deny = [&](Side& sd) {
        sd.decided = true;
        if (!sd.sole) return;
        drop(b.step[sd.pkt], DropReason::kFirewall);
        sd.final = true;
        ++settled;
    };
    for (std::uint32_t q = 0; q < n; ++q) {
        if (pos[q] < 0) continue;
        Side& sd = side_[which[q]];
        sd.pos = pos[q];
        if (is_left(pos[q])) {
            sd.deferred = true;  // and not for classify() or a leader
            sd.decided = true;
            continue;
        }
        CtEntry& e = table->at(pos[q]);
        // Expired (or forgotten earlier in this burst): a new connection, for the rules.
        if ((e.flags & CtEntry::kInUse) == 0 || ct_expired(e.expires, tick)) {
            leave(pos[q]);
            continue;
        }
        if (e.state == CtState::kDenied) {
            // A denial remembered for this side, direction and rules; else the rules decide
            // (and the entry is overwritten with their verdict).
            if (e.epoch != sd.fw->epoch || dir_of(e) != sd.dir || sd.swapped != orig_swapped(e)) {
                leave(pos[q]);
                continue;
            }
            renew_denial(fw, sd.fw->dir[sd.dir], e, tick);
            sd.match = e.rule;
            deny(sd);
            continue;
        }
        const FlowKey& k = key_[sd.pkt];
        const bool reply = sd.swapped != orig_swapped(e);
        if (misdirected(e, sd.dir, reply)) {
            deny(sd);  // forged: the connection stays as it is (no rule, no state)
            continue;
        }
        if (e.epoch != sd.fw->epoch) {
            // Allowed under rules (or addresses) since replaced: still allowed by the current
            // ones? One the guest opened must also be from an address it may still send from.
            const RuleSet& rs = sd.fw->dir[dir_of(e)];
            const FlowKey orig = reply ? originator_of(k) : k;
            const std::uint32_t m = rs.match(orig);
            const PortIdx guest = sd.dir == kEgress ? b.in : b.step[sd.pkt].out;
            // Revoked for its address, no rule decided it: none is counted.
            const bool spoofed =
                dir_of(e) == kEgress && !may_send_from(fw.identity[index(guest)], orig);
            if (!spoofed) count_match(rs, m);
            if (spoofed || rs.action(m) != config::Action::kAllow) {
                table->erase(pos[q]);
                ct.revoked.add(1);
                ct.publish(*table);
                sd.pos = -1;
                sd.decided = true;
                sd.allow = false;
                continue;
            }
            e.epoch = sd.fw->epoch;
            e.rule = m;
        }
        if (!passes(e.state, k)) {  // a new SYN on a closed connection: the rules decide
            leave(pos[q]);
            continue;
        }
        sd.decided = true;
        sd.allow = true;
        sd.established = true;
        remember_entry(sd, e);
        if (sd.sole) {
            // Nothing else decides this packet: advance the connection now, while its entry
            // is in cache, rather than in a later pass.
            pass_established(fw, sd.fw->dir[sd.dir], e, is_tracked_tcp(k), k.tcp_flags, reply,
                             tick);
            sd.final = true;
            ++settled;
        } else {
            leave(pos[q]);  // advanced in commit(), if its packet passes
        }
    }
    if (settled == sides_) return true;
    // Packets of one new connection in one burst: the first meets the rules, the others follow
    // it (same connection, same rules, same verdict) and then advance the entry it creates.
    // Only the sides conntrack left open are compared, with each other. ICMP errors share a key
    // (no identifier) but not their type and code, which the rules read: one that differs from
    // its leader's, and every later one of that key, is deferred instead.
    std::array<std::uint16_t, std::size_t{2} * kBurstSize> open;  // NOLINT: scratch
    std::array<bool, std::size_t{2} * kBurstSize> broken;         // NOLINT: scratch
    std::uint32_t n_open = 0;
    for (std::uint32_t q = 0; q < n; ++q) {
        Side& sd = side_[which[q]];
        if (sd.decided) continue;
        for (std::uint32_t p = 0; p < n_open; ++p) {
            if (side_[open[p]].fw != sd.fw || !(conn_[open[p]] == conn_[which[q]])) continue;
            const FlowKey& k = key_[sd.pkt];
            const FlowKey& lk = key_[side_[open[p]].pkt];
            // Nor the other orientation of a leader's packet: on the leader's side, only a forged
            // packet has it (misdirected()), decided once the leader has made its entry.
            broken[p] = broken[p] || sd.swapped != side_[open[p]].swapped ||
                        (k.is_icmp && (k.icmp_type != lk.icmp_type || k.icmp_code != lk.icmp_code));
            if (broken[p]) {
                sd.deferred = true;
            } else {
                sd.leader = static_cast<std::int16_t>(open[p]);
            }
            sd.decided = true;
            break;
        }
        if (!sd.decided) {
            broken[n_open] = false;
            open[n_open++] = which[q];
        }
    }
    return false;
}

// The classifier for the sides conntrack didn't settle, a batch per (rule set, IP version).
void FirewallStage::classify() noexcept {
    std::array<bool, std::size_t{2} * kBurstSize> done;  // NOLINT: scratch
    for (std::uint16_t j = 0; j < sides_; ++j) done[j] = side_[j].decided;
    std::array<const FlowKey*, std::size_t{2} * kBurstSize> keys;  // NOLINT: scratch
    std::array<std::uint16_t, std::size_t{2} * kBurstSize> which;  // NOLINT: scratch
    std::array<std::uint32_t, std::size_t{2} * kBurstSize> out;    // NOLINT: scratch
    for (std::uint16_t j = 0; j < sides_; ++j) {
        if (done[j]) continue;
        const RuleSet& rs = side_[j].fw->dir[side_[j].dir];
        const std::uint8_t family = key_[side_[j].pkt].family;
        std::uint32_t n = 0;
        for (std::uint16_t q = j; q < sides_; ++q) {
            const Side& sd = side_[q];
            if (done[q] || &sd.fw->dir[sd.dir] != &rs || key_[sd.pkt].family != family) continue;
            keys[n] = &key_[sd.pkt];
            which[n++] = q;
            done[q] = true;
        }
        rs.match(family, keys.data(), out.data(), n);
        for (std::uint32_t q = 0; q < n; ++q) {
            Side& sd = side_[which[q]];
            sd.match = out[q];
            sd.allow = rs.action(out[q]) == config::Action::kAllow;
            count_match(rs, out[q]);
        }
    }
    for (std::uint16_t j = 0; j < sides_; ++j) {
        Side& sd = side_[j];
        if (sd.leader < 0) continue;
        sd.match = side_[sd.leader].match;
        sd.allow = side_[sd.leader].allow;
        if (!sd.allow) count_match(sd.fw->dir[sd.dir], sd.match);
    }
}

// A new entry for the side's connection: its state, expiry, first packet and the rules that
// decided it.
void FirewallStage::record(const FirewallTables& fw, ConnTable& table, CtEntry& e, CtState state,
                           const Side& sd, std::uint32_t tick) noexcept {
    table.set_state(e, state);
    e.expires = tick + timeout_of(fw, state);
    e.packets = {1, 0};
    e.epoch = sd.fw->epoch;
    e.rule = sd.match;
    e.flags = entry_flags(sd.swapped, sd.dir);
    ct.publish(table);
}

// A follower (its leader's rules allowed it): whether the entry its leader made or renewed in this
// burst passes it, as it would one packet at a time (sd.pos is then that entry). Not when the
// leader's packet was dropped (the entry is none, or what the burst's lookup found), or a new
// connection has evicted the entry since.
bool FirewallStage::follows_entry(const ConnTable& table, Side& sd, std::uint16_t j,
                                  std::uint32_t tick) const noexcept {
    const std::int32_t pos = side_[sd.leader].pos;
    if (pos < 0) return false;
    const CtEntry& e = table.at(pos);
    if ((e.flags & CtEntry::kInUse) == 0 || !(e.key == conn_[j]) || ct_expired(e.expires, tick) ||
        e.epoch != sd.fw->epoch || !passes(e.state, key_[sd.pkt])) {
        return false;
    }
    sd.pos = pos;
    return true;
}

// A side that allowed a packet that passes: advance its connection, or record a new one.
// False when the new connection finds the table full.
bool FirewallStage::commit(const FirewallTables& fw, ConnTable* table, Side& sd, std::uint16_t j,
                           std::uint32_t tick) noexcept {
    // Settled already, or no table: nothing tracked (no stateful firewall yet).
    if (sd.final || table == nullptr) return true;
    const RuleSet& rs = sd.fw->dir[sd.dir];
    const FlowKey& k = key_[sd.pkt];
    // Whether the entry at `pos` is still this side's connection: a new connection earlier in
    // this burst may have evicted it.
    const auto holds = [&](std::int32_t pos) {
        const CtEntry& e = table->at(pos);
        return (e.flags & CtEntry::kInUse) != 0 && e.key == conn_[j];
    };
    if (sd.leader >= 0) {
        sd.established = follows_entry(*table, sd, j, tick);
        if (!sd.established) count_match(rs, sd.match);  // a new connection again
    }
    if (sd.established && holds(sd.pos)) {
        CtEntry& e = table->at(sd.pos);
        pass_established(fw, rs, e, is_tracked_tcp(k), k.tcp_flags, sd.swapped != orig_swapped(e),
                         tick);
        return true;
    }
    if (!sd.fw->stateful) return true;
    const std::int32_t pos = table->insert(conn_[j], tick);
    sd.pos = pos;
    if (pos < 0) {
        ct.full.add(1);
        return false;
    }
    CtEntry& e = table->at(pos);
    if (sd.established) {
        // Its connection, which the burst's lookup found, was evicted since by a new connection
        // earlier in the burst: made again as it was (the same originator, direction and rule),
        // then advanced by this packet.
        table->set_state(e, sd.ct_state);
        e.flags = sd.ct_flags;
        e.epoch = sd.fw->epoch;
        e.rule = sd.match;
        pass_established(fw, rs, e, is_tracked_tcp(k), k.tcp_flags, sd.swapped != orig_swapped(e),
                         tick);
        ct.publish(*table);
    } else {
        record(fw, *table, e, initial_state(k), sd, tick);
    }
    ct.created.add(1);
    return true;
}

// A stateful side whose rules denied a packet: remember it for the flow's next packets (same
// side, direction and rules), unless it is ICMP (whose rules match fields that the connection
// key lacks: type and code) or denials already fill their share of the table.
void FirewallStage::remember_denial(const FirewallTables& fw, ConnTable* table, const Side& sd,
                                    std::uint16_t j, std::uint32_t tick) noexcept {
    // Only sides the rules themselves just denied (not conntrack, not a follower).
    if (sd.allow || sd.decided || !sd.fw->stateful || table == nullptr) return;
    const FlowKey& k = key_[sd.pkt];
    if (timeout_of(fw, CtState::kDenied) == 0 || k.proto == kIpProtoIcmp ||
        k.proto == kIpProtoIcmpv6 || table->denied() >= table->denied_limit()) {
        return;
    }
    const std::int32_t pos = table->insert(conn_[j], tick);
    if (pos >= 0) record(fw, *table, table->at(pos), CtState::kDenied, sd, tick);
}

// A deferred side (track()): earlier packets of this burst change its connection's entry, and
// have been committed since. Decided now by the table as they left it, as if the packets had
// come one at a time: a denial remembered for it drops it, a connection that passes it passes it
// (commit() advances it), else the rules decide as for a packet of its own.
void FirewallStage::decide_late(const FirewallTables& fw, ConnTable& table, Side& sd,
                                std::uint16_t j, std::uint32_t tick) noexcept {
    sd.deferred = false;
    const FlowKey& k = key_[sd.pkt];
    const RuleSet& rs = sd.fw->dir[sd.dir];
    sd.pos = table.find(conn_[j]);  // they may have made, replaced or evicted it
    if (sd.pos >= 0) {
        CtEntry& e = table.at(sd.pos);
        const bool live = (e.flags & CtEntry::kInUse) != 0 && !ct_expired(e.expires, tick) &&
                          e.epoch == sd.fw->epoch;
        if (live && e.state != CtState::kDenied &&
            misdirected(e, sd.dir, sd.swapped != orig_swapped(e))) {
            sd.allow = false;  // forged: dropped, the connection left as it is
            return;            // decided: no rule, not remembered
        }
        if (live && e.state == CtState::kDenied && dir_of(e) == sd.dir &&
            sd.swapped == orig_swapped(e)) {
            renew_denial(fw, rs, e, tick);
            sd.match = e.rule;
            sd.allow = false;
            return;  // decided: not remembered again
        }
        if (live && passes(e.state, k)) {  // (never a denial)
            sd.allow = true;
            sd.established = true;
            remember_entry(sd, e);
            return;
        }
    }
    sd.match = rs.match(k);
    sd.allow = rs.action(sd.match) == config::Action::kAllow;
    count_match(rs, sd.match);
    sd.decided = false;  // the rules decided: a new connection, or a denial to remember
}

// Each packet passes when all its sides allow (each packet's sides are adjacent; stateful sides
// are in packet order): the allowing sides advance or record their connections. Otherwise it is
// dropped, and the denying sides remember it.
void FirewallStage::apply_verdicts(Burst& b, const FirewallTables& fw, ConnTable* table,
                                   std::uint32_t tick) noexcept {
    for (std::uint16_t j = 0; j < sides_;) {
        const std::uint16_t pkt = side_[j].pkt;
        std::uint16_t end = j;
        bool allow = true;
        for (; end < sides_ && side_[end].pkt == pkt; ++end) {
            if (side_[end].deferred) decide_late(fw, *table, side_[end], end, tick);
            allow &= side_[end].allow;
        }
        Step& st = b.step[pkt];
        if (!allow) {
            drop(st, DropReason::kFirewall);
            for (std::uint16_t q = j; q < end; ++q) {
                const Side& sd = side_[q];
                // A follower its rules allowed, on no connection: one packet at a time, they
                // would have met the rules (commit() counts the others' on a new connection).
                if (sd.leader >= 0 && sd.allow && !follows_entry(*table, side_[q], q, tick)) {
                    count_match(sd.fw->dir[sd.dir], sd.match);
                }
                remember_denial(fw, table, sd, q, tick);
            }
        } else {
            for (std::uint16_t q = j; q < end; ++q) {
                if (!commit(fw, table, side_[q], q, tick)) {
                    drop(st, DropReason::kConntrackFull);
                    break;
                }
            }
        }
        j = end;
    }
}

}  // namespace vfgate::dataplane
