// The connection table in process on a real EAL: every one of `capacity` keys fits and is found,
// a full table refuses the next, erased positions are reused, and a bucket filled past its 8
// slots spills into the secondary bucket where lookups still find the keys.

#include "conntrack_table.hpp"

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

std::int32_t find(const ConnTable& t, const ConnKey& k) {
    const ConnKey* p = &k;
    std::int32_t pos = -1;
    t.lookup(&p, 1, &pos);
    return pos;
}

std::unique_ptr<ConnTable> table(std::uint32_t capacity) {
    auto t = ConnTable::create(0, capacity, 0);
    if (!t) ADD_FAILURE() << t.error().message();
    return t ? std::move(*t) : nullptr;
}

TEST(ConnTable, HoldsExactlyItsCapacityAndFindsEveryKey) {
    constexpr std::uint32_t kCap = 4096;
    auto t = table(kCap);
    ASSERT_NE(t, nullptr);
    std::set<std::int32_t> positions;
    for (std::uint32_t i = 0; i < kCap; ++i) {
        bool fresh = false;
        const std::int32_t pos = t->insert(key_of(i), fresh);
        ASSERT_GE(pos, 0) << "key " << i << " refused below capacity";
        EXPECT_TRUE(fresh);
        EXPECT_TRUE(positions.insert(pos).second) << "position " << pos << " handed out twice";
        t->at(pos).rule = i;
    }
    EXPECT_EQ(t->size(), kCap);
    bool fresh = true;
    EXPECT_LT(t->insert(key_of(kCap), fresh), 0) << "a full table took one more";
    EXPECT_FALSE(fresh);
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
    const std::int32_t again = t->insert(key_of(7), fresh);
    EXPECT_EQ(again, find(*t, key_of(7)));
    EXPECT_FALSE(fresh);
    // Erase every other key: the rest are still found, the erased are not, and new keys take
    // the freed positions.
    for (std::uint32_t i = 0; i < kCap; i += 2) t->erase(find(*t, key_of(i)));
    EXPECT_EQ(t->size(), kCap / 2);
    for (std::uint32_t i = 0; i < kCap; ++i) {
        EXPECT_EQ(find(*t, key_of(i)) >= 0, i % 2 == 1) << "key " << i;
    }
    for (std::uint32_t i = kCap; i < kCap + kCap / 2; ++i) {
        const std::int32_t pos = t->insert(key_of(i), fresh);
        ASSERT_GE(pos, 0);
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
    bool fresh = false;
    for (const auto& k : same) ASSERT_GE(t->insert(k, fresh), 0);
    for (const auto& k : same) EXPECT_GE(find(*t, k), 0);
    // Erase those that fitted in the primary: the spilled ones are still found.
    for (std::size_t i = 0; i < 8; ++i) t->erase(find(*t, same[i]));
    for (std::size_t i = 0; i < 12; ++i) EXPECT_EQ(find(*t, same[i]) >= 0, i >= 8) << i;
    for (std::size_t i = 8; i < 12; ++i) t->erase(find(*t, same[i]));
    EXPECT_EQ(t->size(), 0U);
    for (const auto& k : same) EXPECT_LT(find(*t, k), 0);
}

TEST(ConnTable, SweepFreesOnlyExpiredEntries) {
    auto t = table(64);
    ASSERT_NE(t, nullptr);
    bool fresh = false;
    const std::uint32_t now = 0xfffffff0U;  // expiry compares across the wrap of the tick
    for (std::uint32_t i = 0; i < 10; ++i) {
        const std::int32_t pos = t->insert(key_of(i), fresh);
        ASSERT_GE(pos, 0);
        t->at(pos).expires = i < 5 ? now - 1 : now + 0x20;  // five past, five after the wrap
    }
    EXPECT_EQ(t->sweep(now, 64), 5U);
    EXPECT_EQ(t->size(), 5U);
    for (std::uint32_t i = 0; i < 10; ++i) EXPECT_EQ(find(*t, key_of(i)) >= 0, i >= 5) << i;
}

}  // namespace
}  // namespace vfgate::dataplane
