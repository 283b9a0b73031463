#include "filter.hpp"

#include <span>

#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "antispoof.hpp"
#include "worker.hpp"

namespace vfgate::dataplane {
namespace {

void drop(Step& st, DropReason r) noexcept {
    st.verdict = Verdict::kDrop;
    st.reason = r;
}

DropReason reason_of(SpoofResult r) noexcept {
    switch (r) {
        case SpoofResult::kSourceIp:
            return DropReason::kSpoofedIp;
        case SpoofResult::kArp:
            return DropReason::kSpoofedArp;
        case SpoofResult::kNeighbor:
            return DropReason::kSpoofedNd;
        case SpoofResult::kRouterAdvert:
        case SpoofResult::kRedirect:
            return DropReason::kRouterAdvert;
        case SpoofResult::kMalformed:
        case SpoofResult::kOk:
            break;
    }
    return DropReason::kMalformed;
}

std::span<const std::byte> l3_of(const rte_mbuf* m, const L2Meta& meta) noexcept {
    const std::uint32_t off = kEtherHeaderLen + (meta.tagged ? kVlanTagLen : 0);
    const auto* data = rte_pktmbuf_mtod(m, const std::byte*);
    const std::uint32_t len = rte_pktmbuf_data_len(m);
    return off <= len ? std::span(data + off, len - off) : std::span<const std::byte>();
}

// Parses and applies anti-spoofing; sets the packet's class. False if the packet was dropped.
bool inspect(Worker& w, const Snapshot& s, std::uint16_t i, bool from_guest) noexcept {
    Burst& b = w.burst;
    FilterScratch& f = w.filter;
    Step& st = b.step[i];
    const L2Meta& m = b.meta[i];
    const auto l3 = l3_of(w.mbufs[i], m);
    const GuestIdentity& id = s.identity[index(b.in)];
    if (m.ethertype == kEtherArp) {
        if (from_guest) {
            if (auto r = check_arp(id, l3); r != SpoofResult::kOk) {
                drop(st, reason_of(r));
                return false;
            }
        }
        f.cls[i] = PacketClass::kBypass;
        return true;
    }
    FlowKey& k = f.key[i];
    const L3Result r = parse_l3l4(m.ethertype, l3, k);
    if (r == L3Result::kMalformed || r == L3Result::kNotIp) {
        drop(st, DropReason::kMalformed);
        return false;
    }
    if (from_guest) {
        if (auto sr = check_ip(id, l3, k); sr != SpoofResult::kOk) {
            drop(st, reason_of(sr));
            return false;
        }
    }
    if (is_neighbor_discovery(k)) {
        f.cls[i] = PacketClass::kBypass;
    } else {
        f.cls[i] =
            r == L3Result::kLaterFragment ? PacketClass::kLaterFragment : PacketClass::kRules;
    }
    return true;
}

// Established packets of a burst, counted once per run of one rule set (one add instead of a
// serial chain of load-add-store on one counter per packet).
struct EstablishedTally {
    const RuleSet* rs = nullptr;
    std::uint64_t n = 0;
    void add(const Worker& w, const RuleSet& r) noexcept {
        if (&r != rs) flush(w);
        rs = &r;
        ++n;
    }
    void flush(const Worker& w) noexcept {
        if (n != 0) rs->count(w.index, rs->established_slot(), n);
        n = 0;
    }
};

[[gnu::always_inline]] inline void count_match(const Worker& w, const RuleSet& rs,
                                               std::uint32_t match) noexcept {
    rs.count(w.index, match == 0 ? rs.default_slot() : match - 1);
}

[[gnu::always_inline]] inline void add_side(FilterScratch& f, std::uint16_t pkt,
                                            const NicFirewall* fw, Dir dir) noexcept {
    // Not swapped, decided, allowed or established; no leader, connection or match yet.
    f.side[f.sides++] = FilterScratch::Side{fw,    pkt,   dir,   false, false, false, false,
                                            false, false, false, -1,    -1,    0};
}

// The originator's packet of a connection, from one of its replies: what the rules allowed.
FlowKey originator_of(const FlowKey& k) noexcept {
    FlowKey o = k;
    std::swap(o.src, o.dst);
    std::swap(o.sport, o.dport);
    if (k.is_icmp) o.icmp_type = k.family == 4 ? 8 : 128;  // echo request
    return o;
}

// A packet of a known connection that passes: the connection's state, expiry and counters.
[[gnu::always_inline]] inline void advance_entry(const Snapshot& s, CtEntry& e, const FlowKey& k,
                                                 bool reply, std::uint32_t tick) noexcept {
    e.state = advance(e.state, k, reply);
    e.expires = tick + s.ct_timeout[static_cast<std::size_t>(e.state)];
    ++e.packets[reply ? 1 : 0];
}

// Conntrack for the stateful sides: one bulk lookup; settles those a live connection passes,
// re-checks connections allowed under older rules (and forgets those the rules now deny).
// True when it settled every side of the burst alone (then there is nothing left to classify
// or commit).
bool track(Worker& w, const Snapshot& s, std::uint32_t tick, EstablishedTally& tally) noexcept {
    ConnTable* ct = w.conntrack.load(std::memory_order_relaxed);
    FilterScratch& f = w.filter;
    if (ct == nullptr) return false;  // no stateful firewall yet: nothing is tracked
    std::uint32_t settled = 0;
    static_assert(std::size_t{2} * kBurstSize <= ConnTable::kBulkMax);
    std::array<const ConnKey*, std::size_t{2} * kBurstSize> keys;  // NOLINT: scratch
    std::array<std::uint16_t, std::size_t{2} * kBurstSize> which;  // NOLINT: scratch
    std::array<std::int32_t, std::size_t{2} * kBurstSize> pos;     // NOLINT: scratch
    std::uint32_t n = 0;
    for (std::uint16_t j = 0; j < f.sides; ++j) {
        FilterScratch::Side& sd = f.side[j];
        if (!sd.fw->stateful) continue;
        make_conn_key(sd.fw->zone, f.key[sd.pkt], f.conn[j], sd.swapped);
        keys[n] = &f.conn[j];
        which[n++] = j;
    }
    if (n == 0) return false;
    ct->lookup(keys.data(), n, pos.data());
    for (std::uint32_t q = 0; q < n; ++q) {
        if (pos[q] < 0) continue;
        FilterScratch::Side& sd = f.side[which[q]];
        sd.pos = pos[q];
        CtEntry& e = ct->at(pos[q]);
        // Expired (or forgotten earlier in this burst): a new connection, for the rules.
        if ((e.flags & CtEntry::kInUse) == 0 || ct_expired(e.expires, tick)) continue;
        if (e.state == CtState::kDenied) {
            // A denial remembered for this side, direction and rules; else the rules decide
            // (and the entry is overwritten with their verdict).
            const Dir d = (e.flags & CtEntry::kEgress) != 0 ? kEgress : kIngress;
            if (e.epoch != sd.fw->epoch || d != sd.dir ||
                sd.swapped != ((e.flags & CtEntry::kOrigSwapped) != 0)) {
                continue;
            }
            e.expires = tick + s.ct_timeout[static_cast<std::size_t>(CtState::kDenied)];
            ++e.packets[0];
            count_match(w, sd.fw->dir[d], e.rule);
            sd.match = e.rule;
            sd.decided = true;
            sd.remembered = true;
            if (sd.sole) {
                drop(w.burst.step[sd.pkt], DropReason::kFirewall);
                sd.final = true;
                ++settled;
            }
            continue;
        }
        const FlowKey& k = f.key[sd.pkt];
        const bool reply = sd.swapped != ((e.flags & CtEntry::kOrigSwapped) != 0);
        if (e.epoch != sd.fw->epoch) {
            // Allowed under rules since replaced: still allowed by the current ones?
            const Dir d = (e.flags & CtEntry::kEgress) != 0 ? kEgress : kIngress;
            const RuleSet& rs = sd.fw->dir[d];
            const std::uint32_t m = rs.match(reply ? originator_of(k) : k);
            count_match(w, rs, m);
            if (rs.action(m) != config::Action::kAllow) {
                ct->erase(pos[q]);
                w.ct.revoked.add(1);
                w.ct.publish(*ct);
                sd.pos = -1;
                sd.decided = true;
                sd.allow = false;
                continue;
            }
            e.epoch = sd.fw->epoch;
            e.rule = m;
        }
        if (!passes(e.state, k)) continue;  // a new SYN on a closed connection: the rules decide
        sd.decided = true;
        sd.allow = true;
        sd.established = true;
        if (sd.sole) {
            // Nothing else decides this packet: advance the connection now, while its entry
            // is in cache, rather than in a later pass.
            tally.add(w, sd.fw->dir[sd.dir]);
            advance_entry(s, e, k, reply, tick);
            sd.final = true;
            ++settled;
        }
    }
    if (settled == f.sides) return true;
    // Packets of one new connection in one burst: the first meets the rules, the others follow
    // it (same connection, same rules, same verdict) and then advance the entry it creates.
    // Only the sides conntrack left open are compared, with each other.
    std::array<std::uint16_t, std::size_t{2} * kBurstSize> open;  // NOLINT: scratch
    std::uint32_t n_open = 0;
    for (std::uint32_t q = 0; q < n; ++q) {
        FilterScratch::Side& sd = f.side[which[q]];
        if (sd.decided) continue;
        for (std::uint32_t p = 0; p < n_open; ++p) {
            const FilterScratch::Side& l = f.side[open[p]];
            if (l.fw != sd.fw || !(f.conn[open[p]] == f.conn[which[q]])) continue;
            sd.leader = static_cast<std::int16_t>(open[p]);
            sd.decided = true;
            break;
        }
        if (!sd.decided) open[n_open++] = which[q];
    }
    return false;
}

// rte_acl for the sides conntrack didn't settle, a batch per (rule set, IP version).
void classify(Worker& w) noexcept {
    FilterScratch& f = w.filter;
    std::array<bool, std::size_t{2} * kBurstSize> done;  // NOLINT: scratch
    for (std::uint16_t j = 0; j < f.sides; ++j) done[j] = f.side[j].decided;
    std::array<const std::uint8_t*, std::size_t{2} * kBurstSize> keys;  // NOLINT: scratch
    std::array<std::uint16_t, std::size_t{2} * kBurstSize> which;       // NOLINT: scratch
    std::array<std::uint32_t, std::size_t{2} * kBurstSize> out;         // NOLINT: scratch
    for (std::uint16_t j = 0; j < f.sides; ++j) {
        if (done[j]) continue;
        const RuleSet& rs = f.side[j].fw->dir[f.side[j].dir];
        const std::uint8_t family = f.key[f.side[j].pkt].family;
        std::uint32_t n = 0;
        for (std::uint16_t q = j; q < f.sides; ++q) {
            const FilterScratch::Side& sd = f.side[q];
            if (done[q] || &sd.fw->dir[sd.dir] != &rs || f.key[sd.pkt].family != family) continue;
            acl::fill_key(f.key[sd.pkt], f.acl_key[q]);
            keys[n] = f.acl_key[q].data();
            which[n++] = q;
            done[q] = true;
        }
        rs.match(family, keys.data(), out.data(), n);
        for (std::uint32_t q = 0; q < n; ++q) {
            FilterScratch::Side& sd = f.side[which[q]];
            sd.match = out[q];
            sd.allow = rs.action(out[q]) == config::Action::kAllow;
            count_match(w, rs, out[q]);
        }
    }
    for (std::uint16_t j = 0; j < f.sides; ++j) {
        FilterScratch::Side& sd = f.side[j];
        if (sd.leader < 0) continue;
        sd.match = f.side[sd.leader].match;
        sd.allow = f.side[sd.leader].allow;
        if (!sd.allow) count_match(w, sd.fw->dir[sd.dir], sd.match);
    }
}

// A side that allowed a packet that passes: advance its connection, or record a new one.
// False when the new connection finds the table full.
bool commit(Worker& w, const Snapshot& s, FilterScratch::Side& sd, std::uint16_t j,
            std::uint32_t tick, EstablishedTally& tally) noexcept {
    FilterScratch& f = w.filter;
    const RuleSet& rs = sd.fw->dir[sd.dir];
    const FlowKey& k = f.key[sd.pkt];
    ConnTable* ct = w.conntrack.load(std::memory_order_relaxed);
    if (sd.final) return true;
    if (sd.leader >= 0) {
        if (f.side[sd.leader].pos >= 0) {
            sd.pos = f.side[sd.leader].pos;  // the entry its leader created (or renewed) just now
            sd.established = passes(ct->at(sd.pos).state, k);
        }
        if (!sd.established) count_match(w, rs, sd.match);  // a new connection again
    }
    if (sd.established) {
        tally.add(w, rs);
        CtEntry& e = ct->at(sd.pos);
        advance_entry(s, e, k, sd.swapped != ((e.flags & CtEntry::kOrigSwapped) != 0), tick);
        return true;
    }
    if (!sd.fw->stateful || ct == nullptr) return true;
    bool fresh = false;
    const std::int32_t pos = ct->insert(f.conn[j], fresh);
    sd.pos = pos;
    if (pos < 0) {
        w.ct.full.add(1);
        return false;
    }
    CtEntry& e = ct->at(pos);
    ct->set_state(e, initial_state(k));
    e.expires = tick + s.ct_timeout[static_cast<std::size_t>(e.state)];
    e.packets = {1, 0};
    e.epoch = sd.fw->epoch;
    e.rule = sd.match;
    e.flags = static_cast<std::uint8_t>(CtEntry::kInUse | (sd.swapped ? CtEntry::kOrigSwapped : 0) |
                                        (sd.dir == kEgress ? CtEntry::kEgress : 0));
    w.ct.created.add(1);
    w.ct.publish(*ct);
    return true;
}

// A stateful side whose rules denied a packet: remember it for the flow's next packets (same
// side, direction and rules), unless it is ICMP (whose rules match fields that the connection
// key lacks: type and code) or denials already fill their share of the table.
void remember_denial(Worker& w, const Snapshot& s, const FilterScratch::Side& sd, std::uint16_t j,
                     std::uint32_t tick) noexcept {
    // Only sides the rules themselves just denied (not conntrack, not a follower).
    if (sd.allow || sd.decided || !sd.fw->stateful) return;
    const std::uint32_t timeout = s.ct_timeout[static_cast<std::size_t>(CtState::kDenied)];
    const FlowKey& k = w.filter.key[sd.pkt];
    ConnTable* ct = w.conntrack.load(std::memory_order_relaxed);
    if (timeout == 0 || ct == nullptr || k.proto == kIpProtoIcmp || k.proto == kIpProtoIcmpv6 ||
        ct->denied() >= ct->denied_limit()) {
        return;
    }
    bool fresh = false;
    const std::int32_t pos = ct->insert(w.filter.conn[j], fresh);
    if (pos < 0) return;
    CtEntry& e = ct->at(pos);
    ct->set_state(e, CtState::kDenied);
    e.expires = tick + timeout;
    e.packets = {1, 0};
    e.epoch = sd.fw->epoch;
    e.rule = sd.match;
    e.flags = static_cast<std::uint8_t>(CtEntry::kInUse | (sd.swapped ? CtEntry::kOrigSwapped : 0) |
                                        (sd.dir == kEgress ? CtEntry::kEgress : 0));
    w.ct.publish(*ct);
}

// Each packet passes when all its sides allow (sides are in packet order): the allowing sides
// advance or record their connections; else it is dropped and the denying sides remember it.
void apply_verdicts(Worker& w, const Snapshot& s, std::uint32_t tick,
                    EstablishedTally& tally) noexcept {
    FilterScratch& f = w.filter;
    for (std::uint16_t j = 0; j < f.sides;) {
        const std::uint16_t pkt = f.side[j].pkt;
        std::uint16_t end = j;
        bool allow = true;
        while (end < f.sides && f.side[end].pkt == pkt) allow &= f.side[end++].allow;
        Step& st = w.burst.step[pkt];
        if (!allow) {
            drop(st, DropReason::kFirewall);
            for (std::uint16_t q = j; q < end; ++q) remember_denial(w, s, f.side[q], q, tick);
        } else {
            for (std::uint16_t q = j; q < end; ++q) {
                if (!commit(w, s, f.side[q], q, tick, tally)) {
                    drop(st, DropReason::kConntrackFull);
                    break;
                }
            }
        }
        j = end;
    }
}

}  // namespace

void filter(Worker& w, const Snapshot& s, std::uint64_t now) noexcept {
    Burst& b = w.burst;
    FilterScratch& f = w.filter;
    const bool from_guest = s.table.port(b.in).role == PortRole::kGuest;
    const NicFirewall* egress = s.firewall[index(b.in)].get();
    const GuestIdentity& ids = s.identity[index(b.in)];
    f.sides = 0;
    bool later_fragments = false, first_fragments = false;
    for (std::uint16_t i = 0; i < b.count; ++i) {
        f.cls[i] = PacketClass::kUnchecked;
        Step& st = b.step[i];
        if (st.verdict == Verdict::kDrop) continue;
        const NicFirewall* ingress =
            st.verdict == Verdict::kUnicast ? s.firewall[index(st.out)].get() : nullptr;
        const bool flood_rules = st.verdict == Verdict::kFlood && s.domain_filtered[st.domain];
        const bool rules = egress != nullptr || ingress != nullptr || flood_rules;
        // Headers are parsed only where a check needs them: rules on the way, or a guest's
        // anti-spoofing (ARP always; IPv6 for neighbour discovery; IP sources with addresses).
        const std::uint16_t type = b.meta[i].ethertype;
        const bool spoof_check = from_guest && (type != kEtherIpv4 || ids.check_ip);
        if (!rules && !spoof_check) continue;
        if (!inspect(w, s, i, from_guest)) continue;
        if (!rules) {
            f.cls[i] = PacketClass::kUnchecked;
            continue;
        }
        if (f.cls[i] == PacketClass::kLaterFragment) later_fragments = true;
        if (f.cls[i] != PacketClass::kRules) continue;
        first_fragments |= f.key[i].fragment;
        const std::uint16_t first = f.sides;
        if (egress != nullptr) add_side(f, i, egress, kEgress);
        if (ingress != nullptr) add_side(f, i, ingress, kIngress);
        f.side[first].sole = f.sides == first + 1;
    }
    if (f.sides != 0) {
        const ConnTable* ct = w.conntrack.load(std::memory_order_relaxed);
        const std::uint32_t tick = ct != nullptr ? ct->ticks(now) : 0;
        EstablishedTally tally;
        if (!track(w, s, tick, tally)) {
            classify(w);
            apply_verdicts(w, s, tick, tally);
        }
        tally.flush(w);
    }
    for (std::uint16_t i = 0; first_fragments && i < b.count; ++i) {
        // First fragments that passed make their later fragments welcome.
        if (f.cls[i] == PacketClass::kRules && f.key[i].fragment &&
            b.step[i].verdict != Verdict::kDrop) {
            w.fragments.remember(f.key[i], now, s.fragment_lifetime);
        }
    }
    if (!later_fragments) return;
    for (std::uint16_t i = 0; i < b.count; ++i) {
        if (f.cls[i] == PacketClass::kLaterFragment && b.step[i].verdict != Verdict::kDrop &&
            !w.fragments.known(f.key[i], now)) {
            drop(b.step[i], DropReason::kFragment);
        }
    }
}

bool admits_copy(Worker& w, const Snapshot& s, std::uint16_t pkt, PortIdx to) noexcept {
    const NicFirewall* fw = s.firewall[index(to)].get();
    if (fw == nullptr || w.filter.cls[pkt] != PacketClass::kRules) return true;
    const RuleSet& rs = fw->dir[kIngress];
    const std::uint32_t m = rs.match(w.filter.key[pkt]);
    count_match(w, rs, m);
    return rs.action(m) == config::Action::kAllow;
}

}  // namespace vfgate::dataplane
