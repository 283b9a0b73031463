#pragma once
// DPDK telemetry commands for the dataplane, so that dpdk-telemetry.py -f <file_prefix> shows
// vfgate's counters next to ethdev's:
//   /vfgate/status              host, pid, generation, port count, uptime
//   /vfgate/ports               the port names
//   /vfgate/port_stats,<name>   rx/tx packets and bytes, drops by reason
//   /vfgate/worker_stats,<n>    packets, busy and idle cycles, cycles per packet

namespace vfgate::dataplane {

class Dataplane;

// Registers the commands (once per process) and points them at `dp`; unregister_telemetry()
// makes them answer "not running" from then on (call before `dp` goes away).
void register_telemetry(const Dataplane& dp);
void unregister_telemetry();

}  // namespace vfgate::dataplane
