#pragma once
// What the workers read: the switch and firewall tables plus the DPDK side of it (port ids, which
// queues each worker polls). Built by the control thread, published with an atomic pointer store,
// immutable afterwards, freed after RCU grace periods (see Dataplane::publish).

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "firewall_stage.hpp"
#include "switch_table.hpp"

namespace vfgate::dataplane {

struct RxQueue {
    std::uint16_t dpdk_port = 0;
    std::uint16_t queue = 0;
    PortIdx port = kNoPort;
};

struct Snapshot {
    std::uint64_t generation = 0;  // increases with every publish
    SwitchTable table;
    std::vector<std::uint16_t> dpdk_port;  // by PortIdx
    std::vector<std::vector<RxQueue>> rx;  // by worker: the queues it polls, each in one list only

    FirewallTables firewall;
};

}  // namespace vfgate::dataplane
