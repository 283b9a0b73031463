// The L3/L4 parser and its policy for odd packets (docs/firewall.md).

#include "l3l4.hpp"

#include <random>

#include <gtest/gtest.h>

#include "../common/frames.hpp"

namespace vfgate::dataplane {
namespace {

using namespace vfgate::test;

L3Result parse(std::uint16_t type, const Bytes& b, FlowKey& k) { return parse_l3l4(type, b, k); }

TEST(L3l4, Ipv4Tcp) {
    FlowKey k;
    ASSERT_EQ(parse(0x0800, ipv4(v4(10, 0, 0, 1), v4(10, 0, 0, 2), 6, tcp(40000, 443, 0x12)), k),
              L3Result::kOk);
    EXPECT_EQ(k.family, 4);
    EXPECT_EQ(k.proto, 6);
    EXPECT_EQ(k.src[3], 1);
    EXPECT_EQ(k.dst[3], 2);
    EXPECT_EQ(k.sport, 40000);
    EXPECT_EQ(k.dport, 443);
    EXPECT_EQ(k.tcp_flags, 0x12);
    EXPECT_TRUE(k.has_ports);
    EXPECT_FALSE(k.fragment);
}

TEST(L3l4, Ipv4UdpAndTrailingEthernetPadding) {
    FlowKey k;
    Bytes b = ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 17, udp(53, 5353));
    b.insert(b.end(), 10, std::byte{0});  // padding beyond total length is ignored
    ASSERT_EQ(parse(0x0800, b, k), L3Result::kOk);
    EXPECT_EQ(k.sport, 53);
    EXPECT_EQ(k.dport, 5353);
    EXPECT_EQ(k.l4_len, 8);
}

TEST(L3l4, IcmpEchoCarriesItsIdentifier) {
    FlowKey k;
    ASSERT_EQ(parse(0x0800, ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 1, icmp(8, 0, 0xbeef)), k),
              L3Result::kOk);
    EXPECT_TRUE(k.is_icmp);
    EXPECT_EQ(k.icmp_type, 8);
    EXPECT_EQ(k.sport, 0xbeef);
    ASSERT_EQ(parse(0x0800, ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 1, icmp(3, 4)), k), L3Result::kOk);
    EXPECT_EQ(k.icmp_code, 4);
    EXPECT_EQ(k.sport, 0);
}

TEST(L3l4, Ipv6WalksExtensionHeaders) {
    FlowKey k;
    Bytes rest = cat(ext(60), cat(ext(6, 2), tcp(1000, 22)));  // hop-by-hop, dest opts, TCP
    ASSERT_EQ(parse(0x86dd, ipv6(v6(1), v6(2), 0, rest), k), L3Result::kOk);
    EXPECT_EQ(k.family, 6);
    EXPECT_EQ(k.proto, 6);
    EXPECT_EQ(k.dport, 22);
    EXPECT_EQ(k.src[15], 1);
    ASSERT_EQ(parse(0x86dd, ipv6(v6(1), v6(2), 58, icmp(128, 0, 7)), k), L3Result::kOk);
    EXPECT_EQ(k.icmp_type, 128);
    EXPECT_EQ(k.sport, 7);
}

TEST(L3l4, FragmentsFirstClassifiedLaterFollow) {
    FlowKey k;
    auto first = ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 17, udp(1, 53, 100), 0, true, 77);
    ASSERT_EQ(parse(0x0800, first, k), L3Result::kOk);
    EXPECT_TRUE(k.fragment);
    EXPECT_EQ(k.frag_id, 77u);
    EXPECT_EQ(k.dport, 53);
    auto later = ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 17, Bytes(64, std::byte{1}), 14, false, 77);
    ASSERT_EQ(parse(0x0800, later, k), L3Result::kLaterFragment);
    EXPECT_EQ(k.frag_id, 77u);
    EXPECT_EQ(k.proto, 17);
    EXPECT_FALSE(k.has_ports);

    auto first6 = ipv6(v6(1), v6(2), 44, cat(frag6(17, 0, true, 0xabcdef01), udp(1, 53)));
    ASSERT_EQ(parse(0x86dd, first6, k), L3Result::kOk);
    EXPECT_TRUE(k.fragment);
    EXPECT_EQ(k.frag_id, 0xabcdef01u);
    EXPECT_EQ(k.dport, 53);
    auto later6 = ipv6(v6(1), v6(2), 44, cat(frag6(17, 2, false, 0xabcdef01), Bytes(16)));
    ASSERT_EQ(parse(0x86dd, later6, k), L3Result::kLaterFragment);
    // A fragmentable part that starts with a header (destination options, as before AH): the
    // first fragment is parsed through it; a later one's bytes are payload, never headers.
    auto first_opts =
        ipv6(v6(1), v6(2), 44, cat(frag6(60, 0, true, 0x1234), cat(ext(17), udp(1, 53))));
    ASSERT_EQ(parse(0x86dd, first_opts, k), L3Result::kOk);
    EXPECT_EQ(k.proto, 17);
    EXPECT_EQ(k.dport, 53);
    Bytes payload(100, std::byte{0x3c});  // would read as a chain of destination options
    payload[1] = std::byte{40};           // ... one of 328 bytes, past the payload
    auto later_opts = ipv6(v6(1), v6(2), 44, cat(frag6(60, 181, false, 0x1234), payload));
    ASSERT_EQ(parse(0x86dd, later_opts, k), L3Result::kLaterFragment);
    EXPECT_EQ(k.frag_id, 0x1234u);
    EXPECT_EQ(k.proto, 60) << "the fragment header's next header";
}

