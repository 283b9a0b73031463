#include "firewall_stage.hpp"

#include <algorithm>
#include <span>

#include "firewall_stage_detail.hpp"

namespace vfgate::dataplane {
namespace {

using namespace firewall_detail;

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

// The established path's plain candidates, whose keys are made straight from their IP headers,
// are unicast IPv4 packets that need no anti-spoofing (the caller's to know), with one firewall
// that has its table here (has_table) and a plain TCP or UDP header (plain_l3). plain_candidates
// and process()'s general loop both ask these.
bool has_table(const NicFirewall& fw, bool tracked, bool caching) noexcept {
    return fw.stateful ? tracked : caching;  // a connection table, or the verdict cache
}

// IPv4 packet `i`'s IP header if it is plain TCP or UDP (is_plain_ipv4_l4), else empty.
[[gnu::always_inline]] inline std::span<const std::byte> plain_l3(const Burst& b,
                                                                  std::uint16_t i) noexcept {
    const auto l3 = l3_of(b.frame[i], b.meta[i]);
    return is_plain_ipv4_l4(l3) ? l3 : std::span<const std::byte>();
}

// The identity of receiver `to` when it has IPv4 addresses (a plain packet from one is forged).
[[gnu::always_inline]] inline const GuestIdentity* own_checked(const FirewallTables& fw,
                                                               PortIdx to) noexcept {
    const GuestIdentity& id = fw.identity[index(to)];
    return id.check_ip && id.n4 != 0 ? &id : nullptr;
}

// Whether plain IPv4 packet `l3` comes from one of `to`'s own addresses.
[[gnu::always_inline]] inline bool forged_to(const GuestIdentity& to,
                                             std::span<const std::byte> l3) noexcept {
    return is_own_address(to, 4, reinterpret_cast<const std::uint8_t*>(l3.data()) + 12);
}

}  // namespace

// Parses and applies anti-spoofing (the sender's identity `id`); sets the packet's class. False
// if the packet was dropped.
[[gnu::always_inline]] inline bool FirewallStage::inspect(Burst& b, const GuestIdentity& id,
                                                          std::uint16_t i,
                                                          bool from_guest) noexcept {
    Step& st = b.step[i];
    const L2Meta& m = b.meta[i];
    const auto l3 = l3_of(b.frame[i], m);
    if (m.ethertype == kEtherArp) {
        if (from_guest) {
            if (auto r = check_arp(id, l3); r != SpoofResult::kOk) {
                drop(st, reason_of(r));
                return false;
            }
        }
        cls_[i] = PacketClass::kBypass;
        return true;
    }
    FlowKey& k = key_[i];
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
        cls_[i] = PacketClass::kBypass;
    } else {
        cls_[i] = r == L3Result::kLaterFragment ? PacketClass::kLaterFragment : PacketClass::kRules;
    }
    return true;
}

[[gnu::always_inline]] inline void FirewallStage::add_side(std::uint16_t pkt, const NicFirewall* fw,
                                                           Dir dir, bool tracked) noexcept {
    const std::uint16_t j = sides_++;
    side_[j] = Side{.fw = fw, .pkt = pkt, .dir = dir};
    if (tracked && fw->stateful) {
        // Its connection key now, while the packet's flow key is at hand.
        make_conn_key(fw->zone, key_[pkt], conn_[j], side_[j].swapped);
        lookup_side_[lookups_++] = j;
    }
}

[[gnu::always_inline]] inline FirewallStage::Candidate& FirewallStage::add_candidate(
    std::uint16_t c, std::uint16_t i, const NicFirewall* fw, Dir dir) noexcept {
    Candidate& cd = cand_[c];
    cd.fw = fw;
    cd.pkt = i;
    cd.dir = dir;
    cd.cached = !fw->stateful;  // a stateless firewall's candidate asks the verdict cache
    return cd;
}

