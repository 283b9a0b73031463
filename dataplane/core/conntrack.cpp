#include "conntrack.hpp"

#include <cstring>

namespace vfgate::dataplane {
namespace {

constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;

bool is_tcp(const FlowKey& k) { return k.proto == kIpProtoTcp && k.has_ports; }

}  // namespace

const char* to_string(CtState s) {
    switch (s) {
        case CtState::kTcpSynSent:
            return "syn_sent";
        case CtState::kTcpEstablished:
            return "established";
        case CtState::kTcpFinWait:
            return "fin_wait";
        case CtState::kTcpClosing:
            return "closing";
        case CtState::kTcpClosed:
            return "closed";
        case CtState::kUdpUnreplied:
            return "unreplied";
        case CtState::kUdpReplied:
            return "replied";
        case CtState::kIcmpEcho:
            return "echo";
        case CtState::kDenied:
            return "denied";
    }
    return "?";
}

CtState initial_state(const FlowKey& k) noexcept {
    if (is_tcp(k)) {
        if (k.tcp_flags & kRst) return CtState::kTcpClosed;
        bool syn_only = (k.tcp_flags & (kSyn | kAck)) == kSyn;
        return syn_only ? CtState::kTcpSynSent : CtState::kTcpEstablished;  // loose pick-up
    }
    // Echo requests are tracked by identifier; other ICMP messages (MLD reports, errors) like
    // any other protocol, by addresses only.
    const bool echo = k.is_icmp && (k.icmp_type == 8 || k.icmp_type == 128);
    return echo ? CtState::kIcmpEcho : CtState::kUdpUnreplied;
}

CtState advance(CtState s, const FlowKey& k, bool reply) noexcept {
    if (!is_tcp(k)) {
        if (s == CtState::kUdpUnreplied && reply) return CtState::kUdpReplied;
        return s;
    }
    std::uint8_t f = k.tcp_flags;
    if (f & kRst) return CtState::kTcpClosed;
    switch (s) {
        case CtState::kTcpSynSent:
            if (reply && (f & kSyn) && (f & kAck)) return CtState::kTcpEstablished;
            return s;
        case CtState::kTcpEstablished:
            return (f & kFin) ? CtState::kTcpFinWait : s;
        case CtState::kTcpFinWait:
            // Simplified: a FIN after the first (from either side) closes the connection.
            return (f & kFin) ? CtState::kTcpClosing : s;
        default:
            return s;
    }
}

namespace {

std::int64_t timeout_of(CtState s, const CtTimeouts& t) noexcept {
    switch (s) {
        case CtState::kTcpSynSent:
            return t.tcp_syn_s;
        case CtState::kTcpEstablished:
            return t.tcp_established_s;
        case CtState::kTcpFinWait:
        case CtState::kTcpClosing:
            return t.tcp_fin_s;
        case CtState::kTcpClosed:
            return t.tcp_closed_s;
        case CtState::kUdpUnreplied:
            return t.udp_s;
        case CtState::kUdpReplied:
            return t.udp_replied_s;
        case CtState::kIcmpEcho:
            return t.icmp_s;
        case CtState::kDenied:
            return t.denied_s;
    }
    return t.udp_s;
}

}  // namespace

std::uint32_t timeout_s(CtState s, const CtTimeouts& t) noexcept {
    return static_cast<std::uint32_t>(timeout_of(s, t));  // validated: 0 or 1 s to 30 days
}

bool passes(CtState s, const FlowKey& k) noexcept {
    if (s == CtState::kDenied) return false;
    if (s != CtState::kTcpClosed && s != CtState::kTcpClosing) return true;
    // After RST or both FINs, only the tail of the old connection (ACKs, FINs) passes; a new
    // SYN opens a new connection and meets the rules.
    return !(is_tcp(k) && (k.tcp_flags & (kSyn | kAck)) == kSyn);
}

}  // namespace vfgate::dataplane