TEST(L3l4, MalformedHeadersAreCaught) {
    FlowKey k;
    auto good = ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 6, tcp(1, 2));
    EXPECT_EQ(parse(0x0800, Bytes(good.begin(), good.begin() + 19), k), L3Result::kMalformed);
    auto bad_ihl = good;
    bad_ihl[0] = std::byte{0x44};  // IHL 4: shorter than a header
    EXPECT_EQ(parse(0x0800, bad_ihl, k), L3Result::kMalformed);
    auto big_ihl = good;
    big_ihl[0] = std::byte{0x4f};  // IHL 15: 60 bytes, beyond total length 40
    EXPECT_EQ(parse(0x0800, big_ihl, k), L3Result::kMalformed);
    auto long_total = good;
    long_total[3] = std::byte{200};  // claims more than the frame has
    EXPECT_EQ(parse(0x0800, long_total, k), L3Result::kMalformed);
    auto version = good;
    version[0] = std::byte{0x65};
    EXPECT_EQ(parse(0x0800, version, k), L3Result::kMalformed);
    // Zero-length or short L4 headers.
    EXPECT_EQ(parse(0x0800, ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 6, {}), k), L3Result::kMalformed);
    EXPECT_EQ(parse(0x0800, ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 17, Bytes(7)), k),
              L3Result::kMalformed);
    EXPECT_EQ(parse(0x0800, ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 1, Bytes(3)), k),
              L3Result::kMalformed);
    EXPECT_EQ(
        parse(0x0800, ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 1, Bytes{std::byte{8}, {}, {}, {}, {}}),
              k),
        L3Result::kMalformed);  // echo without its identifier
    auto off = tcp(1, 2);
    off[12] = std::byte{0x40};  // data offset 4
    EXPECT_EQ(parse(0x0800, ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 6, off), k), L3Result::kMalformed);
    off[12] = std::byte{0x60};  // data offset 6: beyond the segment
    EXPECT_EQ(parse(0x0800, ipv4(v4(1, 1, 1, 1), v4(2, 2, 2, 2), 6, off), k), L3Result::kMalformed);
    // IPv6: payload length beyond the frame, truncated extension header, too deep a chain.
    auto v6ok = ipv6(v6(1), v6(2), 17, udp(1, 2));
    EXPECT_EQ(parse(0x86dd, Bytes(v6ok.begin(), v6ok.end() - 1), k), L3Result::kMalformed);
    EXPECT_EQ(parse(0x86dd, ipv6(v6(1), v6(2), 0, Bytes(4)), k), L3Result::kMalformed);
    Bytes chain = udp(1, 2);
    for (int i = 0; i < 9; ++i) chain = cat(ext(i == 0 ? 17 : 60), chain);
    EXPECT_EQ(parse(0x86dd, ipv6(v6(1), v6(2), 60, chain), k), L3Result::kMalformed);
}

// The inline fast path (plain IPv4 with TCP or UDP) gives what the general parser gives, on
// valid headers and on each with a field pushed past its edge: version and IHL, total length,
// flags and offset, protocol, TCP data offset, and truncations.
TEST(L3l4, FastPathAgreesWithTheGeneralParser) {
    std::mt19937 rng(7);
    const std::array<Bytes, 4> bases = {
        ipv4(v4(10, 0, 0, 1), v4(10, 0, 0, 2), 6, tcp(40000, 443, 0x12)),
        ipv4(v4(10, 0, 0, 1), v4(10, 0, 0, 2), 17, udp(53, 5353, 12)),
        ipv4(v4(192, 0, 2, 1), v4(192, 0, 2, 1), 1, icmp(8, 0, 7)),
        ipv4(v4(1, 2, 3, 4), v4(5, 6, 7, 8), 6, tcp(1, 2, 0x11, 8)),
    };
    // Byte positions that decide the path: IP header fields and TCP's offset and flags.
    const std::array<std::size_t, 9> fields = {0, 2, 3, 6, 7, 9, 32, 33, 24};
    int fast = 0;
    for (int i = 0; i < 20000; ++i) {
        Bytes b = bases[static_cast<std::size_t>(i) % bases.size()];
        const int edits = i % 3;
        for (int e = 0; e < edits; ++e) {
            const std::size_t at = fields[rng() % fields.size()];
            if (at < b.size()) b[at] = static_cast<std::byte>(rng());
        }
        if (i % 7 == 0) b.resize(rng() % (b.size() + 1));
        if (i % 11 == 0) b.insert(b.end(), rng() % 8, std::byte{0});
        FlowKey a, g;
        const L3Result ra = parse_l3l4(0x0800, b, a);
        const L3Result rg = parse_l3l4_general(0x0800, b, g);
        ASSERT_EQ(ra, rg) << "input " << i;
        ASSERT_TRUE(a == g) << "input " << i;
        fast += ra == L3Result::kOk && (a.proto == 6 || a.proto == 17) ? 1 : 0;
    }
    EXPECT_GT(fast, 5000) << "the fast path's cases were met";
}

TEST(L3l4, NonIpIsSaidSo) {
    FlowKey k;
    EXPECT_EQ(parse(0x0806, Bytes(28), k), L3Result::kNotIp);
}

}  // namespace
}  // namespace vfgate::dataplane
