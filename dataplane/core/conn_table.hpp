#pragma once
// A worker's connection table: fixed capacity, owned by one worker, which is the only thread
// that reads or writes it (listing goes through the worker: see CtDump); so no locks and no RCU
// inside. Never resizes. When it is full, a new connection takes the place of an expired entry
// or, failing that, evicts one that was never answered (see evictable()), the oldest first; a
// table full of answered connections refuses the insert and the caller drops the new one. Plain
// C++: its memory comes from the caller (hugepages in the dataplane, the heap in tests), the hash
// is the CPU's CRC32-C instruction.
//
// Built for the packet path (docs/firewall.md, "Connection table"): a lookup reads one bucket
// line and one entry line.
//   - Buckets (64 bytes): 8 slots of a 16-bit signature and an entry position. There are at
//     least capacity / 2 of them (a power of two), so a full table averages 2 keys per bucket.
//     A key goes to its primary bucket; only if that is full, to its secondary one, and the
//     primary counts the overflow, so that lookups read the secondary only then (almost never).
//   - Entries (64 bytes, one cache line): the key and the connection's state together, handed
//     out from a stack of free positions (the most recently freed first, still in cache).
// Lookups come in bulk: hash and prefetch every bucket, then match signatures and prefetch
// the candidate entries, then compare keys.
//
// Expiry is lazy (a lookup that finds an expired entry reports it; the caller treats it as
// absent) plus a sweep of a few positions per loop pass, which frees expired entries for reuse.
// Eviction, when the table is full, walks the entries with a clock hand: positions are reused
// where they were freed, so the hand meets entries roughly in the order they were made (FIFO),
// skipping those it may not evict; it looks at most kEvictScan entries per insert.
// Times are 32-bit ticks of 2^tick_shift TSC cycles (about 2-4 ms), compared modulo 2^32: a
// timeout must stay below 2^31 ticks (at least 49 days; config-v1 caps timeouts at 30).

#include <array>
#include <cstdint>
#include <functional>
#include <memory>

#include <vfgate/common/error.hpp>

#include "conntrack.hpp"

namespace vfgate::dataplane {

struct alignas(64) CtEntry {
    static constexpr std::uint8_t kInUse = 0x01;
    static constexpr std::uint8_t kOrigSwapped = 0x02;  // conn_key's `swapped` of the originator
    static constexpr std::uint8_t kEgress = 0x04;       // allowed by egress rules (else ingress)

    ConnKey key;
    std::uint32_t expires = 0;               // ticks
    std::array<std::uint32_t, 2> packets{};  // from the originator, and replies
    std::uint32_t epoch = 0;                 // the firewall's epoch it was allowed under
    std::uint32_t rule = 0;                  // the allowing rule's index + 1; 0: the default
    CtState state = CtState::kUdpUnreplied;
    std::uint8_t flags = 0;
};
static_assert(sizeof(CtEntry) == 64, "an entry is one cache line");

// Entries a new connection may take when the table is full: connections never answered (TCP SYN
// sent, UDP one way, ICMP echo), TCP connections closing or closed, and remembered denials.
// Answered ones (TCP established or half-closed, UDP replied) are never evicted, so that a flood
// of new connections can't push out the connections that carry traffic. (TCP picked up
// mid-stream counts as established.)
constexpr bool evictable(CtState s) noexcept {
    return s != CtState::kTcpEstablished && s != CtState::kTcpFinWait && s != CtState::kUdpReplied;
}

// Ticks: TSC cycles >> ct_tick_shift(hz), about 2 to 4 ms each.
unsigned ct_tick_shift(std::uint64_t tsc_hz) noexcept;
constexpr bool ct_expired(std::uint32_t expires, std::uint32_t now) noexcept {
    return static_cast<std::int32_t>(expires - now) <= 0;
}

// Where a table's arrays live: `zalloc` returns zeroed memory aligned to 64 bytes (or null),
// `free` gives it back. The dataplane passes hugepage memory on its socket.
struct TableMemory {
    std::function<void*(const char* what, std::size_t bytes)> zalloc;
    std::function<void(void*)> free;
};
TableMemory heap_memory();  // the process heap

class ConnTable {
  public:
    static constexpr std::uint32_t kBulkMax = 64;
    static constexpr std::uint32_t kEvictScan = 16;  // entries eviction looks at per insert

    // A table of `capacity` entries whose ticks are TSC cycles >> ct_tick_shift(tsc_hz).
    static Result<std::unique_ptr<ConnTable>> create(std::uint32_t capacity, std::uint64_t tsc_hz,
                                                     TableMemory memory);
    ~ConnTable();
    ConnTable(const ConnTable&) = delete;
    ConnTable& operator=(const ConnTable&) = delete;

