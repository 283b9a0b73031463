#pragma once
// Later fragments follow their first fragment (docs/firewall.md): when a first fragment passes
// the firewall, its datagram is remembered here for a while; a later fragment of a remembered
// datagram passes without rule evaluation (it has no L4 header to classify), any other later
// fragment is dropped and counted. Fragments that arrive before their first fragment are
// therefore dropped: vfgate does not reassemble.
//
// Per worker, fixed capacity, direct-mapped: a new datagram overwrites whatever shared its slot
// (which only makes that older datagram's later fragments count as unknown). Hot-path safe.

#include <array>
#include <cstdint>
#include <cstring>

#include "l3l4.hpp"

namespace vfgate::dataplane {

class FragmentTable {
  public:
    static constexpr std::size_t kSlots = 4096;  // a power of two
    // The datagram as the firewall stage saw it, for every receiver (else a receiving port).
    static constexpr std::uint16_t kAnyReceiver = 0xffff;

    // `now` and `expires` in any one monotonic unit (the dataplane uses TSC cycles).
    void remember(const FlowKey& k, std::uint64_t now, std::uint64_t lifetime,
                  std::uint16_t receiver = kAnyReceiver) noexcept {
        const Id id = id_of(k, receiver);
        Slot& s = slots_[slot_of(id)];
        s.id = id;
        s.expires = now + lifetime;
    }

    bool known(const FlowKey& k, std::uint64_t now,
               std::uint16_t receiver = kAnyReceiver) const noexcept {
        const Id id = id_of(k, receiver);
        const Slot& s = slots_[slot_of(id)];
        return s.expires > now && s.id == id;
    }

  private:
    // What identifies a datagram: addresses, protocol and fragment identification (and the
    // receiver it is remembered for).
    struct Id {
        std::array<std::uint8_t, 16> src{}, dst{};
        std::uint32_t frag_id = 0;
        std::uint8_t family = 0, proto = 0;
        std::uint16_t receiver = kAnyReceiver;
        bool operator==(const Id&) const = default;
    };
    struct Slot {
        Id id;
        std::uint64_t expires = 0;
    };

    // IPv4 names a datagram by addresses, protocol and identification (RFC 791); IPv6 by
    // addresses and identification (RFC 8200), and a first fragment's protocol (past the headers
    // after its fragment header) may differ from a later one's (the fragment header's next).
    static std::uint8_t proto_of(const FlowKey& k) noexcept { return k.family == 6 ? 0 : k.proto; }
    static Id id_of(const FlowKey& k, std::uint16_t receiver) noexcept {
        Id id;
        id.src = k.src;
        id.dst = k.dst;
        id.frag_id = k.frag_id;
        id.family = k.family;
        id.proto = proto_of(k);
        id.receiver = receiver;
        return id;
    }
    static std::size_t slot_of(const Id& id) noexcept {
        std::array<std::uint64_t, 4> w{};
        std::memcpy(w.data(), id.src.data(), 16);
        std::memcpy(w.data() + 2, id.dst.data(), 16);
        std::uint64_t h = (w[0] ^ w[1] ^ w[2] ^ w[3] ^ (std::uint64_t{id.frag_id} << 8) ^ id.proto ^
                           (std::uint64_t{id.receiver} << 40)) *
                          0x9e3779b97f4a7c15ULL;
        return static_cast<std::size_t>(h >> 52) & (kSlots - 1);
    }

    std::array<Slot, kSlots> slots_{};
};

}  // namespace vfgate::dataplane
