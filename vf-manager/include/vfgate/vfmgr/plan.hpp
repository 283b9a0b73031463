#pragma once
// vf-manager's planner: pure functions from (desired, observed) to the ordered actions that
// reach the desired VF state, or an error naming what stands in the way. No I/O: golden tests
// drive it with hand-written observations. Called on the CLI's (or the daemon's) one thread.
//
// Order, as real PF drivers need it:
//   1. the PF netdev up (igb, ixgbe, i40e answer their VFs' mailbox only while it is up);
//   2. the eswitch mode (changing it with VFs present fails on most drivers);
//   3. sriov_drivers_autoprobe off, then sriov_numvfs (through 0 when changing a non-zero
//      count), so that no VF driver binds before its MAC is set;
//   4. per VF: MAC, VLAN and QoS, spoofchk, trust, rate, link state (only what differs);
//   5. per VF handed to a guest: bind to the PF's vf_driver (driver_override, unbind, probe);
//   6. autoprobe back on.
// Refused (a Conflict error): changing num_vfs while a process holds a VF open (a running
// guest), and touching a PF the host depends on (default route, addresses) unless forced.

#include <string>

#include <vfgate/common/error.hpp>
#include <vfgate/config/config.hpp>
#include <vfgate/vfmgr/model.hpp>

namespace vfgate::vfmgr {

// The config's `pfs` and its guests' NICs of type vf.
Desired desired_from_config(const config::Config& c);

struct PlanOptions {
    bool force = false;  // touch a PF the host depends on
};

// The PF a `device` names (PCI address or netdev), or nullptr.
const ObservedPf* find_pf(const Observed& o, const std::string& device);

Result<Plan> plan(const Desired& desired, const Observed& observed, const PlanOptions& options);

// Scrubs (kScrubbed attributes) every VF assigned to `guest` and drops its assignments.
// NotFound when the guest holds no VF.
Result<Plan> plan_release(const std::string& guest, const Observed& observed);

}  // namespace vfgate::vfmgr
