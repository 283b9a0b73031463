#pragma once
// A worker's connection table: a fixed-capacity rte_hash (cuckoo, with an extension table so
// that every one of `capacity` entries can be used) from ConnKey to a position, and an array of
// entries at those positions. Owned by one worker, which is the only thread that reads or
// writes it (listing goes through the worker: see CtDump); so no locks and no RCU inside.
// Never resizes: a full table refuses the insert and the caller drops the new connection.
//
// Expiry is lazy (a lookup that finds an expired entry treats it as absent) plus a sweep of a
// few positions per loop pass, which frees expired entries for reuse.

#include <cstdint>
#include <memory>
#include <string>

#include <rte_hash.h>

#include <vfgate/common/error.hpp>

#include "conntrack.hpp"

namespace vfgate::dataplane {

struct CtEntry {
    static constexpr std::uint8_t kInUse = 0x01;
    static constexpr std::uint8_t kOrigSwapped = 0x02;  // conn_key's `swapped` of the originator
    static constexpr std::uint8_t kEgress = 0x04;       // allowed by egress rules (else ingress)

    std::uint64_t expires = 0;               // TSC
    std::array<std::uint32_t, 2> packets{};  // from the originator, and replies
    std::uint32_t epoch = 0;                 // the firewall's epoch it was allowed under
    std::uint32_t rule = 0;                  // the allowing rule's index + 1; 0: the default
    CtState state = CtState::kUdpUnreplied;
    std::uint8_t flags = 0;
};

class ConnTable {
  public:
    static Result<std::unique_ptr<ConnTable>> create(unsigned worker, std::uint32_t capacity,
                                                     int socket);
    ~ConnTable();
    ConnTable(const ConnTable&) = delete;
    ConnTable& operator=(const ConnTable&) = delete;

    // Positions of up to RTE_HASH_LOOKUP_BULK_MAX keys (negative: absent).
    void lookup(const void** keys, std::uint32_t n, std::int32_t* positions) const noexcept {
        rte_hash_lookup_bulk(hash_, keys, n, positions);
    }
    // The key's position, or negative when the table is full. `fresh`: the key was absent, and
    // its entry is now a blank one marked in use (else the entry is left as it was).
    std::int32_t insert(const ConnKey& k, bool& fresh) noexcept;
    void erase(std::int32_t pos) noexcept;

    CtEntry& at(std::int32_t pos) noexcept { return entries_[pos]; }
    const CtEntry& at(std::int32_t pos) const noexcept { return entries_[pos]; }
    const ConnKey* key_at(std::int32_t pos) const noexcept;

    // Frees expired entries among the next `budget` positions; returns how many.
    std::uint32_t sweep(std::uint64_t now, std::uint32_t budget) noexcept;

    std::uint32_t size() const noexcept { return size_; }
    std::uint32_t capacity() const noexcept { return capacity_; }
    std::int32_t positions() const noexcept { return positions_; }
    // Bytes this table holds in DPDK memory (its hash and entries).
    std::size_t memory_bytes() const noexcept { return memory_; }

  private:
    ConnTable() = default;
    rte_hash* hash_ = nullptr;
    CtEntry* entries_ = nullptr;
    std::uint32_t capacity_ = 0;
    std::int32_t positions_ = 0;  // entries_ has this many
    std::uint32_t size_ = 0;
    std::int32_t cursor_ = 0;
    std::size_t memory_ = 0;
};

}  // namespace vfgate::dataplane
