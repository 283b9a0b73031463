// The compiled classifier (rte_acl) against the reference matcher: random rule sets (IPv4 and
// IPv6, overlapping ranges, every field) and random packets biased toward the rules' boundaries;
// the verdicts must be equal for every packet. Real EAL (--no-huge), real rte_acl.

#include <random>
#include <string>

#include <gtest/gtest.h>

#include "acl.hpp"
#include "reference_matcher.hpp"

namespace vfgate::dataplane {
namespace {

class Gen {
  public:
    explicit Gen(std::uint64_t seed) : rng_(seed) {}
    std::uint64_t below(std::uint64_t n) {
        return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_);
    }
    bool coin(int one_in) { return below(static_cast<std::uint64_t>(one_in)) == 0; }

    // Addresses come from a small pool, so rules and packets meet often.
    IpAddr address(IpFamily f) {
        IpAddr a;
        a.family = f;
        const auto& pool = f == IpFamily::kV4 ? pool4_ : pool6_;
        a.bytes = pool[below(pool.size())].bytes;
        if (coin(3))
            a.bytes[f == IpFamily::kV4 ? 3 : 15] ^= static_cast<std::uint8_t>(1u << below(8));
        if (coin(5))
            a.bytes[f == IpFamily::kV4 ? 1 : 7] ^= static_cast<std::uint8_t>(1u << below(8));
        return a;
    }

    Cidr cidr(IpFamily f) {
        int max = f == IpFamily::kV4 ? 32 : 128;
        int prefix = coin(6) ? static_cast<int>(below(static_cast<std::uint64_t>(max) + 1))
                             : max - static_cast<int>(below(12));
        return Cidr{address(f), prefix}.network();
    }

    std::vector<Cidr> cidrs() {
        std::vector<Cidr> out;
        if (coin(3)) return out;  // any
        auto n = 1 + below(3);
        for (std::uint64_t i = 0; i < n; ++i)
            out.push_back(cidr(coin(2) ? IpFamily::kV4 : IpFamily::kV6));
        return out;
    }

    std::uint16_t port() {
        static constexpr std::uint16_t kEdges[] = {0,    1,    22,   53,    80,   443,
                                                   1023, 1024, 8080, 65534, 65535};
        return coin(2) ? kEdges[below(std::size(kEdges))]
                       : static_cast<std::uint16_t>(below(65536));
    }

    std::vector<config::PortRange> ports() {
        std::vector<config::PortRange> out;
        if (coin(2)) return out;
        auto n = 1 + below(3);
        for (std::uint64_t i = 0; i < n; ++i) {
            std::uint16_t a = port(), b = coin(2) ? a : port();
            out.push_back({std::min(a, b), std::max(a, b)});
        }
        return out;
    }

    config::Rule rule() {
        config::Rule r;
        r.action = coin(2) ? config::Action::kAllow : config::Action::kDeny;
        static constexpr int kProtos[] = {-1, 6, 17, 1, 58, 47};
        int p = kProtos[below(std::size(kProtos))];
        if (p >= 0) r.proto = p;
        r.src = cidrs();
        r.dst = cidrs();
        if (p == 6 || p == 17) {
            r.src_ports = ports();
            r.dst_ports = ports();
        }
        if ((p == 1 || p == 58) && coin(2))
            r.icmp_type = static_cast<std::int64_t>(below(3) + (p == 1 ? 7 : 127));
        if ((p == 1 || p == 58) && coin(4)) r.icmp_code = static_cast<std::int64_t>(below(2));
        remember(r);
        return r;
    }

    // Packets aim at what rules mention: their addresses and port boundaries.
    FlowKey packet() {
        FlowKey k;
        IpFamily f = coin(2) ? IpFamily::kV4 : IpFamily::kV6;
        k.family = f == IpFamily::kV4 ? 4 : 6;
        static constexpr std::uint8_t kProtos[] = {6, 17, 1, 58, 47, 6, 17};
        k.proto = kProtos[below(std::size(kProtos))];
        k.src = address(f).bytes;
        k.dst = address(f).bytes;
        if (k.family == 4) {
            std::fill(k.src.begin() + 4, k.src.end(), 0);
            std::fill(k.dst.begin() + 4, k.dst.end(), 0);
        }
        if (k.proto == 6 || k.proto == 17) {
            k.has_ports = !coin(10);  // sometimes a later fragment: no ports
            k.sport = edge_port();
            k.dport = edge_port();
        } else if ((k.proto == 1 && k.family == 4) || (k.proto == 58 && k.family == 6)) {
            k.is_icmp = true;
            k.icmp_type = static_cast<std::uint8_t>(below(4) + (k.proto == 1 ? 6 : 126));
            k.icmp_code = static_cast<std::uint8_t>(below(3));
            k.sport = k.dport = static_cast<std::uint16_t>(below(65536));
        }
        return k;
    }

