#pragma once
// The verdict cache (docs/firewall.md, "The verdict cache"): per worker, the rule a stateless
// firewall's rule set matched for a flow, so that the flow's next packets skip the classifier.
//
// Only plain IPv4 TCP and UDP packets (is_plain_ipv4_l4) are kept. For those the rules read
// nothing but the protocol, the addresses and the ports (acl::fill_key), so the rule one packet
// of a flow matched is the rule every packet of it matches, for as long as the rule set stays.
// An entry names its rule set by the firewall's epoch (unique per build) and the direction: a
// reload's rules never meet the verdicts of the rules they replace, and nothing is flushed.
//
// Fixed capacity, set-associative: a bucket is one cache line of two entries. A new flow takes
// an empty entry, or one its NIC's older rules left; else it evicts the entry filled less
// recently, but only on a share of misses (learn): with more flows than room, evicting on every
// miss would have flows push each other out before their next packet, so the flows in the cache
// stay long enough to be hit. Hot path: no allocation, no locks.

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>

#include <vfgate/common/error.hpp>

#include "conn_table.hpp"

namespace vfgate::dataplane {

// A packet's flow as the cache knows it: three words, compared whole.
struct VerdictKey {
    std::uint64_t addrs = 0;  // the IPv4 source and destination, as in the header (bytes 12-19)
    std::uint64_t ports = 0;  // source and destination port as in the header (bytes 20-23), epoch
    std::uint32_t rest = 0;   // protocol, direction (with a bit no empty entry has), zone
    bool operator==(const VerdictKey&) const = default;
};

// The key of a plain IPv4 TCP or UDP packet (`ip`: its IP header) meeting the rule set of
// direction `dir` (0 ingress, 1 egress) of NIC `zone`'s firewall built as `epoch`.
inline VerdictKey make_verdict_key(const std::uint8_t* ip, std::uint32_t zone, std::uint32_t epoch,
                                   std::uint8_t dir) noexcept {
    VerdictKey k;
    std::uint32_t ports = 0;
    std::memcpy(&k.addrs, ip + 12, sizeof k.addrs);
    std::memcpy(&ports, ip + 20, sizeof ports);
    k.ports = std::uint64_t{ports} << 32 | epoch;
    k.rest = std::uint32_t{ip[9]} | (std::uint32_t{dir} | 0x80U) << 8 | zone << 16;
    return k;
}

class VerdictCache {
  public:
    static constexpr std::uint32_t kMiss = 0xffffffff;

    // A cache of at least `entries` entries (rounded up to a power of two, at least 16).
    static Result<std::unique_ptr<VerdictCache>> create(std::uint32_t entries, TableMemory memory);
    ~VerdictCache();
    VerdictCache(const VerdictCache&) = delete;
    VerdictCache& operator=(const VerdictCache&) = delete;
    VerdictCache(VerdictCache&&) = delete;
    VerdictCache& operator=(VerdictCache&&) = delete;

    static std::uint32_t hash(const VerdictKey& k) noexcept {
        return ConnTable::hash_ipv4(k.addrs, k.ports ^ std::uint64_t{k.rest} << 16);
    }
    void prefetch(std::uint32_t hash) const noexcept {
        __builtin_prefetch(&buckets_[hash & mask_], 0, 3);
    }
    // The match remembered for `k` (the rule's index + 1, 0 for the default), or kMiss.
    std::uint32_t find(std::uint32_t hash, const VerdictKey& k) const noexcept {
        const Bucket& b = buckets_[hash & mask_];
        for (const Entry& e : b.way) {
            if (e.holds(k)) return e.match;
        }
        return kMiss;
    }
    // Remembers `match` for `k`; false when the bucket had no room and `evict` was false.
    bool store(std::uint32_t hash, const VerdictKey& k, std::uint32_t match, bool evict) noexcept {
        Bucket& b = buckets_[hash & mask_];
        std::uint32_t way = kWays;
        for (std::uint32_t w = 0; w < kWays; ++w) {
            Entry& e = b.way[w];
            if (e.holds(k)) {
                e.match = match;
                return true;
            }
            if (way == kWays && (e.rest == 0 || e.outdated_by(k))) way = w;
        }
        if (way == kWays) {
            if (!evict) return false;
            way = b.next;
        }
        b.way[way] = Entry{k.addrs, k.ports, k.rest, match};
        b.next = static_cast<std::uint8_t>(way ^ 1);
        return true;
    }

    // A classified flow's `match`, as the packet path hands it over: stored where there is room;
    // a full bucket gives way one time in kEvictEvery (the draw is xorshift32, so that no pattern
    // in the traffic can line up with it).
    static constexpr std::uint32_t kEvictEvery = 8;
    void learn(std::uint32_t hash, const VerdictKey& k, std::uint32_t match) noexcept {
        random_ ^= random_ << 13;
        random_ ^= random_ >> 17;
        random_ ^= random_ << 5;
        (void)store(hash, k, match, random_ % kEvictEvery == 0);
    }

    std::uint32_t capacity() const noexcept { return (mask_ + 1) * kWays; }
    std::size_t memory_bytes() const noexcept { return std::size_t{mask_ + 1} * sizeof(Bucket); }

  private:
    static constexpr std::uint32_t kWays = 2;
    struct Entry {  // a VerdictKey and its match in 24 bytes
        std::uint64_t addrs = 0, ports = 0;
        std::uint32_t rest = 0;  // 0: empty
        std::uint32_t match = 0;
        bool holds(const VerdictKey& k) const noexcept {
            return addrs == k.addrs && ports == k.ports && rest == k.rest;
        }
        // Made for the same NIC and direction under other (older) rules: no use any more.
        bool outdated_by(const VerdictKey& k) const noexcept {
            return (rest >> 8) == (k.rest >> 8) &&
                   static_cast<std::uint32_t>(ports) != static_cast<std::uint32_t>(k.ports);
        }
    };
    struct alignas(64) Bucket {
        std::array<Entry, kWays> way;
        std::uint8_t next = 0;  // the way a new flow takes
    };
    static_assert(sizeof(Bucket) == 64, "a bucket is one cache line");

    explicit VerdictCache(TableMemory memory) : memory_fns_(std::move(memory)) {}

    TableMemory memory_fns_;
    Bucket* buckets_ = nullptr;
    std::uint32_t mask_ = 0;
    std::uint32_t random_ = 0x9e3779b9;  // learn()'s draws
};

}  // namespace vfgate::dataplane
