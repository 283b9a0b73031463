#pragma once
// Connection tracking logic (config-v1 "Stateful"): the canonical key of a connection, its
// state machine, and its timeouts. Pure C++; the per-worker, fixed-capacity table that stores
// entries is conn_table.hpp. Hot-path safe: no allocation, no exceptions.
//
// A connection is keyed by zone (the guest NIC whose firewall allowed it), IP version, protocol,
// and its two endpoints in a canonical order, so that both directions find one entry; the
// packet's direction relative to the connection's originator comes back as `reply`.
// Tracked: TCP (SYN, established, FIN from one or both sides, RST), UDP (replied or not),
// ICMP/ICMPv6 echo (by identifier). Other protocols: like UDP, without ports.

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#include <vfgate/config/config.hpp>

#include "l3l4.hpp"

namespace vfgate::dataplane {

struct ConnKey {
    std::uint16_t zone = 0;
    std::uint8_t family = 0;
    std::uint8_t proto = 0;
    std::uint16_t port_a = 0, port_b = 0;  // endpoint a is the lower (address, port)
    // The endpoints' addresses, a then b: IPv4 in bytes 0-7 (the rest zero), so that an IPv4
    // key is hashed and compared as its first 16 bytes; IPv6 in all 32.
    std::array<std::uint8_t, 32> addrs{};

    std::array<std::uint8_t, 16> addr_a() const noexcept { return addr(0); }
    std::array<std::uint8_t, 16> addr_b() const noexcept { return addr(family == 6 ? 16 : 4); }
    bool operator==(const ConnKey&) const = default;

