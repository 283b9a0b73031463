#pragma once
// Opening and closing DPDK ports for the dataplane, and the mempool they share.
// Control thread only.

#include <string>

#include <rte_mempool.h>

#include <vfgate/common/error.hpp>
#include <vfgate/config/config.hpp>

#include "port_plan.hpp"

namespace vfgate::dataplane {

inline constexpr std::uint16_t kRxDesc = 1024;
inline constexpr std::uint16_t kTxDesc = 1024;

// A port the dataplane has open.
struct OpenPort {
    PortSpec spec;
    std::uint16_t dpdk_port = 0;
    std::string driver;
    bool vdev = false;         // a virtual device: removed with rte_dev_remove when closed
    bool representor = false;  // a VF representor: closed, its PF device stays
};

// Creates the mbuf pool: `mbufs` from the config, or enough for every port's queues and the
// workers' buffers, twice over so that guest NICs added by a reload find buffers too.
Result<rte_mempool*> create_mempool(const config::Dataplane& dp, const PortPlan& plan,
                                    unsigned workers);

// Finds the port for `spec` (probing it first when `probe`, for hot-plug), configures one RX
// queue per spec.rx_queues and one TX queue per worker, then starts it.
Result<OpenPort> open_port(const PortSpec& spec, unsigned workers, rte_mempool* pool, bool probe);

// Stops and closes the port; removes a virtual device.
void close_port(const OpenPort& port);

std::string dpdk_error(int ret);  // rte_strerror of a negative DPDK return value

// The PCI address of a kernel netdev, from sysfs (/sys/class/net/NAME/device).
std::optional<std::string> pci_of_netdev(const std::string& netdev);

}  // namespace vfgate::dataplane