    // Positions of up to kBulkMax keys (negative: absent). Entries found are in cache after.
    void lookup(const ConnKey* const* keys, std::uint32_t n,
                std::int32_t* positions) const noexcept;
    // The key's position, or negative when there is no room. A key that was absent gets a blank
    // entry (with the key) marked in use; a present one keeps its entry as it was. A full table
    // first frees an expired or evictable entry (at tick `now`).
    std::int32_t insert(const ConnKey& k, std::uint32_t now) noexcept;
    void erase(std::int32_t pos) noexcept;

    CtEntry& at(std::int32_t pos) noexcept { return entries_[pos]; }
    // Sets an entry's state, counting the entries that remember a denied flow.
    void set_state(CtEntry& e, CtState s) noexcept {
        denied_ += static_cast<std::uint32_t>(s == CtState::kDenied);
        denied_ -= static_cast<std::uint32_t>(e.state == CtState::kDenied);
        e.state = s;
    }
    const CtEntry& at(std::int32_t pos) const noexcept { return entries_[pos]; }

    // Frees expired entries among the next `budget` positions; returns how many.
    std::uint32_t sweep(std::uint32_t now, std::uint32_t budget) noexcept;

    std::uint32_t ticks(std::uint64_t tsc) const noexcept {
        return static_cast<std::uint32_t>(tsc >> tick_shift_);
    }

    std::uint32_t size() const noexcept { return size_; }
    // Since the table was made: entries freed because they expired (by the sweep or for a new
    // connection), and entries evicted for a new connection before they expired.
    std::uint64_t expired() const noexcept { return expired_; }
    std::uint64_t evicted() const noexcept { return evicted_; }
    std::uint32_t denied() const noexcept { return denied_; }  // entries in state kDenied
    // At most this many entries remember denied flows: a scan of closed ports can't take the
    // room of connections.
    std::uint32_t denied_limit() const noexcept { return capacity_ / 8; }
    std::uint32_t capacity() const noexcept { return capacity_; }
    std::int32_t positions() const noexcept { return static_cast<std::int32_t>(capacity_); }
    // Bytes this table holds in DPDK memory (buckets, entries, free positions).
    std::size_t memory_bytes() const noexcept { return memory_; }
    // The bucket a key tries first (tests use it to fill one bucket past its 8 slots).
    std::uint32_t primary_bucket(const ConnKey& k) const noexcept;

  private:
    struct alignas(64) Bucket {
        static constexpr unsigned kSlots = 8;
        std::array<std::uint16_t, kSlots> sig;   // 0: the slot is empty
        std::array<std::uint32_t, kSlots> slot;  // the entry's position
        std::uint32_t overflow;  // keys of this primary bucket that live in their secondary
    };
    struct Hashed {
        std::uint32_t primary, secondary;
        std::uint16_t sig;
    };

    explicit ConnTable(TableMemory memory) : memory_fns_(std::move(memory)) {}
    [[gnu::always_inline]] static inline std::uint32_t crc(const ConnKey& k) noexcept;
    [[gnu::always_inline]] static inline std::uint16_t sig_of(std::uint32_t crc) noexcept;
    [[gnu::always_inline]] inline std::uint32_t secondary_of(std::uint32_t crc) const noexcept;
    [[gnu::always_inline]] inline Hashed hash(const ConnKey& k) const noexcept;
    // The position of `k` in bucket `b` (matching `sig`), or -1.
    [[gnu::always_inline]] inline std::int32_t find_in(const Bucket& b, std::uint16_t sig,
                                                       const ConnKey& k) const noexcept;
    [[gnu::always_inline]] inline std::int32_t find(const Hashed& h,
                                                    const ConnKey& k) const noexcept;
    [[gnu::always_inline]] static inline std::uint32_t sig_matches(const Bucket& b,
                                                                   std::uint16_t sig) noexcept;

    Bucket* buckets_ = nullptr;
    CtEntry* entries_ = nullptr;
    std::uint32_t* free_ = nullptr;  // a stack of free positions
    std::uint32_t free_top_ = 0;
    std::uint32_t bucket_mask_ = 0;
    unsigned bucket_bits_ = 0;
    unsigned tick_shift_ = 0;
    std::uint32_t capacity_ = 0;
    std::uint32_t size_ = 0;
    // Frees an expired or evictable entry near the clock hand; false when none is in reach.
    bool reclaim(std::uint32_t now) noexcept;

    std::uint32_t denied_ = 0;
    std::uint32_t cursor_ = 0;  // the sweep's
    std::uint32_t hand_ = 0;    // eviction's
    std::uint64_t expired_ = 0, evicted_ = 0;
    std::size_t memory_ = 0;
    TableMemory memory_fns_;
};

}  // namespace vfgate::dataplane
