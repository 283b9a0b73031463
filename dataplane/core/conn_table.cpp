#include "conn_table.hpp"

#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace vfgate::dataplane {
namespace {

template <class T>
T* zalloc(const TableMemory& m, const char* what, std::size_t n, std::size_t& total) {
    const std::size_t bytes = sizeof(T) * n;
    auto* p = static_cast<T*>(m.zalloc(what, bytes));
    if (p != nullptr) total += bytes;
    return p;
}

inline void prefetch(const void* p) noexcept { __builtin_prefetch(p, 0, 3); }

}  // namespace

unsigned ct_tick_shift(std::uint64_t tsc_hz) noexcept {
    // A tick of more than 2 ms and at most 4 (2^bit_width(c) is in (c, 2c]): 2^31 ticks, the
    // longest timeout ct_expired's modular compare allows, are then more than 49 days.
    return static_cast<unsigned>(std::bit_width(tsc_hz / 1000)) + 1;
}

TableMemory heap_memory() {
    return TableMemory{[](const char*, std::size_t bytes) -> void* {
                           const std::size_t size = (bytes + 63) / 64 * 64;
                           void* p = std::aligned_alloc(64, size);
                           if (p != nullptr) std::memset(p, 0, size);
                           return p;
                       },
                       [](void* p) { std::free(p); }};  // NOLINT(cppcoreguidelines-no-malloc)
}

Result<std::unique_ptr<ConnTable>> ConnTable::create(std::uint32_t capacity, std::uint64_t tsc_hz,
                                                     TableMemory memory) {
    if (capacity == 0 || capacity > (1U << 30)) {
        return fail(ErrorKind::kInvalidArgument,
                    "connection table capacity " + std::to_string(capacity) + ": want 1 to 2^30");
    }
    std::unique_ptr<ConnTable> t(new ConnTable(std::move(memory)));
    const std::uint32_t buckets = std::max<std::uint32_t>(16, std::bit_ceil((capacity + 1) / 2));
    t->bucket_bits_ = static_cast<unsigned>(std::countr_zero(buckets));
    t->bucket_mask_ = buckets - 1;
    const TableMemory& m = t->memory_fns_;
    t->buckets_ = zalloc<Bucket>(m, "vfgate_ct_buckets", buckets, t->memory_);
    t->entries_ = zalloc<CtEntry>(m, "vfgate_ct_entries", capacity, t->memory_);
    t->free_ = zalloc<std::uint32_t>(m, "vfgate_ct_free", capacity, t->memory_);
    if (t->buckets_ == nullptr || t->entries_ == nullptr || t->free_ == nullptr) {
        return fail(ErrorKind::kSystem,
                    "no memory for a connection table of " + std::to_string(capacity) + " entries");
    }
    // Positions are handed out from 0 up: new connections fill the entries in order.
    for (std::uint32_t i = 0; i < capacity; ++i) t->free_[i] = capacity - 1 - i;
    t->free_top_ = capacity;
    t->capacity_ = capacity;
    t->tick_shift_ = ct_tick_shift(tsc_hz);
    return t;
}

ConnTable::~ConnTable() {
    for (void* p :
         {static_cast<void*>(free_), static_cast<void*>(entries_), static_cast<void*>(buckets_)}) {
        if (p != nullptr) memory_fns_.free(p);
    }
}

ConnTable::Hashed ConnTable::hash(const ConnKey& k) const noexcept {
    const std::uint32_t h = hash_of(k);
    return Hashed{h & bucket_mask_, secondary_of(h), sig_of(h)};
}

std::int32_t ConnTable::find(const ConnKey& k) const noexcept { return find(hash(k), k); }

std::uint32_t ConnTable::primary_bucket(const ConnKey& k) const noexcept { return hash(k).primary; }
std::uint32_t ConnTable::secondary_bucket(const ConnKey& k) const noexcept {
    return hash(k).secondary;
}

std::int32_t ConnTable::find(const Hashed& h, const ConnKey& k) const noexcept {
    const Bucket& b = buckets_[h.primary];
    std::int32_t pos = find_in(b, h.sig, k);
    if (pos < 0 && b.overflow != 0) pos = find_in(buckets_[h.secondary], h.sig, k);
    return pos;
}

