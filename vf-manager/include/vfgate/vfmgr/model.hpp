#pragma once
// vf-manager's model: what a host's SR-IOV physical functions (PFs) and virtual functions (VFs)
// look like (observed), what the config asks of them (desired), and the actions that take one
// to the other. Plain data, no I/O. Used by libvfmgr's planner and adapters and by the
// `vfgate-vf` CLI, all on one thread.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <vfgate/common/net_types.hpp>
#include <vfgate/config/config.hpp>

namespace vfgate::vfmgr {

// A VF's link state as the PF reports it to the VF (IFLA_VF_LINK_STATE).
enum class LinkState : std::uint8_t { kAuto, kEnable, kDisable };
const char* to_string(LinkState s);

struct VlanQos {
    std::uint16_t vlan = 0;  // 0: none
    std::uint8_t qos = 0;    // 802.1p priority of the tag the PF pushes
    auto operator<=>(const VlanQos&) const = default;
};

// What the PF enforces on one VF (rtnetlink's IFLA_VF_* attributes).
struct VfAttrs {
    MacAddr mac;  // zero: none assigned
    VlanQos vlan;
    bool spoofchk = true;
    bool trust = false;
    std::uint32_t max_tx_rate_mbps = 0;  // 0: no limit
    LinkState link_state = LinkState::kAuto;
    bool operator==(const VfAttrs&) const = default;
};

// A VF as handed back to the pool: nothing of its last guest is left.
inline constexpr VfAttrs kScrubbed{};

struct ObservedVf {
    std::uint32_t index = 0;
    std::string pci;                 // 0000:01:10.0
    std::string netdev;              // empty: no host netdev (unbound, or vfio-pci)
    std::string driver;              // empty: unbound
    std::optional<int> iommu_group;  // absent: no IOMMU
    std::optional<VfAttrs> attrs;    // absent: the PF's driver did not report them
    std::string holder;              // a process holding the VF open ("qemu-system-x86 (pid 42)")
};

struct ObservedPf {
    std::string pci;
    std::string netdev;  // empty: no netdev (the PF is bound to a userspace driver)
    std::string driver;
    std::uint32_t total_vfs = 0;
    std::uint32_t num_vfs = 0;
    std::optional<config::EswitchMode> eswitch_mode;  // absent: devlink doesn't say
    bool drivers_autoprobe = true;                    // sriov_drivers_autoprobe
    bool up = false;                                  // administratively up
    bool carrier = false;                             // link detected
    // Why the host may depend on this PF: "carries the default route", "has address
    // 192.0.2.10/24". Empty: nothing found.
    std::vector<std::string> host_uses;
    std::vector<ObservedVf> vfs;  // by index
};

// Which guest NIC a VF was handed to (vf-manager's state file, /run/vfgate/vfs.json).
struct Assignment {
    std::string pf_pci;
    std::uint32_t vf = 0;
    std::string guest;
    std::string nic;
    bool operator==(const Assignment&) const = default;
};
// The assignments as config::pin_auto_vfs takes them.
std::vector<config::GivenVf> given_vfs(const std::vector<Assignment>& assignments);

struct Observed {
    std::vector<ObservedPf> pfs;
    std::vector<Assignment> assignments;
};

// One guest NIC of type vf, as the config asks.
struct DesiredVf {
    std::string guest;
    std::string nic;
    std::optional<std::uint32_t> index;  // absent: auto
    VfAttrs attrs;
    std::string driver;  // empty: the PF's vf_driver
};

struct DesiredPf {
    std::string name;
    std::string device;  // PCI address or netdev name
    std::uint32_t num_vfs = 0;
    config::EswitchMode eswitch_mode = config::EswitchMode::kLegacy;
    std::string vf_driver;
    std::vector<DesiredVf> vfs;
};

using Desired = std::vector<DesiredPf>;

enum class ActionKind : std::uint8_t {
    kPfUp,         // set the PF netdev up (its driver serves VFs only then)
    kEswitchMode,  // devlink eswitch mode
    kAutoprobe,    // sriov_drivers_autoprobe: 0 while VFs are created, so no driver binds early
    kNumVfs,       // sriov_numvfs (through 0 when changing a non-zero count)
    kVfMac,
    kVfVlan,
    kVfSpoofchk,
    kVfTrust,
    kVfRate,
    kVfLinkState,
    kVfDriver,  // driver_override, unbind, probe
};

using Value = std::variant<bool, std::uint32_t, MacAddr, VlanQos, LinkState, std::string,
                           config::EswitchMode>;

struct Action {
    ActionKind kind = ActionKind::kPfUp;
    std::string pf_name;  // the config's name of the PF
    std::string pf_pci;
    std::string pf_netdev;
    std::optional<std::uint32_t> vf;  // VF actions (the adapter finds the VF's PCI address)
    Value from;                       // the value now (what rollback restores)
    Value to;
    // kNumVfs: what undoing it must redo after the VFs are recreated (a new VF starts blank):
    // the earlier VFs' attributes and drivers. Not shown by describe().
    std::vector<Action> restore;
    bool operator==(const Action&) const = default;
};

// "pf0 0000:01:00.0 vf 2: mac 00:00:00:00:00:00 -> 52:54:00:00:01:01"
std::string describe(const Action& a);
std::string to_string(const Value& v);

struct Plan {
    std::vector<Action> actions;
    std::vector<Assignment> assignments;  // the state once the plan is applied
    std::vector<std::string> notes;       // what needs nothing ("pf0: 4 VFs, as declared")
};

}  // namespace vfgate::vfmgr
