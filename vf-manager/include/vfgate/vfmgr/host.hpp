#pragma once
// vf-manager's adapters to the host: reading PFs and VFs from sysfs (and /proc, for who holds a
// VF open), and the sysfs writes that create VFs and bind their drivers. The roots are
// injectable, so unit tests run on fake trees; on a host they are "/sys" and "/proc".
// Called on one control thread; every function does blocking file I/O.

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <vfgate/common/error.hpp>
#include <vfgate/vfmgr/apply.hpp>
#include <vfgate/vfmgr/model.hpp>

namespace vfgate::vfmgr {

struct HostPaths {
    std::string sys = "/sys";
    std::string proc = "/proc";
};

// What the host itself uses its interfaces for (a PF carrying either is refused unless forced).
struct HostNet {
    std::set<std::string> default_route;                        // netdevs of default routes
    std::map<std::string, std::vector<std::string>> addresses;  // netdev -> "192.0.2.1/24", ...
};

// Default routes from /proc/net/route and /proc/net/ipv6_route; addresses from getifaddrs().
HostNet read_host_net(const HostPaths& paths);

// Every SR-IOV capable PF (a PCI device with sriov_totalvfs > 0) and its VFs, without VF
// attributes (rtnetlink reports those: see netlink.hpp). `net` marks PFs the host depends on.
Result<std::vector<ObservedPf>> read_pfs(const HostPaths& paths, const HostNet& net);

// The sysfs writes. Each checks what it did and says what failed, naming the file:
//   write /sys/bus/pci/devices/0000:01:00.0/sriov_numvfs: Device or resource busy (EBUSY)
Result<void> set_num_vfs(const HostPaths& paths, const std::string& pf_pci, std::uint32_t n);
Result<void> set_autoprobe(const HostPaths& paths, const std::string& pf_pci, bool on);
// The VF's PCI address (virtfnN), once VFs exist.
Result<std::string> vf_pci(const HostPaths& paths, const std::string& pf_pci, std::uint32_t vf);
// driver_override, unbind from the current driver, drivers_probe; then checks the result.
// An empty `driver` unbinds and clears the override.
Result<void> bind_driver(const HostPaths& paths, const std::string& pci, const std::string& driver);

// rtnetlink (libnl-route-3), by the PF's netdev:
// Fills `attrs` of the PF's VFs (RTM_GETLINK with RTEXT_FILTER_VF). A PF without a netdev is
// left as it is.
Result<void> read_vf_attrs(ObservedPf& pf);
// Sets one VF attribute: `kind` is one of the kVf* attribute actions, `value` its type.
Result<void> set_vf_attr(const std::string& pf_netdev, std::uint32_t vf, ActionKind kind,
                         const Value& value);
Result<void> set_link_up(const std::string& netdev, bool up);

// devlink (libnl-genl-3), by the PF's PCI address. A driver without a devlink eswitch (igb,
// ixgbe) gives an Unsupported error that says so.
Result<config::EswitchMode> read_eswitch_mode(const std::string& pf_pci);
Result<void> set_eswitch_mode(const std::string& pf_pci, config::EswitchMode mode);

// The Executor that carries actions out on this host through the functions above.
std::unique_ptr<Executor> host_executor(const HostPaths& paths);

// Which guest NIC holds which VF: a JSON file (default /run/vfgate/vfs.json), on tmpfs like the
// VFs themselves, which don't survive a reboot either. A missing file is no assignments.
inline constexpr const char* kDefaultStateFile = "/run/vfgate/vfs.json";
// Read strictly, never blocking (a FIFO is refused, not waited on). An error names the file and
// what is wrong with it:
//   /run/vfgate/vfs.json: not a vfgate-vf state file: assignments[0].vf: found -1; expected ...
// Its kind is kConflict (the host's state is unusable) or kSystem, never kInvalidArgument: the
// file is not the caller's input.
Result<std::vector<Assignment>> read_state(const std::string& path);
// Written to a temporary file and renamed over `path`: never half-written.
Result<void> write_state(const std::string& path, const std::vector<Assignment>& assignments);

}  // namespace vfgate::vfmgr
