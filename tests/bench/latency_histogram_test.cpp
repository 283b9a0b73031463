// vfgate-trafgen's latency histogram: buckets cover every value with a bounded error, and
// quantiles come out where the recorded values put them.
#include "latency_histogram.hpp"

#include <cstdint>

#include <gtest/gtest.h>

using vfgate::bench::LatencyHistogram;

TEST(LatencyHistogram, EveryValueFallsInABucketThatHoldsIt) {
    std::size_t last = 0;
    for (std::uint64_t v = 0; v < (std::uint64_t{1} << 24); v = v < 200 ? v + 1 : v + v / 7) {
        const std::size_t i = LatencyHistogram::index(v);
        ASSERT_LT(i, LatencyHistogram::kBuckets);
        ASSERT_GE(i, last) << v;  // monotonic
        last = i;
        const std::uint64_t hi = LatencyHistogram::upper(i);
        ASSERT_GE(hi, v);
        ASSERT_LE(static_cast<double>(hi - v), 0.032 * static_cast<double>(v) + 1) << v;
        if (i > 0) {
            ASSERT_LT(LatencyHistogram::upper(i - 1), v) << v;  // and the one below doesn't
        }
    }
}

TEST(LatencyHistogram, Quantiles) {
    LatencyHistogram h;
    EXPECT_EQ(h.quantile(0.5), 0U);
    for (std::uint64_t v = 1; v <= 1000; ++v) h.record(v * 1000);  // 1..1000 us
    h.record(5'000'000);                                           // one 5 ms outlier
    EXPECT_EQ(h.total(), 1001U);
    EXPECT_EQ(h.max(), 5'000'000U);
    EXPECT_NEAR(static_cast<double>(h.quantile(0.5)), 501'000, 501'000 * 0.035);
    EXPECT_NEAR(static_cast<double>(h.quantile(0.99)), 991'000, 991'000 * 0.035);
    EXPECT_EQ(h.quantile(1.0), 5'000'000U);
    h.clear();
    EXPECT_EQ(h.total(), 0U);
}
