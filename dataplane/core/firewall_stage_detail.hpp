#pragma once
// The firewall stage's helpers, shared by its two files: firewall_stage.cpp (the packets' way in
// and the established path) and firewall_general.cpp (the general path). Not for other users.

#include <span>

#include "burst.hpp"
#include "conn_table.hpp"
#include "firewall_stage.hpp"

namespace vfgate::dataplane::firewall_detail {

inline void drop(Step& st, DropReason r) noexcept {
    st.verdict = Verdict::kDrop;
    st.reason = r;
}

inline std::span<const std::byte> l3_of(std::span<const std::byte> frame,
                                        const L2Meta& meta) noexcept {
    const std::uint32_t off = kEtherHeaderLen + (meta.tagged ? kVlanTagLen : 0);
    return off <= frame.size() ? frame.subspan(off) : std::span<const std::byte>();
}

inline std::uint32_t timeout_of(const FirewallTables& fw, CtState s) noexcept {
    return fw.ct_timeout[static_cast<std::size_t>(s)];
}

inline Dir dir_of(const CtEntry& e) noexcept {
    return (e.flags & CtEntry::kEgress) != 0 ? kEgress : kIngress;
}
inline bool orig_swapped(const CtEntry& e) noexcept {
    return (e.flags & CtEntry::kOrigSwapped) != 0;
}
// The flags of a live entry made by a packet of orientation `swapped` (conn_key's) on side `dir`.
constexpr std::uint8_t entry_flags(bool swapped, Dir dir) noexcept {
    return static_cast<std::uint8_t>(CtEntry::kInUse | (swapped ? CtEntry::kOrigSwapped : 0) |
                                     (dir == kEgress ? CtEntry::kEgress : 0));
}
// The other orientation on the other side: a reply's, for an entry its originator's flags made.
constexpr std::uint8_t kReplyFlags = CtEntry::kOrigSwapped | CtEntry::kEgress;

// A packet of connection `e` met on side `dir`, `reply` or not, that no real peer sends: the
// originator's packets come in on the side that allowed the connection, replies on the other.
// One the other way round (a reply's addresses arriving where the originator's do) is forged.
inline bool misdirected(const CtEntry& e, Dir dir, bool reply) noexcept {
    return (dir_of(e) == dir) == reply;
}

}  // namespace vfgate::dataplane::firewall_detail

namespace vfgate::dataplane {

// The established path (settle()) and the general path (track(), commit()) treat a packet of a
// known connection alike:

// A packet its connection passes: counted as established (rule set `rs`), and the connection's
// state, expiry and counters advanced. `tcp` and `flags` as advance() takes them.
[[gnu::always_inline]] inline void FirewallStage::pass_established(const FirewallTables& fw,
                                                                   const RuleSet& rs, CtEntry& e,
                                                                   bool tcp, std::uint8_t flags,
                                                                   bool reply,
                                                                   std::uint32_t tick) noexcept {
    tally(rs);
    e.state = advance(e.state, tcp, flags, reply);
    e.expires = tick + firewall_detail::timeout_of(fw, e.state);
    ++e.packets[reply ? 1 : 0];
}

// A packet of a flow whose denial `e` remembers: the entry renewed and the denying rule's hit
// counted (in `rs`); the caller drops the packet.
[[gnu::always_inline]] inline void FirewallStage::renew_denial(const FirewallTables& fw,
                                                               const RuleSet& rs, CtEntry& e,
                                                               std::uint32_t tick) noexcept {
    e.expires = tick + firewall_detail::timeout_of(fw, CtState::kDenied);
    ++e.packets[0];
    count_match(rs, e.rule);
}

}  // namespace vfgate::dataplane
