#include "verdict_cache.hpp"

#include <algorithm>
#include <bit>
#include <string>

namespace vfgate::dataplane {

Result<std::unique_ptr<VerdictCache>> VerdictCache::create(std::uint32_t entries,
                                                           TableMemory memory) {
    if (entries == 0 || entries > (1U << 30)) {
        return fail(ErrorKind::kInvalidArgument,
                    "verdict cache of " + std::to_string(entries) + " entries: want 1 to 2^30");
    }
    std::unique_ptr<VerdictCache> c(new VerdictCache(std::move(memory)));
    const std::uint32_t buckets = std::max<std::uint32_t>(8, std::bit_ceil(entries) / kWays);
    c->buckets_ = static_cast<Bucket*>(
        c->memory_fns_.zalloc("vfgate_verdict_cache", std::size_t{buckets} * sizeof(Bucket)));
    if (c->buckets_ == nullptr) {
        return fail(ErrorKind::kSystem,
                    "no memory for a verdict cache of " + std::to_string(entries) + " entries");
    }
    c->mask_ = buckets - 1;
    return c;
}

VerdictCache::~VerdictCache() {
    if (buckets_ != nullptr) memory_fns_.free(buckets_);
}

}  // namespace vfgate::dataplane
