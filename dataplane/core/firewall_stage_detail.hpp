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

// A packet of a known connection that passes: the connection's state, expiry and counters.
// `tcp` and `flags` as advance() takes them.
[[gnu::always_inline]] inline void advance_entry(const FirewallTables& fw, CtEntry& e, bool tcp,
                                                 std::uint8_t flags, bool reply,
                                                 std::uint32_t tick) noexcept {
    e.state = advance(e.state, tcp, flags, reply);
    e.expires = tick + timeout_of(fw, e.state);
    ++e.packets[reply ? 1 : 0];
}
[[gnu::always_inline]] inline void advance_entry(const FirewallTables& fw, CtEntry& e,
                                                 const FlowKey& k, bool reply,
                                                 std::uint32_t tick) noexcept {
    advance_entry(fw, e, is_tracked_tcp(k), k.tcp_flags, reply, tick);
}

inline Dir dir_of(const CtEntry& e) noexcept {
    return (e.flags & CtEntry::kEgress) != 0 ? kEgress : kIngress;
}
inline bool orig_swapped(const CtEntry& e) noexcept {
    return (e.flags & CtEntry::kOrigSwapped) != 0;
}

}  // namespace vfgate::dataplane::firewall_detail
