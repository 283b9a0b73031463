#pragma once
// The forwarding state of the switch, built from the config: ports, broadcast domains, and the
// table of which MAC lives on which guest NIC in which domain. There is no learning: the
// config is the forwarding table (config-v1, "Forwarding").
//
// Built on the control thread (allocates), then immutable: workers read it through a snapshot
// published with an atomic pointer and reclaimed after an RCU grace period. Lookups are
// hot-path safe: no allocation, no locks; the MAC table has a fixed capacity set at build time.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <vfgate/common/error.hpp>
#include <vfgate/config/config.hpp>

#include "packet.hpp"

namespace vfgate::dataplane {

// Index of a port in a SwitchTable (not a DPDK port id).
enum class PortIdx : std::uint16_t {};
inline constexpr PortIdx kNoPort{0xffff};
constexpr std::uint16_t index(PortIdx p) { return static_cast<std::uint16_t>(p); }

inline constexpr std::uint16_t kNoDomain = 0xffff;
inline constexpr std::size_t kMaxPorts = 1024;

enum class PortRole : std::uint8_t { kUplink, kGuest };

struct PortInfo {
    std::string name;  // "up0", or "guest/nic"
    PortRole role = PortRole::kGuest;
    std::uint16_t domain = kNoDomain;  // guest: its broadcast domain
    std::uint16_t vlan = 0;            // guest: access VLAN, 0 = untagged
    PortIdx uplink = kNoPort;          // guest: the uplink its domain belongs to
    MacBits mac = 0;                   // guest: its own MAC
    std::uint32_t max_frame = 0;       // largest untagged frame it may send or receive: MTU + 14
    std::uint16_t uplink_slot = 0;     // uplink: row in the VLAN map
};

// A broadcast domain: one uplink and one VLAN (0 = untagged), and the guest NICs in it.
struct Domain {
    PortIdx uplink = kNoPort;
    std::uint16_t vlan = 0;
    std::vector<PortIdx> members;
};

// Fixed-capacity open-addressing map (domain, MAC) -> port. Capacity is a power of two at least
// twice the entries, so probes stay short; it never grows after build.
class MacTable {
  public:
    void build(std::span<const std::pair<std::uint64_t, PortIdx>> entries);
    PortIdx find(std::uint16_t domain, MacBits mac) const noexcept {
        std::uint64_t key = make_key(domain, mac);
        for (std::size_t i = slot_of(key);; i = (i + 1) & mask_) {
            const Slot& s = slots_[i];
            if (s.key == key) return s.port;
            if (s.key == kEmpty) return kNoPort;
        }
    }
    static constexpr std::uint64_t make_key(std::uint16_t domain, MacBits mac) {
        return (static_cast<std::uint64_t>(domain) << 48) | mac;
    }
    std::size_t capacity() const { return slots_.size(); }

  private:
    static constexpr std::uint64_t kEmpty = ~0ULL;
    struct Slot {
        std::uint64_t key = kEmpty;
        PortIdx port = kNoPort;
    };
    std::size_t slot_of(std::uint64_t key) const noexcept {
        return static_cast<std::size_t>((key * 0x9e3779b97f4a7c15ULL) >> shift_);
    }
    std::vector<Slot> slots_{Slot{}};
    std::size_t mask_ = 0;
    unsigned shift_ = 63;
};

class SwitchTable {
  public:
    // Ports in a fixed order: the uplinks as declared, then the switched guest NICs in guest
    // and NIC order (VFs of legacy-mode PFs are switched by the NIC and left out).
    static Result<SwitchTable> build(const config::Config& cfg);

    std::span<const PortInfo> ports() const { return ports_; }
    const PortInfo& port(PortIdx p) const { return ports_[index(p)]; }
    std::span<const Domain> domains() const { return domains_; }
    const Domain& domain(std::uint16_t d) const { return domains_[d]; }

    // The domain a frame from `uplink` on `vid` (0: untagged or priority-tagged) belongs to.
    std::uint16_t domain_of(const PortInfo& uplink, std::uint16_t vid) const noexcept {
        return vlan_map_[uplink.uplink_slot][vid];
    }
    PortIdx find(std::uint16_t domain, MacBits mac) const noexcept {
        return fdb_.find(domain, mac);
    }

    PortIdx by_name(std::string_view name) const;

  private:
    std::vector<PortInfo> ports_;
    std::vector<Domain> domains_;
    std::vector<std::array<std::uint16_t, 4096>> vlan_map_;  // per uplink: VID -> domain
    MacTable fdb_;
};

MacBits to_bits(const MacAddr& mac);
MacAddr to_mac(MacBits bits);

}  // namespace vfgate::dataplane
