#pragma once
// A polling worker: one per worker core, run to completion, bursts of 32.
//
// Each pass: read the published snapshot once; for every RX queue it owns, receive a burst,
// parse it, run the stages, and send or drop each packet (one TX queue per worker: a full burst
// that goes one way untouched straight to its port, the rest through per-port buffers, flushed
// when full, every kDrainUs and when the snapshot changes); then report a quiescent state to RCU.
// No allocation, no locks, no syscalls, no logging.
//
// All fields but the counters are set by the control thread before the worker is launched and
// read only by the worker afterwards; counters are written by the worker only (counters.hpp).

#include <array>
#include <atomic>

#include <rte_ethdev.h>
#include <rte_rcu_qsbr.h>

#include <vfgate/common/error.hpp>

#include "burst.hpp"
#include "conn_table.hpp"
#include "counters.hpp"
#include "firewall_stage.hpp"
#include "snapshot.hpp"
#include "switch_stage.hpp"

namespace vfgate::dataplane {

inline constexpr unsigned kDrainUs = 100;

// Packets waiting for one port's TX queue: appended a run at a time, sent once a burst's worth
// is there, on the drain timer, and before a snapshot change.
struct TxBuffer {
    std::uint16_t length = 0;
    std::array<rte_mbuf*, std::size_t{2} * kBurstSize> pkts{};
};

// A listing of the connection table, done by the worker a chunk per pass (the table is its
// alone). The control thread fills the request while `state` is kIdle or kDone, then sets
// kRequested; the worker sets kDone when it has walked the whole table.
struct CtDump {
    static constexpr int kIdle = 0, kRequested = 1, kDone = 2;
    static constexpr std::int32_t kChunk = 4096;  // positions per pass
    std::atomic<int> state{kIdle};
    bool all_zones = true;
    std::uint16_t zone = 0;
    std::vector<CtEntry> out;  // sized by the control thread: at most this many are copied
    std::uint32_t copied = 0;
    std::uint64_t matched = 0;  // entries that matched the filter (copied or not)
    std::uint32_t now = 0;      // the worker's conntrack tick when it finished
    std::int32_t cursor = 0;
};

struct alignas(64) Worker {
    explicit Worker(unsigned i) : index(i), firewall(i) {}

    unsigned index = 0;  // 0..workers-1: its RCU thread id and TX queue on every port
    unsigned lcore = 0;
    const std::atomic<const Snapshot*>* current = nullptr;  // written by the control thread
    const std::atomic<bool>* stop = nullptr;                // written by the control thread
    rte_rcu_qsbr* rcu = nullptr;
    // TX buffers by DPDK port id. Set by the control thread before the port enters a snapshot;
    // cleared by it (then freed after a grace period) once no snapshot has the port.
    std::array<std::atomic<TxBuffer*>, RTE_MAX_ETHPORTS> tx{};

    // Written by this worker only.
    std::array<PortCounters, RTE_MAX_ETHPORTS> ports;
    LoopCounters loop;
    RetiredCounters retired;  // written and read by the control thread only
    // The generation this worker has switched to (and flushed its TX buffers for). The control
    // thread reads it (acquire) to know no packet of an older snapshot is still buffered.
    std::atomic<std::uint64_t> adopted{0};

    // The firewall stage with this worker's connection table (created by the control thread
    // before the first snapshot with a stateful firewall is published), and its listing.
    FirewallStage firewall;
    CtDump dump;

    // Scratch for one burst.
    Burst burst;
    std::array<rte_mbuf*, kBurstSize> mbufs{};
};

// The lcore entry point (rte_eal_remote_launch); `arg` is a Worker*.
int run_worker(void* arg);

// Sets up `w.tx[port]` for a port that is about to appear in a snapshot (control thread).
Result<void> attach_tx_buffer(Worker& w, std::uint16_t dpdk_port, int socket);
// Clears `w.tx[port]` once every worker has adopted a snapshot without the port, and returns
// the buffer: free it with rte_free after an RCU grace period (control thread).
TxBuffer* detach_tx_buffer(Worker& w, std::uint16_t dpdk_port);

}  // namespace vfgate::dataplane