  private:
    std::array<std::uint8_t, 16> addr(std::size_t at) const noexcept {
        std::array<std::uint8_t, 16> out{};
        std::memcpy(out.data(), addrs.data() + at, family == 6 ? 16 : 4);
        return out;
    }
};
static_assert(sizeof(ConnKey) == 40, "ConnKey is hashed and compared as raw bytes: no padding");

namespace conn_key_detail {

// The ports as the key's bytes 4-7 hold them, endpoint a's first: a 32-bit word that the
// canonical order picks whole (choosing 16-bit halves, the compiler spilled one to the stack and
// read it back 8 bytes wide, which stalled store forwarding on every packet).
constexpr std::uint32_t ports_word(std::uint16_t pa, std::uint16_t pb) noexcept {
    return std::endian::native == std::endian::little ? std::uint32_t{pa} | std::uint32_t{pb} << 16
                                                      : std::uint32_t{pa} << 16 | std::uint32_t{pb};
}

// The key's first word: zone, family, protocol and ports (ports_word), in memory order.
inline std::uint64_t head(std::uint32_t zone, std::uint8_t family, std::uint8_t proto,
                          std::uint32_t ports) noexcept {
    if constexpr (std::endian::native == std::endian::little) {
        return std::uint64_t{zone} | std::uint64_t{family} << 16 | std::uint64_t{proto} << 24 |
               std::uint64_t{ports} << 32;
    } else {
        ConnKey h;
        h.zone = static_cast<std::uint16_t>(zone);
        h.family = family;
        h.proto = proto;
        std::uint64_t w = 0;
        std::memcpy(&w, &h, sizeof w);
        return w | ports;
    }
}

// Each word written with one store: the table hashes the key as 8-byte words right after, and
// narrower stores that a wider load spans stall store forwarding until they retire.
inline void store(ConnKey& c, std::uint64_t w0, std::uint64_t w1, std::uint64_t w2,
                  std::uint64_t w3, std::uint64_t w4) noexcept {
    auto* out = reinterpret_cast<std::byte*>(&c);
    std::memcpy(out, &w0, sizeof w0);
    std::memcpy(out + 8, &w1, sizeof w1);
    std::memcpy(out + 16, &w2, sizeof w2);
    std::memcpy(out + 24, &w3, sizeof w3);
    std::memcpy(out + 32, &w4, sizeof w4);
}

// An IPv4 key from its fields: `addrs` the source and destination addresses as the 8 bytes of an
// IP header hold them (one load), `ports` as ports_word(sport, dport). Returns its two
// significant words, the rest being zero. The other order of each word is a rotation of it, and
// the canonical one is picked with one 64-bit comparison of (address, port) per endpoint and no
// branch: which endpoint is lower is as random as the addresses (bench/README.md, "Sources on
// both sides").
inline std::array<std::uint64_t, 2> ipv4(std::uint32_t zone, std::uint8_t proto,
                                         std::uint64_t addrs, std::uint32_t ports,
                                         bool& swapped) noexcept {
    constexpr bool kLittle = std::endian::native == std::endian::little;
    // Both addresses as numbers, the source's in the high half; each with its port below.
    const std::uint64_t numeric = kLittle ? __builtin_bswap64(addrs) : addrs;
    const std::uint32_t sport = kLittle ? ports & 0xffffU : ports >> 16;
    const std::uint32_t dport = kLittle ? ports >> 16 : ports & 0xffffU;
    const std::uint64_t src = (numeric & 0xffffffff00000000ULL) | sport;
    const std::uint64_t dst = (numeric << 32) | dport;
    swapped = src > dst;
    return {head(zone, 4, proto, swapped ? std::rotl(ports, 16) : ports),
            swapped ? std::rotl(addrs, 32) : addrs};
}

}  // namespace conn_key_detail

// The canonical key of `k`'s connection, written into `c` (in place: the hot path reads it
// right away). `swapped` is true when `k` runs from endpoint b to a; the table stores which
// way the originator's packets run, so a packet is a reply when its `swapped` differs from the
// originator's.
inline void make_conn_key(std::uint32_t zone, const FlowKey& k, ConnKey& c,
                          bool& swapped) noexcept {
    const bool ports = k.has_ports || k.is_icmp;
    const std::uint16_t sport = ports ? k.sport : 0;
    const std::uint16_t dport = ports ? k.dport : 0;
    if (k.family != 6) {
        std::uint64_t addrs = 0;  // source then destination, as an IP header holds them
        std::memcpy(&addrs, k.src.data(), 4);
        std::memcpy(reinterpret_cast<std::byte*>(&addrs) + 4, k.dst.data(), 4);
        const auto w = conn_key_detail::ipv4(zone, k.proto, addrs,
                                             conn_key_detail::ports_word(sport, dport), swapped);
        conn_key_detail::store(c, w[0], w[1], 0, 0, 0);
        return;
    }
    // Addresses in order as big-endian words (a libc memcmp call cost more), kept in registers
    // and each stored once: built in an array, they went through the stack and were reloaded
    // 16 bytes at a time across two 8-byte stores, which stalled store forwarding.
    const auto load = [](const std::array<std::uint8_t, 16>& a, std::size_t at) {
        std::uint64_t v = 0;
        std::memcpy(&v, a.data() + at, sizeof v);
        return v;
    };
    const std::uint64_t s0 = load(k.src, 0), d0 = load(k.dst, 0);
    const std::uint64_t s1 = load(k.src, 8), d1 = load(k.dst, 8);
    const std::uint64_t bs0 = __builtin_bswap64(s0), bd0 = __builtin_bswap64(d0);
    const std::uint64_t bs1 = __builtin_bswap64(s1), bd1 = __builtin_bswap64(d1);
    swapped = bs0 != bd0 ? bs0 > bd0 : bs1 != bd1 ? bs1 > bd1 : sport > dport;
    // The other order of the ports is a rotation of the word, as for IPv4.
    const std::uint32_t pw0 = conn_key_detail::ports_word(sport, dport);
    const std::uint32_t pw = swapped ? std::rotl(pw0, 16) : pw0;
    conn_key_detail::store(c, conn_key_detail::head(zone, 6, k.proto, pw), swapped ? d0 : s0,
                           swapped ? d1 : s1, swapped ? s0 : d0, swapped ? s1 : d1);
}

// The key of a plain IPv4 TCP or UDP packet (is_plain_ipv4_l4), read from its IP header
// without a flow key: the same as make_conn_key of what parse_l3l4 makes of it. Returns its two
// significant words too, for hashing without reading them back (ConnTable::hash_ipv4).
inline std::array<std::uint64_t, 2> make_conn_key_ipv4(std::uint32_t zone, const std::byte* ip,
                                                       ConnKey& c, bool& swapped) noexcept {
    std::uint64_t addrs = 0;
    std::memcpy(&addrs, ip + 12, sizeof addrs);
    // The ports in one load, each half turned to host order: ports_word(sport, dport).
    std::uint32_t p = 0;
    std::memcpy(&p, ip + 20, sizeof p);
    if constexpr (std::endian::native == std::endian::little) {
        p = ((p & 0x00ff00ffU) << 8) | ((p >> 8) & 0x00ff00ffU);
    }
    const auto w = conn_key_detail::ipv4(zone, static_cast<std::uint8_t>(ip[9]), addrs, p, swapped);
    conn_key_detail::store(c, w[0], w[1], 0, 0, 0);
    return w;
}

inline ConnKey conn_key(std::uint16_t zone, const FlowKey& k, bool& swapped) noexcept {
    ConnKey c;
    make_conn_key(zone, k, c, swapped);
    return c;
}

enum class CtState : std::uint8_t {
    kTcpSynSent,      // SYN from the originator, no answer yet
    kTcpEstablished,  // the other side answered (or picked up mid-stream)
    kTcpFinWait,      // FIN from one side
    kTcpClosing,      // FIN from both sides
    kTcpClosed,       // RST: the entry only lingers briefly
    kUdpUnreplied,    // packets one way only (also other protocols)
    kUdpReplied,      // both ways
    kIcmpEcho,        // echo request seen; replies pass
    kDenied,          // not a connection: the rules denied this flow (one direction, one side)
};

// How many states there are: kDenied is the last.
inline constexpr std::size_t kCtStates = static_cast<std::size_t>(CtState::kDenied) + 1;

const char* to_string(CtState s);

using CtTimeouts = config::ConntrackTimeouts;

// The state a new connection starts in, from the packet that the rules allowed.
CtState initial_state(const FlowKey& k) noexcept;

// The idle timeout of a connection in state `s`, in seconds, from the config's timeouts.
std::uint32_t timeout_s(CtState s, const CtTimeouts& t) noexcept;

// Per packet of a tracked connection, hence inline.
namespace tcp_flag {
inline constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;
}

inline bool is_tracked_tcp(const FlowKey& k) noexcept {
    return k.proto == kIpProtoTcp && k.has_ports;
}

// The state after a packet of the connection; `reply` is true for the non-originating side,
// `tcp` whether it is tracked TCP (is_tracked_tcp) and `flags` its TCP flags.
inline CtState advance(CtState s, bool tcp, std::uint8_t flags, bool reply) noexcept {
    using namespace tcp_flag;
    if (!tcp) {
        if (s == CtState::kUdpUnreplied && reply) return CtState::kUdpReplied;
        return s;
    }
    const std::uint8_t f = flags;
    if ((f & kRst) != 0) return CtState::kTcpClosed;
    switch (s) {
        case CtState::kTcpSynSent:
            if (reply && (f & kSyn) != 0 && (f & kAck) != 0) return CtState::kTcpEstablished;
            return s;
        case CtState::kTcpEstablished:
            return (f & kFin) != 0 ? CtState::kTcpFinWait : s;
        case CtState::kTcpFinWait:
            // Simplified: a FIN after the first (from either side) closes the connection.
            return (f & kFin) != 0 ? CtState::kTcpClosing : s;
        default:
            return s;
    }
}
inline CtState advance(CtState s, const FlowKey& k, bool reply) noexcept {
    return advance(s, is_tracked_tcp(k), k.tcp_flags, reply);
}

// Whether a packet of a known connection passes without rule evaluation. A new TCP SYN on a
// closed connection (a reused port) is a new connection: it goes to the rules again.
inline bool passes(CtState s, bool tcp, std::uint8_t flags) noexcept {
    using namespace tcp_flag;
    if (s == CtState::kDenied) return false;
    if (s != CtState::kTcpClosed && s != CtState::kTcpClosing) return true;
    // After RST or both FINs, only the tail of the old connection (ACKs, FINs) passes; a new
    // SYN opens a new connection and meets the rules.
    return !tcp || (flags & (kSyn | kAck)) != kSyn;
}
inline bool passes(CtState s, const FlowKey& k) noexcept {
    return passes(s, is_tracked_tcp(k), k.tcp_flags);
}

}  // namespace vfgate::dataplane
