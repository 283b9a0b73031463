#include "conntrack.hpp"

namespace vfgate::dataplane {

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
    using namespace tcp_flag;
    if (is_tracked_tcp(k)) {
        if ((k.tcp_flags & kRst) != 0) return CtState::kTcpClosed;
        const bool syn_only = (k.tcp_flags & (kSyn | kAck)) == kSyn;
        return syn_only ? CtState::kTcpSynSent : CtState::kTcpEstablished;  // loose pick-up
    }
    // Echo requests are tracked by identifier; other ICMP messages (MLD reports, errors) like
    // any other protocol, by addresses only.
    const bool echo = k.is_icmp && (k.icmp_type == 8 || k.icmp_type == 128);
    return echo ? CtState::kIcmpEcho : CtState::kUdpUnreplied;
}

std::uint32_t timeout_s(CtState s, const CtTimeouts& t) noexcept {
    std::int64_t seconds = t.udp_s;  // validated: 0, or 1 s to 30 days
    switch (s) {
        case CtState::kTcpSynSent:
            seconds = t.tcp_syn_s;
            break;
        case CtState::kTcpEstablished:
            seconds = t.tcp_established_s;
            break;
        case CtState::kTcpFinWait:
        case CtState::kTcpClosing:
            seconds = t.tcp_fin_s;
            break;
        case CtState::kTcpClosed:
            seconds = t.tcp_closed_s;
            break;
        case CtState::kUdpUnreplied:
            seconds = t.udp_s;
            break;
        case CtState::kUdpReplied:
            seconds = t.udp_replied_s;
            break;
        case CtState::kIcmpEcho:
            seconds = t.icmp_s;
            break;
        case CtState::kDenied:
            seconds = t.denied_s;
            break;
    }
    return static_cast<std::uint32_t>(seconds);
}

}  // namespace vfgate::dataplane
