#pragma once
// Connection tracking logic (config-v1 "Stateful"): the canonical key of a connection, its
// state machine, and its timeouts. Pure C++; the per-worker, fixed-capacity table that stores
// entries lives in the DPDK adapter. Hot-path safe: no allocation, no exceptions.
//
// A connection is keyed by zone (the guest NIC whose firewall allowed it), IP version, protocol,
// and its two endpoints in a canonical order, so that both directions find one entry; the
// packet's direction relative to the connection's originator comes back as `reply`.
// Tracked: TCP (SYN, established, FIN from one or both sides, RST), UDP (replied or not),
// ICMP/ICMPv6 echo (by identifier). Other protocols: like UDP, without ports.

#include <array>
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
    std::array<std::uint8_t, 16> addr_a{}, addr_b{};
    bool operator==(const ConnKey&) const = default;
};
static_assert(sizeof(ConnKey) == 40, "ConnKey is hashed and compared as raw bytes: no padding");

// The canonical key of `k`'s connection, written into `c` (in place: the hot path reads it
// right away, and a copy of a returned temporary stalled store forwarding). `swapped` is true
// when `k` runs from endpoint b to a; the table stores which way the originator's packets run,
// so a packet is a reply when its `swapped` differs from the originator's.
inline void make_conn_key(std::uint16_t zone, const FlowKey& k, ConnKey& c,
                          bool& swapped) noexcept {
    const bool ports = k.has_ports || k.is_icmp;
    const std::uint16_t sport = ports ? k.sport : 0;
    const std::uint16_t dport = ports ? k.dport : 0;
    // Addresses in order as two big-endian words each (a libc memcmp call cost more).
    const auto word = [](const std::array<std::uint8_t, 16>& a, std::size_t at) {
        std::uint64_t v = 0;
        std::memcpy(&v, a.data() + at, sizeof v);
        return __builtin_bswap64(v);
    };
    const std::uint64_t s0 = word(k.src, 0), d0 = word(k.dst, 0);
    const std::uint64_t s1 = word(k.src, 8), d1 = word(k.dst, 8);
    swapped = s0 != d0 ? s0 > d0 : s1 != d1 ? s1 > d1 : sport > dport;
    c.zone = zone;
    c.family = k.family;
    c.proto = k.proto;
    c.port_a = swapped ? dport : sport;
    c.port_b = swapped ? sport : dport;
    std::memcpy(c.addr_a.data(), swapped ? k.dst.data() : k.src.data(), 16);
    std::memcpy(c.addr_b.data(), swapped ? k.src.data() : k.dst.data(), 16);
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

inline constexpr std::size_t kCtStates = 9;

const char* to_string(CtState s);

using CtTimeouts = config::ConntrackTimeouts;

// The state a new connection starts in, from the packet that the rules allowed.
CtState initial_state(const FlowKey& k) noexcept;

// The state after a packet of the connection; `reply` is true for the non-originating side.
CtState advance(CtState s, const FlowKey& k, bool reply) noexcept;

std::uint32_t timeout_s(CtState s, const CtTimeouts& t) noexcept;

// Whether a packet of a known connection passes without rule evaluation. A new TCP SYN on a
// closed connection (a reused port) is a new connection: it goes to the rules again.
bool passes(CtState s, const FlowKey& k) noexcept;

}  // namespace vfgate::dataplane
