// Connection tracking logic: one key for both directions, TCP/UDP/ICMP states, timeouts.

#include "conntrack.hpp"

#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "../common/frames.hpp"

namespace vfgate::dataplane {
namespace {

using namespace vfgate::test;

FlowKey pkt(const Bytes& l3, std::uint16_t type = 0x0800) {
    FlowKey k;
    EXPECT_EQ(parse_l3l4(type, l3, k), L3Result::kOk);
    return k;
}

FlowKey tcp_pkt(bool from_client, std::uint8_t flags) {
    auto c = v4(10, 0, 0, 5), s = v4(192, 0, 2, 1);
    return from_client ? pkt(ipv4(c, s, 6, tcp(40000, 443, flags)))
                       : pkt(ipv4(s, c, 6, tcp(443, 40000, flags)));
}

TEST(Conntrack, BothDirectionsShareOneKey) {
    bool s1 = false, s2 = false;
    auto a = conn_key(3, tcp_pkt(true, 0x02), s1);
    auto b = conn_key(3, tcp_pkt(false, 0x12), s2);
    EXPECT_EQ(a, b);
    EXPECT_NE(s1, s2);
    bool s3 = false;
    EXPECT_NE(conn_key(4, tcp_pkt(true, 0x02), s3), a) << "zones keep NICs apart";
    auto v6a = pkt(ipv6(v6(9), v6(1), 17, udp(5000, 53)), 0x86dd);
    auto v6b = pkt(ipv6(v6(1), v6(9), 17, udp(53, 5000)), 0x86dd);
    EXPECT_EQ(conn_key(0, v6a, s1), conn_key(0, v6b, s2));
    EXPECT_NE(s1, s2);
}

// The key's fields, as listings show them: endpoint a is the lower address (or, between equal
// addresses, the lower port), with its own port, whichever way the packet runs.
TEST(Conntrack, TheKeysFieldsNameTheEndpoints) {
    const auto c = v4(10, 0, 0, 5), s = v4(192, 0, 2, 1);
    for (bool from_client : {true, false}) {
        bool swapped = false;
        const ConnKey k = conn_key(0x1234, tcp_pkt(from_client, 0x10), swapped);
        EXPECT_EQ(swapped, !from_client);
        EXPECT_EQ(k.zone, 0x1234);
        EXPECT_EQ(k.family, 4);
        EXPECT_EQ(k.proto, 6);
        EXPECT_EQ(k.port_a, 40000);
        EXPECT_EQ(k.port_b, 443);
        EXPECT_EQ(0, std::memcmp(k.addr_a().data(), c.data(), 4));
        EXPECT_EQ(0, std::memcmp(k.addr_b().data(), s.data(), 4));
        // The header's key is the same (the established path's).
        const Bytes l3 = from_client ? ipv4(c, s, 6, tcp(40000, 443, 0x10))
                                     : ipv4(s, c, 6, tcp(443, 40000, 0x10));
        ConnKey h;
        bool hs = false;
        make_conn_key_ipv4(0x1234, l3.data(), h, hs);
        EXPECT_EQ(h, k);
    }
    bool swapped = false;
    const auto same = v4(10, 0, 0, 5);
    const ConnKey k = conn_key(0, pkt(ipv4(same, same, 17, udp(9000, 53))), swapped);
    EXPECT_TRUE(swapped);
    EXPECT_EQ(k.port_a, 53);
    EXPECT_EQ(k.port_b, 9000);
}

// The established path reads plain IPv4 TCP and UDP keys straight from the header: the same
// key and orientation as from the flow key, for random addresses (equal ones too) and ports.
TEST(Conntrack, AKeyFromTheIpv4HeaderIsTheFlowKeys) {
    std::mt19937 rng(17);
    for (int i = 0; i < 20000; ++i) {
        const auto addr = [&] {
            const auto r = rng();
            return v4(10, 0, static_cast<std::uint8_t>(r & 3), static_cast<std::uint8_t>(r >> 8));
        };
        const auto src = addr();
        const auto dst = (rng() & 7) == 0 ? src : addr();
        const auto sport = static_cast<std::uint16_t>(rng() & 0x3ff);
        const auto dport = static_cast<std::uint16_t>(rng() & 0x3ff);
        const bool is_tcp = (rng() & 1) != 0;
        const Bytes l3 = is_tcp ? ipv4(src, dst, 6, tcp(sport, dport, 0x12))
                                : ipv4(src, dst, 17, udp(sport, dport));
        ASSERT_TRUE(is_plain_ipv4_l4(l3));
        const auto zone = static_cast<std::uint16_t>(rng());
        bool s1 = false, s2 = false;
        ConnKey from_header;
        make_conn_key_ipv4(zone, l3.data(), from_header, s2);
        ASSERT_EQ(conn_key(zone, pkt(l3), s1), from_header) << i;
        ASSERT_EQ(s1, s2) << i;
        // And both as the key's rule has it, checked apart from the code that makes them:
        // endpoint a is the lower (address, port), and `swapped` says the source is b.
        const int by_addr = std::memcmp(src.data(), dst.data(), 4);
        const bool source_is_b = by_addr != 0 ? by_addr > 0 : sport > dport;
        ASSERT_EQ(s2, source_is_b) << i;
        const auto& a = source_is_b ? dst : src;
        const auto& b = source_is_b ? src : dst;
        ASSERT_EQ(0, std::memcmp(from_header.addr_a().data(), a.data(), 4)) << i;
        ASSERT_EQ(0, std::memcmp(from_header.addr_b().data(), b.data(), 4)) << i;
        ASSERT_EQ(from_header.port_a, source_is_b ? dport : sport) << i;
        ASSERT_EQ(from_header.port_b, source_is_b ? sport : dport) << i;
        ASSERT_EQ(from_header.zone, zone) << i;
        ASSERT_EQ(from_header.proto, is_tcp ? 6 : 17) << i;
    }
    // Not plain: options, a fragment, a short TCP header.
    Bytes options = ipv4(v4(1, 2, 3, 4), v4(5, 6, 7, 8), 17, udp(1, 2));
    options[0] = std::byte{0x46};
    EXPECT_FALSE(is_plain_ipv4_l4(options));
    Bytes fragment = ipv4(v4(1, 2, 3, 4), v4(5, 6, 7, 8), 17, udp(1, 2));
    fragment[6] = std::byte{0x20};  // MF
    EXPECT_FALSE(is_plain_ipv4_l4(fragment));
    Bytes short_tcp = ipv4(v4(1, 2, 3, 4), v4(5, 6, 7, 8), 6, tcp(1, 2));
    short_tcp[32] = std::byte{0x40};  // a data offset of 4 words
    EXPECT_FALSE(is_plain_ipv4_l4(short_tcp));
}

TEST(Conntrack, SameAddressesOrderByPort) {
    bool s1 = false, s2 = false;
    auto a = pkt(ipv4(v4(1, 1, 1, 1), v4(1, 1, 1, 1), 17, udp(9000, 53)));
    auto b = pkt(ipv4(v4(1, 1, 1, 1), v4(1, 1, 1, 1), 17, udp(53, 9000)));
    EXPECT_EQ(conn_key(0, a, s1), conn_key(0, b, s2));
    EXPECT_NE(s1, s2);
}

TEST(Conntrack, TcpOpensEstablishesAndCloses) {
    CtState s = initial_state(tcp_pkt(true, 0x02));
    EXPECT_EQ(s, CtState::kTcpSynSent);
    s = advance(s, tcp_pkt(false, 0x12), true);  // SYN-ACK from the server
    EXPECT_EQ(s, CtState::kTcpEstablished);
    s = advance(s, tcp_pkt(true, 0x10), false);
    EXPECT_EQ(s, CtState::kTcpEstablished);
    s = advance(s, tcp_pkt(true, 0x11), false);  // FIN
    EXPECT_EQ(s, CtState::kTcpFinWait);
    s = advance(s, tcp_pkt(false, 0x11), true);  // FIN back
    EXPECT_EQ(s, CtState::kTcpClosing);
    EXPECT_TRUE(passes(s, tcp_pkt(true, 0x10)));   // the last ACK passes
    EXPECT_FALSE(passes(s, tcp_pkt(true, 0x02)));  // a new SYN meets the rules
}

TEST(Conntrack, RstClosesFromAnyState) {
    for (CtState from : {CtState::kTcpSynSent, CtState::kTcpEstablished, CtState::kTcpFinWait}) {
        EXPECT_EQ(advance(from, tcp_pkt(false, 0x04), true), CtState::kTcpClosed);
    }
    CtTimeouts t;
    EXPECT_EQ(timeout_s(CtState::kTcpClosed, t), 10u);
    EXPECT_LT(timeout_s(CtState::kTcpClosed, t), timeout_s(CtState::kTcpEstablished, t));
}

TEST(Conntrack, SynAckFromTheOriginatorDoesNotEstablish) {
    CtState s = initial_state(tcp_pkt(true, 0x02));
    EXPECT_EQ(advance(s, tcp_pkt(true, 0x12), false), CtState::kTcpSynSent);
}

TEST(Conntrack, MidStreamPickUpIsEstablished) {
    EXPECT_EQ(initial_state(tcp_pkt(true, 0x10)), CtState::kTcpEstablished);
}

TEST(Conntrack, UdpRepliedAndIcmpEcho) {
    auto q = pkt(ipv4(v4(10, 0, 0, 5), v4(8, 8, 8, 8), 17, udp(5000, 53)));
    auto r = pkt(ipv4(v4(8, 8, 8, 8), v4(10, 0, 0, 5), 17, udp(53, 5000)));
    CtState s = initial_state(q);
    EXPECT_EQ(s, CtState::kUdpUnreplied);
    EXPECT_EQ(advance(s, q, false), CtState::kUdpUnreplied);
    s = advance(s, r, true);
    EXPECT_EQ(s, CtState::kUdpReplied);
    CtTimeouts t;
    EXPECT_EQ(timeout_s(CtState::kUdpUnreplied, t), 30u);
    EXPECT_EQ(timeout_s(CtState::kUdpReplied, t), 180u);

    auto echo = pkt(ipv4(v4(10, 0, 0, 5), v4(8, 8, 8, 8), 1, icmp(8, 0, 0x1234)));
    auto reply = pkt(ipv4(v4(8, 8, 8, 8), v4(10, 0, 0, 5), 1, icmp(0, 0, 0x1234)));
    bool s1 = false, s2 = false;
    EXPECT_EQ(conn_key(0, echo, s1), conn_key(0, reply, s2));
    EXPECT_EQ(initial_state(echo), CtState::kIcmpEcho);
    EXPECT_TRUE(passes(CtState::kIcmpEcho, reply));
    auto other_id = pkt(ipv4(v4(8, 8, 8, 8), v4(10, 0, 0, 5), 1, icmp(0, 0, 0x9999)));
    EXPECT_NE(conn_key(0, other_id, s2), conn_key(0, echo, s1)) << "another echo id, another entry";
    auto echo6 = pkt(ipv6(v6(1), v6(2), 58, icmp(128, 0, 7)), 0x86dd);
    EXPECT_EQ(initial_state(echo6), CtState::kIcmpEcho);
    auto mld = pkt(ipv6(v6(1), v6(2), 58, icmp(143, 0)), 0x86dd);
    EXPECT_EQ(initial_state(mld), CtState::kUdpUnreplied) << "not an echo: tracked as datagrams";
}

TEST(Conntrack, TimeoutsAreConfigurable) {
    CtTimeouts t;
    t.tcp_established_s = 3600;
    EXPECT_EQ(timeout_s(CtState::kTcpEstablished, t), 3600u);
}

}  // namespace
}  // namespace vfgate::dataplane