  private:
    std::uint16_t edge_port() {
        if (edges_.empty() || coin(4)) return port();
        auto e = edges_[below(edges_.size())];
        return static_cast<std::uint16_t>(
            std::clamp<int>(e + static_cast<int>(below(3)) - 1, 0, 65535));
    }
    void remember(const config::Rule& r) {
        for (const auto* list : {&r.src_ports, &r.dst_ports}) {
            for (const auto& p : *list) {
                edges_.push_back(static_cast<std::uint16_t>(p.lo));
                edges_.push_back(static_cast<std::uint16_t>(p.hi));
            }
        }
        for (const auto* list : {&r.src, &r.dst}) {
            for (const auto& c : *list) {
                // The first and last address of the CIDR, to hit its edges.
                IpAddr last = c.addr;
                int bits = c.addr.bits();
                for (int b = c.prefix; b < bits; ++b)
                    last.bytes[static_cast<std::size_t>(b / 8)] |=
                        static_cast<std::uint8_t>(0x80 >> (b % 8));
                auto& pool = c.addr.family == IpFamily::kV4 ? pool4_ : pool6_;
                if (pool.size() < 64) {
                    pool.push_back(c.addr);
                    pool.push_back(last);
                }
            }
        }
    }

    std::mt19937_64 rng_;
    std::vector<std::uint16_t> edges_;
    std::vector<IpAddr> pool4_{*parse_ip("10.0.0.1"), *parse_ip("192.0.2.200"),
                               *parse_ip("0.0.0.0"), *parse_ip("255.255.255.255")};
    std::vector<IpAddr> pool6_{*parse_ip("fd00::1"), *parse_ip("2001:db8::ff"), *parse_ip("::"),
                               *parse_ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")};
};

// Checks `packets` random packets against `n_rules` random rules; returns mismatches.
int check(std::uint64_t seed, std::size_t n_rules, std::size_t packets) {
    Gen g(seed);
    std::vector<config::Rule> rules;
    for (std::size_t i = 0; i < n_rules; ++i) rules.push_back(g.rule());
    auto c = AclClassifier::build(rules, SOCKET_ID_ANY);
    EXPECT_TRUE(c) << (c ? "" : c.error().to_string());
    if (!c) return 1;
    int bad = 0;
    for (std::size_t i = 0; i < packets; ++i) {
        FlowKey k = g.packet();
        acl::Key key;
        acl::fill_key(k, key);
        const std::uint8_t* p = key.data();
        std::uint32_t got = 0;
        (*c)->classify(k.family, &p, &got, 1);
        auto want = reference_match(rules, config::Action::kDeny, k);
        if (got != static_cast<std::uint32_t>(want.index + 1) && ++bad <= 5) {
            ADD_FAILURE() << "seed " << seed << " packet " << i << ": rte_acl says rule "
                          << static_cast<int>(got) - 1 << ", the reference rule " << want.index
                          << " (proto " << int(k.proto) << ", ports " << k.sport << "->" << k.dport
                          << ", family " << int(k.family) << ")";
        }
    }
    return bad;
}

TEST(AclEquivalence, ManySmallRuleSets) {
    for (std::uint64_t seed = 1; seed <= 60; ++seed) {
        ASSERT_EQ(check(seed, 1 + seed * 3, 3000), 0) << "seed " << seed;
    }
}

TEST(AclEquivalence, ThousandRules) { EXPECT_EQ(check(1001, 1000, 20000), 0); }

TEST(AclEquivalence, TenThousandRules) { EXPECT_EQ(check(10001, 10000, 20000), 0); }

TEST(AclEquivalence, BurstClassifyMatchesOneByOne) {
    Gen g(77);
    std::vector<config::Rule> rules;
    for (int i = 0; i < 300; ++i) rules.push_back(g.rule());
    auto c = AclClassifier::build(rules, SOCKET_ID_ANY);
    ASSERT_TRUE(c);
    std::vector<acl::Key> keys(64);
    std::vector<const std::uint8_t*> ptrs;
    std::vector<FlowKey> flows;
    while (flows.size() < 64) {
        FlowKey k = g.packet();
        if (k.family != 4) continue;
        acl::fill_key(k, keys[flows.size()]);
        ptrs.push_back(keys[flows.size()].data());
        flows.push_back(k);
    }
    std::vector<std::uint32_t> res(64);
    (*c)->classify(4, ptrs.data(), res.data(), 64);
    for (std::size_t i = 0; i < 64; ++i) {
        EXPECT_EQ(res[i], static_cast<std::uint32_t>(
                              reference_match(rules, config::Action::kDeny, flows[i]).index + 1));
    }
}

TEST(AclEquivalence, EmptyRuleSetMatchesNothing) {
    auto c = AclClassifier::build({}, SOCKET_ID_ANY);
    ASSERT_TRUE(c);
    acl::Key key{};
    const std::uint8_t* p = key.data();
    std::uint32_t got = 7;
    (*c)->classify(4, &p, &got, 1);
    EXPECT_EQ(got, 0u);
}

}  // namespace
}  // namespace vfgate::dataplane