void ConnTable::lookup(const ConnKey* const* keys, std::uint32_t n,
                       std::int32_t* positions) const noexcept {
    // Scratch, written before read.
    std::array<std::uint32_t, kBulkMax> hashes;  // NOLINT(cppcoreguidelines-pro-type-member-init)
    std::array<std::uint32_t, kBulkMax> slots;   // NOLINT(cppcoreguidelines-pro-type-member-init)
    for (std::uint32_t i = 0; i < n; ++i) {
        hashes[i] = hash_of(*keys[i]);
        prefetch_bucket(hashes[i]);
    }
    for (std::uint32_t i = 0; i < n; ++i) slots[i] = candidates(hashes[i]);
    for (std::uint32_t i = 0; i < n; ++i) positions[i] = resolve(hashes[i], slots[i], *keys[i]);
}

bool ConnTable::reclaim(std::uint32_t now) noexcept {
    for (std::uint32_t i = 0; i < kEvictScan; ++i) {
        const std::uint32_t pos = hand_;
        hand_ = hand_ + 1 == capacity_ ? 0 : hand_ + 1;
        const CtEntry& e = entries_[pos];
        if ((e.flags & CtEntry::kInUse) == 0) continue;  // freed since: taken by then
        const bool expired = ct_expired(e.expires, now);
        if (!expired && !evictable(e.state)) continue;
        ++(expired ? expired_ : evicted_);
        erase(static_cast<std::int32_t>(pos));
        prefetch(&entries_[hand_]);  // the next eviction's first look
        return true;
    }
    return false;
}

std::int32_t ConnTable::insert(const ConnKey& k, std::uint32_t now) noexcept {
    const Hashed h = hash(k);
    if (const std::int32_t pos = find(h, k); pos >= 0) return pos;
    Bucket* b = &buckets_[h.primary];
    auto empty = [](const Bucket& x) {
        for (unsigned i = 0; i < Bucket::kSlots; ++i) {
            if (x.sig[i] == 0) return static_cast<int>(i);
        }
        return -1;
    };
    int slot = empty(*b);
    if (slot < 0) {
        b = &buckets_[h.secondary];
        slot = empty(*b);
        // Both full (practically never below capacity): refused before anything is evicted
        // for it.
        if (slot < 0) return -ENOSPC;
    }
    // An eviction frees a slot (in some bucket) and takes none: `slot` stays free.
    if (free_top_ == 0 && !reclaim(now)) return -ENOSPC;
    if (b != &buckets_[h.primary]) ++buckets_[h.primary].overflow;
    const std::uint32_t pos = free_[--free_top_];
    b->sig[static_cast<unsigned>(slot)] = h.sig;
    b->slot[static_cast<unsigned>(slot)] = pos;
    CtEntry& e = entries_[pos];
    e = CtEntry{};
    e.key = k;
    e.flags = CtEntry::kInUse;
    ++size_;
    return static_cast<std::int32_t>(pos);
}

void ConnTable::erase(std::int32_t pos) noexcept {
    CtEntry& e = entries_[pos];
    if ((e.flags & CtEntry::kInUse) == 0) return;
    const Hashed h = hash(e.key);
    const auto upos = static_cast<std::uint32_t>(pos);
    auto take = [&](Bucket& b) {
        for (unsigned i = 0; i < Bucket::kSlots; ++i) {
            if (b.sig[i] == h.sig && b.slot[i] == upos) {
                b.sig[i] = 0;
                return true;
            }
        }
        return false;
    };
    if (!take(buckets_[h.primary]) && take(buckets_[h.secondary])) {
        --buckets_[h.primary].overflow;
    }
    set_state(e, CtState::kUdpUnreplied);
    e.flags = 0;
    free_[free_top_++] = upos;
    --size_;
}

std::uint32_t ConnTable::sweep(std::uint32_t now, std::uint32_t budget) noexcept {
    std::uint32_t freed = 0;
    for (std::uint32_t i = 0; i < budget; ++i) {
        const std::uint32_t pos = cursor_;
        cursor_ = cursor_ + 1 == capacity_ ? 0 : cursor_ + 1;
        const CtEntry& e = entries_[pos];
        if ((e.flags & CtEntry::kInUse) != 0 && ct_expired(e.expires, now)) {
            erase(static_cast<std::int32_t>(pos));
            ++freed;
        }
    }
    expired_ += freed;
    // The next pass's positions are fetched meanwhile (each is a cache miss otherwise).
    prefetch(&entries_[cursor_]);
    if (budget > 1) prefetch(&entries_[cursor_ + 1 == capacity_ ? 0 : cursor_ + 1]);
    return freed;
}

}  // namespace vfgate::dataplane