// Plain packet `i` (is_plain_ipv4_l4(l3)) as candidate `c` of `fw`: its key (a connection's,
// or the verdict cache's for a stateless firewall) made and hashed straight from its IP header.
[[gnu::always_inline]] inline void FirewallStage::add_plain_candidate(
    std::uint16_t c, std::uint16_t i, const NicFirewall* fw, Dir dir,
    std::span<const std::byte> l3) noexcept {
    Candidate& cd = add_candidate(c, i, fw, dir);
    const auto* ip = reinterpret_cast<const std::uint8_t*>(l3.data());
    cls_[i] = PacketClass::kPlain;
    if (cd.cached) {
        vkey_[c] = make_verdict_key(ip, fw->zone, fw->epoch, static_cast<std::uint8_t>(dir));
        cd.hash = VerdictCache::hash(vkey_[c]);
        return;
    }
    cd.tcp = ip[9] == kIpProtoTcp;
    cd.tcp_flags = cd.tcp ? ip[33] : 0;
    bool swapped = false;
    const auto w = make_conn_key_ipv4(fw->zone, l3.data(), cand_key_[c], swapped);
    cd.orig_flags = entry_flags(swapped, dir);
    cd.hash = ConnTable::hash_ipv4(w[0], w[1]);
}

void FirewallStage::complete(const Burst& b, std::uint16_t i) noexcept {
    if (cls_[i] != PacketClass::kPlain) return;
    // kOk: it is plain. The general parser (the same key), so that parse_l3l4 stays inline in
    // inspect().
    (void)parse_l3l4_general(kEtherIpv4, l3_of(b.frame[i], b.meta[i]), key_[i]);
    cls_[i] = PacketClass::kRules;
}

// Packet `i`'s sides (its flow key made): the sender's egress first, then the receiver's ingress.
[[gnu::always_inline]] inline void FirewallStage::add_sides(std::uint16_t i,
                                                            const NicFirewall* egress,
                                                            const NicFirewall* ingress,
                                                            bool tracked) noexcept {
    const std::uint16_t first = sides_;
    if (egress != nullptr) add_side(i, egress, kEgress, tracked);
    if (ingress != nullptr) add_side(i, ingress, kIngress, tracked);
    side_[first].sole = sides_ == first + 1;
}

void FirewallStage::add_candidate_side(const Burst& b, std::uint16_t c, std::int32_t pos) noexcept {
    const Candidate& cd = cand_[c];
    complete(b, cd.pkt);
    const std::uint16_t j = sides_++;
    side_[j] = Side{.fw = cd.fw,
                    .pkt = cd.pkt,
                    .dir = cd.dir,
                    .swapped = (cd.orig_flags & CtEntry::kOrigSwapped) != 0,
                    .sole = true,
                    .looked_up = true,
                    .pos = pos};
    conn_[j] = cand_key_[c];
    lookup_side_[lookups_++] = j;
}

void FirewallStage::add_uncached_side(const Burst& b, std::uint16_t c) noexcept {
    const Candidate& cd = cand_[c];
    complete(b, cd.pkt);
    const std::uint16_t j = sides_++;
    // Its packet's sole side, not decided, no connection: the classifier decides it.
    side_[j] = Side{.fw = cd.fw, .pkt = cd.pkt, .dir = cd.dir, .sole = true};
    fill_side_[fills_] = j;
    fill_cand_[fills_++] = c;
}

void FirewallStage::fill_cache(VerdictCache& cache) noexcept {
    for (std::uint16_t f = 0; f < fills_; ++f) {
        const std::uint16_t c = fill_cand_[f];
        cache.learn(cand_[c].hash, vkey_[c], side_[fill_side_[f]].match);
    }
}

// A candidate found at `pos`: settled (passed and its connection advanced, or dropped by a
// denial remembered for it) when the entry is live, made under the current rules, and decides
// the packet. False leaves it to the general path (a new connection, rules since replaced, a
// new SYN on a closed connection, a denial remembered the other way, a misdirected packet).
[[gnu::always_inline]] inline bool FirewallStage::settle(Burst& b, const FirewallTables& fw,
                                                         ConnTable& table, const Candidate& c,
                                                         std::int32_t pos,
                                                         std::uint32_t tick) noexcept {
    CtEntry& e = table.at(pos);
    // In use, and the packet its originator's on its side or a reply on the other (one compare
    // each: a forged packet, misdirected(), is neither).
    const bool reply = e.flags == (c.orig_flags ^ kReplyFlags);
    if ((e.flags != c.orig_flags && !reply) || ct_expired(e.expires, tick) ||
        e.epoch != c.fw->epoch) {
        return false;
    }
    const RuleSet& rs = c.fw->dir[c.dir];
    if (e.state == CtState::kDenied) {
        if (reply) return false;  // remembered for the other way
        renew_denial(fw, rs, e, tick);
        drop(b.step[c.pkt], DropReason::kFirewall);
        return true;
    }
    if (!passes(e.state, c.tcp, c.tcp_flags)) return false;
    pass_established(fw, rs, e, c.tcp, c.tcp_flags, reply, tick);
    return true;
}

