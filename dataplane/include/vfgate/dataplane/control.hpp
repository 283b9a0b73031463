#pragma once
// The dataplane's public surface: the methods of its control socket (JSON lines, see
// vfgate/common/jsonl.hpp and docs/dataplane.md). The dataplane serves them on its main thread;
// vfgatectl and vfgated call them.

namespace vfgate::dataplane::method {

inline constexpr const char* kStatus = "status";         // process, cores, memory, generation
inline constexpr const char* kPorts = "ports";           // ports with role, driver, link, MAC, VLAN
inline constexpr const char* kStats = "stats";           // counters per port and per worker
inline constexpr const char* kFdb = "fdb";               // the forwarding table
inline constexpr const char* kReload = "config.reload";  // params {"path": FILE} optional
// Firewall rules and hit counters per guest NIC; params {"nic": "guest/nic"} optional.
inline constexpr const char* kRules = "firewall.rules";
// Connection tables: counts per worker; with params {"nic": NAME} and/or {"limit": N}, also
// up to N connections (default 1000 when a NIC is named).
inline constexpr const char* kConntrack = "firewall.conntrack";
// The most connections one firewall.conntrack reply lists; a larger "limit" is refused.
inline constexpr unsigned kMaxConntrackListed = 100'000;

}  // namespace vfgate::dataplane::method
