#pragma once
// The rte_flow FlowBackend (offload.hpp): a FlowSpec as rte_flow_attr, items and actions, asked
// of the PMD. Control thread only. Errors carry the PMD's rte_flow_error message and errno
// ("net_tap: ... (Operation not supported)"); ENOSYS when the driver has no rte_flow.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "offload.hpp"

namespace vfgate::dataplane::offload {

// A FlowSpec's port names (from_port, to_port) as DPDK port ids.
using PortResolver = std::function<std::optional<std::uint16_t>(const std::string& name)>;

std::unique_ptr<FlowBackend> make_rte_flow_backend(PortResolver resolve);

}  // namespace vfgate::dataplane::offload
