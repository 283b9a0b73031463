#pragma once
// Packet counters. Each worker owns its own set and is the only writer; the control thread sums
// them over the workers when asked. Single writer, so an increment is a relaxed load and store
// (a plain add, no lock prefix); readers use relaxed loads and may see a value a few packets old.

#include <array>
#include <atomic>
#include <cstdint>

#include "drop_reason.hpp"

namespace vfgate::dataplane {

class Counter {
  public:
    void add(std::uint64_t n) noexcept {
        v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }
    // Control thread, only while no worker can write this counter (its port is gone).
    void reset() noexcept { v_.store(0, std::memory_order_relaxed); }

  private:
    std::atomic<std::uint64_t> v_{0};
};

// One worker's counters for one DPDK port. Drops count under the port the frame came in on,
// except kTxFailed, which counts under the port that refused it.
struct PortCounters {
    Counter rx_packets, rx_bytes;
    Counter tx_packets, tx_bytes;  // handed to the port's TX queue (tx_failed not subtracted)
    std::array<Counter, kDropReasonCount> drops;

    void reset() noexcept {
        for (Counter* c : {&rx_packets, &rx_bytes, &tx_packets, &tx_bytes}) c->reset();
        for (auto& d : drops) d.reset();
    }
};

// The loop's own accounting, per worker: cycles spent on passes that moved packets (busy) or
// found none (idle), and the copies floods made (a frame flooded to N ports counts N-1), which
// the accounting identity needs: received + copies = sent + drops. And the full bursts sent
// straight to their port, past the TX buffers (all one way, untouched: docs/dataplane.md).
struct LoopCounters {
    Counter busy_cycles, idle_cycles, packets, passes, copies, direct_bursts;
};

// A worker's totals over ports a reload removed (their counters are reset for the next port
// with the same id), so that its accounting identity still holds. Control thread only.
struct RetiredCounters {
    std::uint64_t rx = 0, sent = 0, drops = 0;
};

}  // namespace vfgate::dataplane
