#pragma once
// DPDK telemetry commands for the dataplane, so that dpdk-telemetry.py -f <file_prefix> shows
// vfgate's counters next to ethdev's:
//   /vfgate/status              host, pid, generation, ports (a count), uptime_s, file_prefix
//   /vfgate/ports               the port names
//   /vfgate/port_stats,<name>   the port's entry of the stats reply, flattened: rx/tx packets and
//                               bytes, drops_<reason> and drops_total, device_<ethdev counter>
//   /vfgate/worker_stats,<n>    the worker's entry of the stats reply: index, core, packets,
//                               packets_in, copies, packets_out, drops (the accounting
//                               identity), busy and idle cycles, cycles_per_packet and
//                               busy_percent (both truncated to integers)

namespace vfgate::dataplane {

class Dataplane;

// Registers the commands (once per process) and points them at `dp`; unregister_telemetry()
// makes them answer "not running" from then on (call before `dp` goes away).
void register_telemetry(const Dataplane& dp);
void unregister_telemetry();

}  // namespace vfgate::dataplane
