#pragma once
// Which DPDK ports the dataplane opens for a config, and the EAL arguments that bring them up.
// Pure functions of the config (tested without EAL): cores, memory, hugepages, a file prefix of
// its own, one device per uplink and switched guest NIC, then the user's eal_args.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <vfgate/common/error.hpp>
#include <vfgate/config/config.hpp>

#include "switch_table.hpp"

namespace vfgate::dataplane {

struct PortSpec {
    std::string name;  // the SwitchTable port name: "up0" or "guest/nic"
    PortRole role = PortRole::kGuest;
    std::string devargs;  // what EAL probes: a PCI address, a vdev, or "PCI,representor=vfN"
    bool pci = false;     // devargs starts with a PCI address (allow-listed, not a vdev)
    std::uint16_t rx_queues = 1;
    std::uint32_t mtu = config::kDefaultMtu;
    std::string vhost_socket;  // type vhost-user: the socket vfgate serves

    bool operator==(const PortSpec&) const = default;
};

struct PortPlan {
    std::vector<PortSpec> ports;        // in SwitchTable order
    std::vector<std::string> warnings;  // e.g., VFs the NIC switches in legacy mode
};

// Resolves a PF's kernel netdev name to its PCI address (sysfs in production, a map in tests).
using PciResolver = std::function<std::optional<std::string>(const std::string& netdev)>;

Result<PortPlan> plan_ports(const config::Config& cfg, const PciResolver& pci_of);

struct EalPlan {
    std::vector<std::string> args;  // argv, starting with the program name
    std::string file_prefix;
};

// `log_level`: the dataplane's own level (trace, debug, info, warn, error), mapped onto EAL's.
EalPlan plan_eal(const config::Config& cfg, const PortPlan& ports, std::string_view log_level);

// "vfgate-" and a hash of the control socket path: stable for one instance, distinct for two.
std::string file_prefix(const config::Config& cfg);

}  // namespace vfgate::dataplane
