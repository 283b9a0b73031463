#pragma once
// Latency histogram of vfgate-trafgen: fixed buckets, no allocation when recording. Values
// below 64 ns are exact; above, each power of two has 32 buckets (a relative error under 3.2%),
// up to 2^40 ns. Pure C++: unit-tested without DPDK.

#include <array>
#include <bit>
#include <cstdint>

namespace vfgate::bench {

class LatencyHistogram {
  public:
    static constexpr unsigned kLinear = 64, kSub = 32, kMaxExp = 35;
    static constexpr std::size_t kBuckets = kLinear + std::size_t{kMaxExp} * kSub;

    void record(std::uint64_t ns) noexcept {
        ++counts_[index(ns)];
        ++total_;
        if (ns > max_) max_ = ns;
    }
    std::uint64_t total() const noexcept { return total_; }
    std::uint64_t max() const noexcept { return max_; }
    // The value at quantile q (0..1): the upper bound of the bucket holding it (0 if empty).
    std::uint64_t quantile(double q) const noexcept {
        if (total_ == 0) return 0;
        const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < kBuckets; ++i) {
            seen += counts_[i];
            if (seen >= rank) return std::min(upper(i), max_);
        }
        return max_;
    }
    void clear() noexcept { *this = LatencyHistogram{}; }

    static std::size_t index(std::uint64_t ns) noexcept {
        if (ns < kLinear) return ns;
        const unsigned e = static_cast<unsigned>(std::bit_width(ns)) - 6;  // >= 1
        if (e > kMaxExp) return kBuckets - 1;
        return kLinear + std::size_t{e - 1} * kSub + ((ns >> e) & (kSub - 1));
    }
    // The largest value that falls in bucket i.
    static std::uint64_t upper(std::size_t i) noexcept {
        if (i < kLinear) return i;
        const std::size_t e = (i - kLinear) / kSub + 1, sub = (i - kLinear) % kSub;
        return ((std::uint64_t{kSub + sub} + 1) << e) - 1;
    }

  private:
    std::array<std::uint64_t, kBuckets> counts_{};
    std::uint64_t total_ = 0, max_ = 0;
};

}  // namespace vfgate::bench
