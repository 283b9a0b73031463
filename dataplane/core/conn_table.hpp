#pragma once
// A worker's connection table: fixed capacity, one per worker, whose thread is the only one that
// reads or writes it (listing goes through the worker: see CtDump); so no locks and no RCU
// inside. Never resizes. When it is full, a new connection takes the first entry the eviction's
// clock hand meets that has expired or may be evicted (evictable(): never answered, closing, or a
// remembered denial); when the hand finds none within kEvictScan entries, the insert is refused
// and the caller drops the new connection. Plain C++: its memory comes from the caller (hugepages
// in the dataplane, the heap in tests), the hash is the CPU's CRC32-C instruction.
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
// timeout must stay below 2^31 ticks (at least 49 days; the config caps timeouts at 30 days).

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>

#include <vfgate/common/error.hpp>

#include "conntrack.hpp"

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace vfgate::dataplane {

struct alignas(64) CtEntry {
    static constexpr std::uint8_t kInUse = 0x01;
    static constexpr std::uint8_t kOrigSwapped = 0x02;  // conn_key's `swapped` of the originator
    static constexpr std::uint8_t kEgress = 0x04;       // decided by egress rules (else ingress)

    ConnKey key;
    std::uint32_t expires = 0;               // ticks
    std::array<std::uint32_t, 2> packets{};  // from the originator, and replies
    // The rules that decided it (allowed it, or denied it for a kDenied entry): the firewall's
    // epoch, and the rule's index + 1 (0: the default).
    std::uint32_t epoch = 0;
    std::uint32_t rule = 0;
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
    // One key's position (negative: absent), off the bulk path.
    std::int32_t find(const ConnKey& k) const noexcept;
    // The same lookup in steps, for a caller that hashes each key as it makes it (while its
    // words are in registers) and keeps its own arrays; lookup() is these steps over a burst:
    //   1. hash_of(key), and prefetch_bucket(hash);
    //   2. candidates(hash): the key's candidate slots in its bucket (fetches the first's entry);
    //   3. resolve(hash, candidates, key): its position, or negative.
    // Each step for every key of a burst before the next step for any, so that the fetches of
    // one key overlap the work on the others.
    [[gnu::always_inline]] static inline std::uint32_t hash_of(const ConnKey& k) noexcept;
    // hash_of an IPv4 key from its two significant words (make_conn_key_ipv4's).
    [[gnu::always_inline]] static inline std::uint32_t hash_ipv4(std::uint64_t w0,
                                                                 std::uint64_t w1) noexcept;
    void prefetch_bucket(std::uint32_t hash) const noexcept {
        __builtin_prefetch(&buckets_[hash & bucket_mask_], 0, 3);
    }
    [[gnu::always_inline]] inline std::uint32_t candidates(std::uint32_t hash) const noexcept;
    [[gnu::always_inline]] inline std::int32_t resolve(std::uint32_t hash, std::uint32_t candidates,
                                                       const ConnKey& k) const noexcept;
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
    // The buckets a key tries first and second (tests use them to fill a key's buckets).
    std::uint32_t primary_bucket(const ConnKey& k) const noexcept;
    std::uint32_t secondary_bucket(const ConnKey& k) const noexcept;

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
    [[gnu::always_inline]] static inline std::uint16_t sig_of(std::uint32_t crc) noexcept;
    [[gnu::always_inline]] inline std::uint32_t secondary_of(std::uint32_t crc) const noexcept;
    [[gnu::always_inline]] inline Hashed hash(const ConnKey& k) const noexcept;
    // The position of `k` among the slots of bucket `b` that `matches` marks (sig_matches), or -1.
    [[gnu::always_inline]] inline std::int32_t first_of(const Bucket& b, std::uint32_t matches,
                                                        const ConnKey& k) const noexcept;
    // The position of `k` in bucket `b` (matching `sig`), or -1.
    [[gnu::always_inline]] std::int32_t find_in(const Bucket& b, std::uint16_t sig,
                                                const ConnKey& k) const noexcept {
        return first_of(b, sig_matches(b, sig), k);
    }
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

// The packet path's steps, inline: the stage calls them per packet.
namespace conn_table_detail {

// The key as five 8-byte words (IPv4 keys use the first two: the rest is zero), each read
// with one load: a copy of the whole key to an array first cost a stack round trip per word.
inline constexpr std::size_t kWords = sizeof(ConnKey) / sizeof(std::uint64_t);
[[gnu::always_inline]] inline std::uint64_t word(const ConnKey& k, std::size_t i) noexcept {
    std::uint64_t v = 0;
    std::memcpy(&v, reinterpret_cast<const std::byte*>(&k) + i * sizeof v, sizeof v);
    return v;
}
constexpr bool is_v6(std::uint64_t word0) noexcept {
    return ((word0 >> (std::endian::native == std::endian::little ? 16 : 40)) & 0xff) == 6;
}

[[gnu::always_inline]] inline bool same_key(const ConnKey& a, const ConnKey& b) noexcept {
    // As words, no early exit: cheaper than memcmp's call and branches. The first word holds
    // the family: equal first words mean the same number of significant words.
    const std::uint64_t a0 = word(a, 0);
    std::uint64_t d = (a0 ^ word(b, 0)) | (word(a, 1) ^ word(b, 1));
    if (is_v6(a0)) {
        d |= (word(a, 2) ^ word(b, 2)) | (word(a, 3) ^ word(b, 3)) | (word(a, 4) ^ word(b, 4));
    }
    return d == 0;
}

#if !defined(__SSE4_2__)
// CRC32-C without the instruction, a bit at a time (only where the CPU lacks SSE 4.2).
inline std::uint32_t crc32c(std::uint32_t c, std::uint64_t v) noexcept {
    for (int i = 0; i < 64; ++i, v >>= 1) {
        c = ((c ^ static_cast<std::uint32_t>(v)) & 1U) != 0 ? (c >> 1) ^ 0x82f63b78U : c >> 1;
    }
    return c;
}
#endif

}  // namespace conn_table_detail

std::uint32_t ConnTable::hash_ipv4(std::uint64_t w0, std::uint64_t w1) noexcept {
#if defined(__SSE4_2__)
    // CRC32-C, inline (rte_hash_crc re-checks the CPU at every word).
    return static_cast<std::uint32_t>(_mm_crc32_u64(_mm_crc32_u64(0, w0), w1));
#else
    return conn_table_detail::crc32c(conn_table_detail::crc32c(0, w0), w1);
#endif
}

std::uint32_t ConnTable::hash_of(const ConnKey& k) noexcept {
    // CRC32-C of the significant words: IPv4 keys' first two (the rest is zero), IPv6 all five.
    using namespace conn_table_detail;
    const std::uint64_t w0 = word(k, 0);
    std::uint32_t c = hash_ipv4(w0, word(k, 1));
    if (!is_v6(w0)) return c;
    for (std::size_t i = 2; i < kWords; ++i) {
#if defined(__SSE4_2__)
        c = static_cast<std::uint32_t>(_mm_crc32_u64(c, word(k, i)));
#else
        c = crc32c(c, word(k, i));
#endif
    }
    return c;
}

// The bucket comes from the low bits of the hash, the signature and the secondary bucket from
// two multiplicative mixes (whose high bits depend on every bit of it).
std::uint16_t ConnTable::sig_of(std::uint32_t h) noexcept {
    const auto sig = static_cast<std::uint16_t>((h * 0x9e3779b1U) >> 16);
    return sig == 0 ? 1 : sig;  // 0 marks an empty slot
}

std::uint32_t ConnTable::secondary_of(std::uint32_t h) const noexcept {
    const std::uint32_t primary = h & bucket_mask_;
    const std::uint32_t secondary = ((h * 0x85ebca6bU) >> (32 - bucket_bits_)) & bucket_mask_;
    return secondary == primary ? secondary ^ 1 : secondary;
}

std::uint32_t ConnTable::sig_matches(const Bucket& b, std::uint16_t sig) noexcept {
#if defined(__SSE2__)
    const __m128i sigs = _mm_load_si128(reinterpret_cast<const __m128i*>(b.sig.data()));
    const __m128i eq = _mm_cmpeq_epi16(sigs, _mm_set1_epi16(static_cast<std::int16_t>(sig)));
    // Two mask bits per 16-bit lane: keep one.
    return static_cast<std::uint32_t>(_mm_movemask_epi8(eq)) & 0x5555U;
#else
    std::uint32_t m = 0;
    for (unsigned i = 0; i < Bucket::kSlots; ++i) m |= (b.sig[i] == sig ? 1U : 0U) << (2 * i);
    return m;
#endif
}

std::int32_t ConnTable::first_of(const Bucket& b, std::uint32_t matches,
                                 const ConnKey& k) const noexcept {
    for (std::uint32_t m = matches; m != 0; m &= m - 1) {
        const std::uint32_t pos = b.slot[static_cast<unsigned>(std::countr_zero(m)) / 2];
        if (conn_table_detail::same_key(entries_[pos].key, k)) {
            return static_cast<std::int32_t>(pos);
        }
    }
    return -1;
}

std::uint32_t ConnTable::candidates(std::uint32_t hash) const noexcept {
    const Bucket& b = buckets_[hash & bucket_mask_];
    const std::uint32_t m = sig_matches(b, sig_of(hash));
    if (m != 0) {
        __builtin_prefetch(&entries_[b.slot[static_cast<unsigned>(std::countr_zero(m)) / 2]], 0, 3);
    }
    return m;
}

std::int32_t ConnTable::resolve(std::uint32_t hash, std::uint32_t candidates,
                                const ConnKey& k) const noexcept {
    const Bucket& b = buckets_[hash & bucket_mask_];
    const std::int32_t pos = first_of(b, candidates, k);
    // The secondary bucket only when keys of this one overflowed there (almost never).
    if (pos >= 0 || b.overflow == 0) return pos;
    return find_in(buckets_[secondary_of(hash)], sig_of(hash), k);
}

}  // namespace vfgate::dataplane
