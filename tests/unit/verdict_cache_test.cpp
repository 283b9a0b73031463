// The verdict cache on the heap: what it remembers, what it tells apart, and what a bucket keeps
// when more flows meet in it than it holds. The firewall stage's use of it is in
// firewall_stage_test.

#include "verdict_cache.hpp"

#include <array>
#include <random>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

namespace vfgate::dataplane {
namespace {

// An IPv4 header of `proto` from `src` to `dst` with ports `sport` and `dport`.
std::array<std::uint8_t, 24> header(std::uint32_t src, std::uint32_t dst, std::uint8_t proto,
                                    std::uint16_t sport, std::uint16_t dport) {
    std::array<std::uint8_t, 24> h{};
    h[0] = 0x45;
    h[9] = proto;
    for (int i = 0; i < 4; ++i) {
        h[12 + i] = static_cast<std::uint8_t>(src >> (24 - 8 * i));
        h[16 + i] = static_cast<std::uint8_t>(dst >> (24 - 8 * i));
    }
    h[20] = static_cast<std::uint8_t>(sport >> 8);
    h[21] = static_cast<std::uint8_t>(sport);
    h[22] = static_cast<std::uint8_t>(dport >> 8);
    h[23] = static_cast<std::uint8_t>(dport);
    return h;
}

VerdictKey key(std::uint32_t src, std::uint16_t sport, std::uint16_t zone = 1,
               std::uint32_t epoch = 1, std::uint8_t dir = 0, std::uint8_t proto = 17,
               std::uint16_t dport = 53, std::uint32_t dst = 0x0a00000a) {
    return make_verdict_key(header(src, dst, proto, sport, dport).data(), zone, epoch, dir);
}

std::unique_ptr<VerdictCache> make(std::uint32_t entries) {
    auto c = VerdictCache::create(entries, heap_memory());
    EXPECT_TRUE(c) << c.error().message();
    return c ? std::move(*c) : nullptr;
}

TEST(VerdictCache, AFreshCacheKnowsNoFlow) {
    auto c = make(64);
    std::mt19937 rng(3);
    for (int i = 0; i < 1000; ++i) {
        const VerdictKey k = key(static_cast<std::uint32_t>(rng()),
                                 static_cast<std::uint16_t>(rng()), 0, 0, 0, 0, 0, 0);
        EXPECT_EQ(c->find(VerdictCache::hash(k), k), VerdictCache::kMiss);
    }
}

TEST(VerdictCache, RemembersAMatchForExactlyItsFlowAndRules) {
    auto c = make(1024);
    const VerdictKey k = key(0xc0000201, 40000);
    EXPECT_TRUE(c->store(VerdictCache::hash(k), k, 7, false));
    EXPECT_EQ(c->find(VerdictCache::hash(k), k), 7U);
    EXPECT_TRUE(c->store(VerdictCache::hash(k), k, 0, false));  // the default, after all
    EXPECT_EQ(c->find(VerdictCache::hash(k), k), 0U);
    // Any one field else: another flow, or other rules.
    const std::vector<VerdictKey> others = {
        key(0xc0000202, 40000),                           // source
        key(0xc0000201, 40001),                           // source port
        key(0xc0000201, 40000, 2),                        // zone (another NIC)
        key(0xc0000201, 40000, 1, 2),                     // epoch (rules rebuilt)
        key(0xc0000201, 40000, 1, 1, 1),                  // direction
        key(0xc0000201, 40000, 1, 1, 0, 6),               // protocol
        key(0xc0000201, 40000, 1, 1, 0, 17, 54),          // destination port
        key(0xc0000201, 40000, 1, 1, 0, 17, 53, 0x0a0b),  // destination
    };
    for (const VerdictKey& o : others) {
        EXPECT_EQ(c->find(VerdictCache::hash(o), o), VerdictCache::kMiss);
    }
}

// Keys of one bucket of a 16-entry cache (8 buckets of 2), each from key(1, port, zone, epoch).
std::vector<VerdictKey> same_bucket(std::size_t n, std::uint16_t zone = 1,
                                    std::uint32_t epoch = 1) {
    std::vector<VerdictKey> same;
    const std::uint32_t bucket = VerdictCache::hash(key(1, 1, zone, epoch)) & 7;
    for (std::uint16_t p = 1; same.size() < n; ++p) {
        const VerdictKey k = key(1, p, zone, epoch);
        if ((VerdictCache::hash(k) & 7) == bucket) same.push_back(k);
    }
    return same;
}

TEST(VerdictCache, AFullBucketMakesRoomOnlyWhenTold) {
    auto c = make(16);
    const std::vector<VerdictKey> same = same_bucket(4);
    const auto find = [&](const VerdictKey& k) { return c->find(VerdictCache::hash(k), k); };
    const auto store = [&](std::size_t i, std::uint32_t m, bool evict) {
        return c->store(VerdictCache::hash(same[i]), same[i], m, evict);
    };
    EXPECT_TRUE(store(0, 1, false));
    EXPECT_TRUE(store(1, 2, false));
    EXPECT_FALSE(store(2, 3, false)) << "full, and not told to evict";
    EXPECT_EQ(find(same[2]), VerdictCache::kMiss);
    EXPECT_EQ(find(same[0]), 1U);
    EXPECT_TRUE(store(2, 3, true));
    EXPECT_EQ(find(same[0]), VerdictCache::kMiss) << "the one filled first made room";
    EXPECT_EQ(find(same[1]), 2U);
    EXPECT_EQ(find(same[2]), 3U);
    EXPECT_TRUE(store(1, 9, false)) << "an update takes no room";
    EXPECT_EQ(find(same[1]), 9U);
    EXPECT_TRUE(store(3, 4, true));
    EXPECT_EQ(find(same[1]), VerdictCache::kMiss);
    EXPECT_EQ(find(same[2]), 3U);
    EXPECT_EQ(find(same[3]), 4U);
}

// The packet path learns flows through learn(): a full bucket gives way on about one miss in
// kEvictEvery, so that a flood of new flows can't churn out the ones being hit.
TEST(VerdictCache, LearningEvictsOnAShareOfMisses) {
    auto c = make(16);
    const std::vector<VerdictKey> same = same_bucket(2 + 4000);
    const auto find = [&](const VerdictKey& k) { return c->find(VerdictCache::hash(k), k); };
    c->learn(VerdictCache::hash(same[0]), same[0], 1);
    c->learn(VerdictCache::hash(same[1]), same[1], 2);
    EXPECT_EQ(find(same[0]), 1U) << "room: always stored";
    EXPECT_EQ(find(same[1]), 2U);
    int evictions = 0;
    for (std::size_t i = 2; i < same.size(); ++i) {
        c->learn(VerdictCache::hash(same[i]), same[i], 3);
        evictions += find(same[i]) == 3U ? 1 : 0;
    }
    const int expected = 4000 / static_cast<int>(VerdictCache::kEvictEvery);
    EXPECT_GT(evictions, expected * 3 / 4);
    EXPECT_LT(evictions, expected * 5 / 4);
}

// After a reload the NIC's entries are of no use: new flows take them without evicting.
TEST(VerdictCache, EntriesOfReplacedRulesGiveWay) {
    auto c = make(16);
    const std::vector<VerdictKey> old = same_bucket(2, 1, 1);
    for (const VerdictKey& k : old) EXPECT_TRUE(c->store(VerdictCache::hash(k), k, 5, false));
    // Another NIC's flow in the full bucket waits; a flow of the same NIC under new rules (epoch
    // 2) takes an old entry.
    std::vector<VerdictKey> other, renewed;
    for (std::uint16_t p = 1; other.empty() || renewed.empty(); ++p) {
        for (auto [zone, epoch, out] : {std::tuple{std::uint16_t{2}, 1U, &other},
                                        std::tuple{std::uint16_t{1}, 2U, &renewed}}) {
            const VerdictKey k = key(1, p, zone, epoch);
            if ((VerdictCache::hash(k) & 7) == (VerdictCache::hash(old[0]) & 7)) out->push_back(k);
        }
    }
    EXPECT_FALSE(c->store(VerdictCache::hash(other[0]), other[0], 6, false));
    EXPECT_TRUE(c->store(VerdictCache::hash(renewed[0]), renewed[0], 7, false));
    EXPECT_EQ(c->find(VerdictCache::hash(renewed[0]), renewed[0]), 7U);
}

TEST(VerdictCache, SizesItselfAndRefusesNone) {
    EXPECT_EQ(make(1000)->capacity(), 1024U);
    EXPECT_EQ(make(1)->capacity(), 16U);
    EXPECT_FALSE(VerdictCache::create(0, heap_memory()));
}

}  // namespace
}  // namespace vfgate::dataplane