// The candidates' lookup (their keys were hashed as they were made): buckets, candidates,
// then keys, each step over the whole burst. Fetching each bucket as its key is made measured
// slower at 64k flows (133-137 cycles per packet in the dataplane against 115-132 here), as it
// did for the general path's lookup (docs/firewall.md). A stateless candidate's verdict, when the
// cache has it, is the rule's: counted, and dropped if the rule denies.
void FirewallStage::settle_candidates(Burst& b, const FirewallTables& fw, ConnTable* table,
                                      VerdictCache* cache, std::uint32_t tick) noexcept {
    const std::uint16_t n = cands_;
    for (std::uint16_t c = 0; c < n; ++c) {
        if (cand_[c].cached) {
            cache->prefetch(cand_[c].hash);
        } else {
            table->prefetch_bucket(cand_[c].hash);
        }
    }
    for (std::uint16_t c = 0; c < n; ++c) {
        if (!cand_[c].cached) cand_[c].candidates = table->candidates(cand_[c].hash);
    }
    const std::uint32_t hits = settle_from<false>(b, fw, table, cache, tick, 0);
    if (hits != 0) cached.hits.add(hits);
    if (fills_ != 0) cached.misses.add(fills_);
}

// settle_candidates' last step from candidate `first` on; returns the verdict cache's hits.
// Once a candidate of a connection is left to the general path (a new SYN on a closed
// connection, a denial remembered the other way), that connection's later candidates follow it
// there, so that its packets change its entry in their order: `kAfterLeft`, the loop that
// checks for them (left_), runs from the first such candidate on.
template <bool kAfterLeft>
std::uint32_t FirewallStage::settle_from(Burst& b, const FirewallTables& fw, ConnTable* table,
                                         VerdictCache* cache, std::uint32_t tick,
                                         std::uint16_t first) noexcept {
    const std::uint16_t n = cands_;
    std::uint32_t hits = 0;
    for (std::uint16_t c = first; c < n; ++c) {
        const Candidate& cd = cand_[c];
        if (cd.cached) {
            const std::uint32_t m = cache->find(cd.hash, vkey_[c]);
            if (m == VerdictCache::kMiss) {
                add_uncached_side(b, c);
                continue;
            }
            ++hits;
            const RuleSet& rs = cd.fw->dir[cd.dir];
            count_match(rs, m);
            if (rs.action(m) != config::Action::kAllow) drop(b.step[cd.pkt], DropReason::kFirewall);
            continue;
        }
        const std::int32_t pos = table->resolve(cd.hash, cd.candidates, cand_key_[c]);
        const bool follows =  // an earlier packet of its connection was left to the general path
            kAfterLeft && pos >= 0 &&
            std::find(left_.begin(), left_.begin() + lefts_, pos) != left_.begin() + lefts_;
        if (pos >= 0 && !follows && settle(b, fw, *table, cd, pos, tick)) continue;
        add_candidate_side(b, c, pos);
        if (pos < 0 || follows) continue;  // a new connection, or one left already
        if constexpr (kAfterLeft) {
            left_[lefts_++] = pos;
        } else {
            left_[0] = pos;
            lefts_ = 1;
            return hits + settle_from<true>(b, fw, table, cache, tick, c + 1);
        }
    }
    return hits;
}

// The burst's leading run of plain candidates (has_table, plain_l3), and the dropped packets
// and those with no firewall on their way among them (and those toward a guest from its own
// address: dropped, spoofed_ip). Returns where the run ends; process() goes
// on from there. Apart, this loop is small enough for its state to stay in registers.
std::uint16_t FirewallStage::plain_candidates(Burst& b, const FirewallTables& fw,
                                              const NicFirewall* egress, bool tracked,
                                              bool caching) noexcept {
    const Dir dir = egress != nullptr ? kEgress : kIngress;
    std::uint16_t n = 0;
    std::uint16_t i = 0;
    // The firewall of the last destination: a burst's packets mostly go to one NIC.
    PortIdx last = kNoPort;
    const NicFirewall* sole = nullptr;
    const GuestIdentity* own = nullptr;  // the receiver's, when it has IPv4 addresses to check
    for (; i < b.count; ++i) {
        const Step& st = b.step[i];
        if (st.verdict != Verdict::kUnicast) {
            if (st.verdict != Verdict::kDrop) break;
            cls_[i] = PacketClass::kUnchecked;
            continue;
        }
        if (b.meta[i].ethertype != kEtherIpv4) break;
        if (st.out != last) {
            const NicFirewall* ingress = fw.nic[index(st.out)].get();
            if (ingress != nullptr && egress != nullptr) break;
            sole = egress != nullptr ? egress : ingress;
            if (sole != nullptr && !has_table(*sole, tracked, caching)) break;
            own = ingress != nullptr ? own_checked(fw, st.out) : nullptr;
            last = st.out;
        }
        if (sole == nullptr) {
            cls_[i] = PacketClass::kUnchecked;  // no firewall on its way
            continue;
        }
        const auto l3 = plain_l3(b, i);
        if (l3.empty()) break;
        if (own != nullptr && forged_to(*own, l3)) {
            drop(b.step[i], DropReason::kSpoofedIp);
            cls_[i] = PacketClass::kUnchecked;
            continue;
        }
        add_plain_candidate(n++, i, sole, dir, l3);
    }
    cands_ = n;
    return i;
}

