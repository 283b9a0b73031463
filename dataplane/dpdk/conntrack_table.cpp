#include "conntrack_table.hpp"

#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

namespace vfgate::dataplane {
namespace {

std::size_t heap_used(int socket) {
    rte_malloc_socket_stats st{};
    if (rte_malloc_get_socket_stats(socket, &st) != 0) return 0;
    return st.heap_allocsz_bytes;
}

}  // namespace

Result<std::unique_ptr<ConnTable>> ConnTable::create(unsigned worker, std::uint32_t capacity,
                                                     int socket) {
    std::unique_ptr<ConnTable> t(new ConnTable());
    const std::string name = "vfgate_ct" + std::to_string(worker);
    const std::size_t before = heap_used(socket);
    rte_hash_parameters p{};
    p.name = name.c_str();
    p.entries = capacity;
    p.key_len = sizeof(ConnKey);
    p.hash_func = rte_hash_crc;
    p.hash_func_init_val = 0;
    p.socket_id = socket;
    p.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
    t->hash_ = rte_hash_create(&p);
    if (t->hash_ == nullptr) {
        return fail(ErrorKind::kSystem,
                    "no memory for a connection table of " + std::to_string(capacity) +
                        " entries (worker " + std::to_string(worker) + ", " +
                        rte_strerror(rte_errno) +
                        "): raise dataplane.memory_mb or lower dataplane.conntrack.capacity");
    }
    t->positions_ = rte_hash_max_key_id(t->hash_) + 1;
    t->entries_ = static_cast<CtEntry*>(rte_zmalloc_socket(
        "vfgate_ct_entries", sizeof(CtEntry) * static_cast<std::size_t>(t->positions_),
        RTE_CACHE_LINE_SIZE, socket));
    if (t->entries_ == nullptr) {
        return fail(ErrorKind::kSystem,
                    "no memory for the entries of a connection table of " +
                        std::to_string(capacity) +
                        ": raise dataplane.memory_mb or lower dataplane.conntrack.capacity");
    }
    t->capacity_ = capacity;
    t->memory_ = heap_used(socket) - before;
    return t;
}

ConnTable::~ConnTable() {
    rte_free(entries_);
    rte_hash_free(hash_);
}

std::int32_t ConnTable::insert(const ConnKey& k, bool& fresh) noexcept {
    fresh = false;
    if (size_ >= capacity_) return -ENOSPC;
    std::int32_t pos = rte_hash_add_key(hash_, &k);
    if (pos < 0) return pos;
    if ((entries_[pos].flags & CtEntry::kInUse) == 0) {
        entries_[pos] = CtEntry{};
        entries_[pos].flags = CtEntry::kInUse;
        ++size_;
        fresh = true;
    }
    return pos;
}

void ConnTable::erase(std::int32_t pos) noexcept {
    const ConnKey* k = key_at(pos);
    if (k == nullptr) return;
    rte_hash_del_key(hash_, k);
    entries_[pos].flags = 0;
    --size_;
}

const ConnKey* ConnTable::key_at(std::int32_t pos) const noexcept {
    void* k = nullptr;
    if (rte_hash_get_key_with_position(hash_, pos, &k) != 0) return nullptr;
    return static_cast<const ConnKey*>(k);
}

std::uint32_t ConnTable::sweep(std::uint64_t now, std::uint32_t budget) noexcept {
    std::uint32_t freed = 0;
    for (std::uint32_t i = 0; i < budget; ++i) {
        std::int32_t pos = cursor_;
        cursor_ = cursor_ + 1 == positions_ ? 0 : cursor_ + 1;
        const CtEntry& e = entries_[pos];
        if ((e.flags & CtEntry::kInUse) != 0 && e.expires <= now) {
            erase(pos);
            ++freed;
        }
    }
    return freed;
}

}  // namespace vfgate::dataplane
