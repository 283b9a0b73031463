// The connection table on heap memory, without EAL: every one of `capacity` keys fits and is
// found, a full table refuses the next, erased positions are reused, and a bucket filled past
// its 8 slots spills into the secondary bucket where lookups still find the keys, and a key
// whose two buckets are full is refused before anything is evicted for it.

#include "conn_table.hpp"

#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

namespace vfgate::dataplane {
namespace {

ConnKey key_of(std::uint32_t i) {
    ConnKey k;
    k.zone = static_cast<std::uint16_t>(1 + (i & 3));
    k.family = 4;
    k.proto = 17;
    k.port_a = static_cast<std::uint16_t>(i);
    k.port_b = 53;
    k.addrs = {10,
               static_cast<std::uint8_t>(i >> 24),
               static_cast<std::uint8_t>(i >> 16),
               static_cast<std::uint8_t>(i >> 8),
               192,
               0,
               2,
               1};
    return k;
}

constexpr std::uint32_t kNow = 1000;

// Marks the entry at `pos` an answered connection that lives long: never evicted or expired.
void answered(ConnTable& t, std::int32_t pos) {
    t.at(pos).state = CtState::kTcpEstablished;
    t.at(pos).expires = kNow + 100'000;
}

std::int32_t find(const ConnTable& t, const ConnKey& k) {
    const ConnKey* p = &k;
    std::int32_t pos = -1;
    t.lookup(&p, 1, &pos);
    return pos;
}

std::unique_ptr<ConnTable> table(std::uint32_t capacity) {
    auto t = ConnTable::create(capacity, 2'000'000'000, heap_memory());
    if (!t) ADD_FAILURE() << t.error().message();
    return t ? std::move(*t) : nullptr;
}

TEST(ConnTable, HoldsExactlyItsCapacityAndFindsEveryKey) {
    constexpr std::uint32_t kCap = 4096;
    auto t = table(kCap);
    ASSERT_NE(t, nullptr);
    std::set<std::int32_t> positions;
    for (std::uint32_t i = 0; i < kCap; ++i) {
        const std::int32_t pos = t->insert(key_of(i), kNow);
        ASSERT_GE(pos, 0) << "key " << i << " refused below capacity";
        EXPECT_EQ(t->size(), i + 1) << "key " << i << " was not new";
        EXPECT_TRUE(positions.insert(pos).second) << "position " << pos << " handed out twice";
        t->at(pos).rule = i;
        answered(*t, pos);
    }
    EXPECT_EQ(t->size(), kCap);
    EXPECT_LT(t->insert(key_of(kCap), kNow), 0)
        << "a table full of answered connections took one more";
    EXPECT_EQ(t->evicted(), 0U);
    // Bulk lookups (64 at a time) find every key at its position, with its entry.
    std::vector<ConnKey> keys;
    for (std::uint32_t i = 0; i < kCap + 64; ++i) keys.push_back(key_of(i));
    for (std::uint32_t base = 0; base < keys.size(); base += ConnTable::kBulkMax) {
        std::array<const ConnKey*, ConnTable::kBulkMax> p{};
        std::array<std::int32_t, ConnTable::kBulkMax> pos{};
        for (std::uint32_t j = 0; j < ConnTable::kBulkMax; ++j) p[j] = &keys[base + j];
        t->lookup(p.data(), ConnTable::kBulkMax, pos.data());
        for (std::uint32_t j = 0; j < ConnTable::kBulkMax; ++j) {
            if (base + j >= kCap) {
                EXPECT_LT(pos[j], 0) << "absent key " << base + j << " found";
                continue;
            }
            ASSERT_GE(pos[j], 0) << "key " << base + j << " not found";
            EXPECT_EQ(t->at(pos[j]).rule, base + j);
            EXPECT_EQ(t->at(pos[j]).key, keys[base + j]);
        }
    }
    // Inserting a present key finds it rather than adding it.
    const std::int32_t again = t->insert(key_of(7), kNow);
    EXPECT_EQ(again, find(*t, key_of(7)));
    EXPECT_EQ(t->size(), kCap);
    // Erase every other key: the rest are still found, the erased are not, and new keys take
    // the freed positions.
    for (std::uint32_t i = 0; i < kCap; i += 2) t->erase(find(*t, key_of(i)));
    EXPECT_EQ(t->size(), kCap / 2);
    for (std::uint32_t i = 0; i < kCap; ++i) {
        EXPECT_EQ(find(*t, key_of(i)) >= 0, i % 2 == 1) << "key " << i;
    }
    for (std::uint32_t i = kCap; i < kCap + kCap / 2; ++i) {
        const std::int32_t pos = t->insert(key_of(i), kNow);
        ASSERT_GE(pos, 0);
        answered(*t, pos);
        EXPECT_EQ(positions.count(pos), 1U) << "a position outside the table: " << pos;
    }
    EXPECT_EQ(t->size(), kCap);
}

TEST(ConnTable, ABucketPastItsSlotsSpillsToTheSecondary) {
    auto t = table(1024);
    ASSERT_NE(t, nullptr);
    // Twelve keys whose primary bucket is the same one: 8 fit there, 4 go to their secondary.
    std::vector<ConnKey> same;
    const std::uint32_t target = t->primary_bucket(key_of(0));
    for (std::uint32_t i = 0; same.size() < 12 && i < 10'000'000; ++i) {
        if (t->primary_bucket(key_of(i)) == target) same.push_back(key_of(i));
    }
    ASSERT_EQ(same.size(), 12U);
    for (const auto& k : same) ASSERT_GE(t->insert(k, kNow), 0);
    for (const auto& k : same) EXPECT_GE(find(*t, k), 0);
    // Erase those that fitted in the primary: the spilled ones are still found.
    for (std::size_t i = 0; i < 8; ++i) t->erase(find(*t, same[i]));
    for (std::size_t i = 0; i < 12; ++i) EXPECT_EQ(find(*t, same[i]) >= 0, i >= 8) << i;
    for (std::size_t i = 8; i < 12; ++i) t->erase(find(*t, same[i]));
    EXPECT_EQ(t->size(), 0U);
    for (const auto& k : same) EXPECT_LT(find(*t, k), 0);
}

TEST(ConnTable, AFullTableEvictsTheOldestUnansweredAndKeepsTheAnswered) {
    constexpr std::uint32_t kCap = 1024;
    auto t = table(kCap);
    ASSERT_NE(t, nullptr);
    // A quarter answered, the rest never answered (as under a flood), all far from expiry.
    for (std::uint32_t i = 0; i < kCap; ++i) {
        const std::int32_t pos = t->insert(key_of(i), kNow);
        ASSERT_GE(pos, 0);
        t->at(pos).expires = kNow + 100'000;
        t->at(pos).state = i % 4 == 0 ? CtState::kUdpReplied : CtState::kTcpSynSent;
    }
    // New connections, three table-fulls of them: each takes the place of an unanswered one.
    for (std::uint32_t i = kCap; i < 4 * kCap; ++i) {
        const std::int32_t pos = t->insert(key_of(i), kNow);
        ASSERT_GE(pos, 0) << "new connection " << i << " refused: there were unanswered ones";
        t->at(pos).expires = kNow + 100'000;
        t->at(pos).state = CtState::kTcpSynSent;
    }
    EXPECT_EQ(t->size(), kCap);
    EXPECT_EQ(t->evicted(), 3U * kCap);
    EXPECT_EQ(t->expired(), 0U);
    for (std::uint32_t i = 0; i < kCap; i += 4) {
        EXPECT_GE(find(*t, key_of(i)), 0) << "answered connection " << i << " was evicted";
    }
    // The oldest go first: the newest 3/4 of a table are all there.
    for (std::uint32_t i = 4 * kCap - 3 * kCap / 4; i < 4 * kCap; ++i) {
        EXPECT_GE(find(*t, key_of(i)), 0) << "new connection " << i << " was evicted";
    }
    // An entry the hand finds expired is reused and counted as expired, not evicted.
    for (std::int32_t pos = 0; pos < t->positions(); ++pos) t->at(pos).expires = kNow - 1;
    ASSERT_GE(t->insert(key_of(9 * kCap), kNow), 0);
    EXPECT_EQ(t->evicted(), 3U * kCap);
    EXPECT_EQ(t->expired(), 1U);
}

// A full table whose new key finds both its buckets full refuses it without evicting anything:
// an eviction elsewhere would free no slot for it, and a connection would be lost for nothing.
TEST(ConnTable, AKeyWithBothBucketsFullIsRefusedBeforeAnyEviction) {
    auto t = table(17);  // 16 buckets
    ASSERT_NE(t, nullptr);
    const ConnKey x = key_of(0);  // the entry the clock hand would take first (position 0)
    const std::uint32_t bx = t->primary_bucket(x);
    std::uint32_t i = 1;
    while (t->primary_bucket(key_of(i)) == bx || t->secondary_bucket(key_of(i)) == bx) ++i;
    const ConnKey k = key_of(i);
    const std::uint32_t p = t->primary_bucket(k), s = t->secondary_bucket(k);
    std::vector<ConnKey> fill;  // 8 keys whose primary is p, 8 whose primary is s
    std::uint32_t in_p = 0, in_s = 0;
    for (std::uint32_t j = i + 1; (in_p < 8 || in_s < 8) && j < 1'000'000; ++j) {
        const std::uint32_t b = t->primary_bucket(key_of(j));
        if (b == p && in_p < 8) {
            ++in_p;
            fill.push_back(key_of(j));
        } else if (b == s && in_s < 8) {
            ++in_s;
            fill.push_back(key_of(j));
        }
    }
    ASSERT_EQ(fill.size(), 16U);
    ASSERT_EQ(t->insert(x, kNow), 0);
    for (const auto& f : fill) ASSERT_GE(t->insert(f, kNow), 0);
    for (std::int32_t pos = 0; pos < t->positions(); ++pos) {  // unanswered, far from expiry
        t->at(pos).state = CtState::kTcpSynSent;
        t->at(pos).expires = kNow + 100'000;
    }
    ASSERT_EQ(t->size(), 17U);
    EXPECT_LT(t->insert(k, kNow), 0);
    EXPECT_EQ(t->evicted(), 0U);
    EXPECT_EQ(t->size(), 17U);
    EXPECT_EQ(find(*t, x), 0) << "evicted for a key that could not take its place";
    // A key of one of its buckets gone (its slot and position free): now it gets in.
    t->erase(find(*t, fill[0]));
    EXPECT_GE(t->insert(k, kNow), 0);
    EXPECT_EQ(t->evicted(), 0U);
    EXPECT_GE(find(*t, k), 0);
}

TEST(ConnTable, SweepFreesOnlyExpiredEntries) {
    auto t = table(64);
    ASSERT_NE(t, nullptr);
    const std::uint32_t now = 0xfffffff0U;  // expiry compares across the wrap of the tick
    for (std::uint32_t i = 0; i < 10; ++i) {
        const std::int32_t pos = t->insert(key_of(i), kNow);
        ASSERT_GE(pos, 0);
        t->at(pos).expires = i < 5 ? now - 1 : now + 0x20;  // five past, five after the wrap
    }
    EXPECT_EQ(t->sweep(now, 64), 5U);
    EXPECT_EQ(t->expired(), 5U);
    EXPECT_EQ(t->size(), 5U);
    for (std::uint32_t i = 0; i < 10; ++i) EXPECT_EQ(find(*t, key_of(i)) >= 0, i >= 5) << i;
}

}  // namespace
}  // namespace vfgate::dataplane
