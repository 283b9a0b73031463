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
    const std::int64_t seconds = [&] {  // validated: 0, or 1 s to 30 days
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
    }();
    return static_cast<std::uint32_t>(seconds);
}

}  // namespace vfgate::dataplane