void FirewallStage::process(Burst& b, const SwitchTable& t, const FirewallTables& fw,
                            std::uint64_t now) noexcept {
    const bool from_guest = t.port(b.in).role == PortRole::kGuest;
    // From an uplink only rules are checked: with none anywhere, the burst has nothing to do
    // here (and copy_refused() finds no rules either).
    if (!from_guest && !fw.filtered) return;
    const NicFirewall* egress = fw.nic[index(b.in)].get();
    const GuestIdentity& ids = fw.identity[index(b.in)];
    ConnTable* table = conntrack.load(std::memory_order_relaxed);
    VerdictCache* cache = verdicts.load(std::memory_order_relaxed);
    now_ = now;
    sides_ = 0;
    lookups_ = 0;
    fills_ = 0;
    // Whether the burst takes the general path: once a packet has two sides, every packet gets
    // its sides (each packet's sides adjacent, stateful sides in packet order).
    bool general = false;
    bool later_fragments = false, first_fragments = false;
    std::uint16_t i = 0;
    cands_ = 0;
    if (!(from_guest && ids.check_ip)) {
        i = plain_candidates(b, fw, egress, table != nullptr, cache != nullptr);
    }
    std::uint16_t n = cands_;  // candidates (cands_ once they are all in)
    for (; i < b.count; ++i) {
        cls_[i] = PacketClass::kUnchecked;
        Step& st = b.step[i];
        if (st.verdict == Verdict::kDrop) continue;
        const NicFirewall* ingress =
            st.verdict == Verdict::kUnicast ? fw.nic[index(st.out)].get() : nullptr;
        const bool flood_rules = st.verdict == Verdict::kFlood && fw.domain_filtered[st.domain];
        const bool rules = egress != nullptr || ingress != nullptr || flood_rules;
        // Headers are parsed only where a check needs them: rules on the way, or a guest's
        // anti-spoofing (ARP always; IPv6 for neighbour discovery; IP sources with addresses).
        const std::uint16_t type = b.meta[i].ethertype;
        const bool spoof_check = from_guest && (type != kEtherIpv4 || ids.check_ip);
        if (!rules && !spoof_check) continue;
        // One side: a candidate for the established path, when its firewall has its table here
        // (a stateful one's connection key, or a stateless one's verdict key, is made and hashed
        // now). A plain IPv4 TCP or UDP packet that needs no anti-spoofing gets it straight from
        // its header: its flow key waits until the general path needs it.
        const NicFirewall* sole = egress == nullptr    ? ingress
                                  : ingress == nullptr ? egress
                                                       : nullptr;
        const bool candidate = table != nullptr && sole != nullptr && sole->stateful;
        const Dir dir = egress != nullptr ? kEgress : kIngress;
        if (!general && !spoof_check && type == kEtherIpv4 && st.verdict == Verdict::kUnicast &&
            sole != nullptr && has_table(*sole, table != nullptr, cache != nullptr)) {
            if (const auto l3 = plain_l3(b, i); !l3.empty()) {
                if (const GuestIdentity* own =
                        ingress != nullptr ? own_checked(fw, st.out) : nullptr;
                    own != nullptr && forged_to(*own, l3)) {
                    drop(st, DropReason::kSpoofedIp);
                    continue;
                }
                add_plain_candidate(n++, i, sole, dir, l3);
                continue;
            }
        }
        if (!inspect(b, ids, i, from_guest)) continue;
        if (ingress != nullptr && b.meta[i].ethertype != kEtherArp &&
            is_own_address(fw.identity[index(st.out)], key_[i].family, key_[i].src.data())) {
            drop(st, DropReason::kSpoofedIp);  // toward a guest from its own address: forged
            cls_[i] = PacketClass::kUnchecked;
            continue;
        }
        if (!rules) {
            cls_[i] = PacketClass::kUnchecked;
            continue;
        }
        if (cls_[i] == PacketClass::kLaterFragment) later_fragments = true;
        if (cls_[i] != PacketClass::kRules) continue;
        first_fragments |= key_[i].fragment;
        if (egress == nullptr && ingress == nullptr) continue;  // a flood: copy_refused() asks
        if (candidate && !general) {
            Candidate& cd = add_candidate(n, i, sole, dir);
            cd.tcp = is_tracked_tcp(key_[i]);
            cd.tcp_flags = key_[i].tcp_flags;
            bool swapped = false;
            make_conn_key(sole->zone, key_[i], cand_key_[n], swapped);
            cd.orig_flags = entry_flags(swapped, dir);
            cd.hash = ConnTable::hash_of(cand_key_[n++]);
            continue;
        }
        if (!general && sole != nullptr && !sole->stateful) {
            // One stateless side (ICMP, IPv6, ...): no connection, so no order to keep with the
            // candidates' sides; the burst stays on the established path.
            add_sides(i, egress, ingress, false);
            continue;
        }
        if (!general) {
            // The earlier packets' sides first, then this one's.
            general = true;
            for (std::uint16_t c = 0; c < n; ++c) {
                // A candidate's one side is the sender's egress or the receiver's ingress.
                const Candidate& cd = cand_[c];
                complete(b, cd.pkt);
                add_sides(cd.pkt, cd.dir == kEgress ? cd.fw : nullptr,
                          cd.dir == kIngress ? cd.fw : nullptr, true);
            }
            n = 0;
        }
        add_sides(i, egress, ingress, table != nullptr);
    }
    cands_ = n;
    if (cands_ != 0 || sides_ != 0) {
        const std::uint32_t tick = table != nullptr ? table->ticks(now) : 0;
        // Every packet has one side (the common case: traffic between an uplink and guests with
        // firewalls): live connections and cached verdicts settle most in one lookup, the others
        // become sides.
        if (cands_ != 0) settle_candidates(b, fw, table, cache, tick);
        if (sides_ != 0 && !track(b, fw, table, tick)) {
            classify();
            if (fills_ != 0 && cache != nullptr) fill_cache(*cache);
            apply_verdicts(b, fw, table, tick);
        }
        flush_tally();
    }
    if (!first_fragments && !later_fragments) return;
    // In packet order, as if one at a time: a first fragment that passed makes the later
    // fragments after it welcome; a later fragment before it (even in this burst) is unknown.
    for (i = 0; i < b.count; ++i) {
        if (b.step[i].verdict == Verdict::kDrop) continue;
        if (cls_[i] == PacketClass::kRules && key_[i].fragment) {
            fragments_.remember(key_[i], now, fw.fragment_lifetime);
        } else if (cls_[i] == PacketClass::kLaterFragment && !fragments_.known(key_[i], now)) {
            drop(b.step[i], DropReason::kFragment);
        }
    }
}

std::optional<DropReason> FirewallStage::copy_refused(std::uint16_t pkt, PortIdx to,
                                                      const FirewallTables& fw) noexcept {
    const NicFirewall* nic = fw.nic[index(to)].get();
    if (nic == nullptr) return std::nullopt;
    const auto receiver = static_cast<std::uint16_t>(index(to));
    if (cls_[pkt] == PacketClass::kLaterFragment) {
        // It follows its first fragment's copy to this guest, not the first fragment as such.
        if (fragments_.known(key_[pkt], now_, receiver)) return std::nullopt;
        return DropReason::kFragment;
    }
    if (cls_[pkt] != PacketClass::kRules) return std::nullopt;
    const RuleSet& rs = nic->dir[kIngress];
    const std::uint32_t m = rs.match(key_[pkt]);
    count_match(rs, m);
    if (rs.action(m) != config::Action::kAllow) return DropReason::kFirewall;
    if (key_[pkt].fragment) fragments_.remember(key_[pkt], now_, fw.fragment_lifetime, receiver);
    return std::nullopt;
}

}  // namespace vfgate::dataplane
