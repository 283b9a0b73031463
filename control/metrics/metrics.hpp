#pragma once
// vfgated's Prometheus endpoint: /metrics in the text exposition format.
//
// The daemon gathers a MetricsSample (the dataplane's stats, firewall.rules, firewall.conntrack
// and offload replies, the guests and VFs it manages, its own apply counters) through a
// SampleSource that Metrics calls once per scrape; Metrics turns it into metric families
// (names below, all prefixed vfgate_, counters suffixed _total, base units) and serves them
// with prometheus-cpp's Exposer (civetweb). The dataplane's counters belong to another
// process, so nothing here counts: each scrape reports what the sample says.
//
// Threads: the SampleSource runs on one of the exposer's threads for each scrape, and on the
// caller's thread for text(). Metrics serializes those calls (one at a time), so the source
// need not guard against itself, only against the daemon's other threads. Control plane only;
// nothing here is for the packet fast path.
//
// Names (labels in braces; what is missing from a sample, say the dataplane being down, is
// just not reported):
//   vfgate_dataplane_up, vfgate_dataplane_restarts_total, vfgate_dataplane_tsc_hertz
//   vfgate_port_{rx,tx}_{packets,bytes}_total{port}, vfgate_port_drops_total{port,reason}
//   vfgate_port_device_{rx,tx}_packets_total, vfgate_port_device_rx_missed_total,
//     vfgate_port_device_{rx,tx}_errors_total, vfgate_port_device_rx_nombuf_total {port}
//   vfgate_worker_{packets,packets_in,copies,packets_out,drops}_total{worker},
//     vfgate_worker_{busy,idle}_cycles_total, vfgate_worker_busy_ratio,
//     vfgate_worker_cycles_per_packet {worker}
//   vfgate_rule_hits_total{nic,direction,rule,action},
//     vfgate_rule_default_hits_total{nic,direction,action},
//     vfgate_firewall_established_total{nic,direction}
//   vfgate_conntrack_{entries,denied_entries,capacity}{worker},
//     vfgate_conntrack_{created,expired,evicted,revoked,table_full}_total{worker}
//   vfgate_offload_flows{port}, vfgate_offload_port_state{port,state},
//     vfgate_offload_refused_flows{port}, vfgate_offload_entries{port,where},
//     vfgate_offload_nic_packets_total{port,nic,direction,rule},
//     vfgate_offload_last_update_seconds, vfgate_offload_swap_in_software
//   vfgate_guest_up{guest}, vfgate_guest_state{guest,state}, vfgate_guest_restarts_total{guest}
//   vfgate_vf_assigned{pf,vf,guest}, vfgate_vf_driver_info{pf,vf,driver}
//   vfgate_applies_total, vfgate_apply_failures_total, vfgate_last_apply_timestamp_seconds
// The served page also carries prometheus-cpp's own exposer_* families (scrapes, bytes,
// latency); text() does not.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <vfgate/common/error.hpp>

namespace prometheus {
class Exposer;
}

namespace vfgate::control {

// Where /metrics listens unless the config says otherwise: the loopback only.
inline constexpr const char* kDefaultMetricsAddress = "127.0.0.1:9477";

// The guest states vfgate-vm reports (vm::GuestStatus::state); vfgate_guest_state has a
// series for each of them (1 for the current one, 0 for the others) and one more for a state
// not in this list.
inline constexpr std::array<std::string_view, 7> kGuestStates{
    "running", "paused", "shutdown", "crashed", "stopped", "starting", "restarting"};

// The uplinks' offload states (dataplane::OffloadPort::state); vfgate_offload_port_state has a
// series for each (1 for the current one), and one more for a state not in this list.
inline constexpr std::array<std::string_view, 3> kOffloadStates{"on", "off", "unsupported"};

struct GuestSample {
    std::string name;
    std::string state;  // running, stopped, crashed, ... as vfgate-vm reports
    int restarts = 0;
    int qemu_pid = 0;  // 0: QEMU does not run (not exported)
};

struct VfSample {
    std::string pf;  // the PF's name in the config
    std::uint32_t index = 0;
    std::string guest;   // "web/eth0", or "" when no guest NIC has it
    std::string driver;  // bound driver ("vfio-pci", "iavf"), "" for none
    bool assigned = false;
};

// Everything one scrape reports, gathered by the daemon when Prometheus asks.
struct MetricsSample {
    bool dataplane_up = false;
    std::optional<nlohmann::json> stats;      // the dataplane's `stats` reply (docs/dataplane.md)
    std::optional<nlohmann::json> rules;      // its `firewall.rules` reply
    std::optional<nlohmann::json> conntrack;  // its `firewall.conntrack` reply (counts only)
    std::optional<nlohmann::json> offload;    // its `offload` reply (absent: an older dataplane)
    std::vector<GuestSample> guests;
    std::vector<VfSample> vfs;
    std::uint64_t applies = 0;         // apply runs since the daemon started, failed ones included
    std::uint64_t apply_failures = 0;  // of those, the ones that failed
    std::uint64_t dataplane_restarts = 0;
    double last_apply_timestamp_seconds = 0;  // Unix time of the last apply run; 0: none yet
};

// Called for each scrape; must not throw (an exception is caught and the scrape is empty).
using SampleSource = std::function<MetricsSample()>;

namespace detail {
class Collector;
}

class Metrics {
  public:
    explicit Metrics(SampleSource source);
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;
    Metrics(Metrics&&) = delete;
    Metrics& operator=(Metrics&&) = delete;

    // Serves /metrics on `listen_address`, "IPV4:PORT" (port 0: any free one, see port()).
    // Returns once the socket listens; an Error naming the address when it is malformed
    // (kInvalidArgument), IPv6 (kUnsupported: Debian's civetweb is built without IPv6) or
    // can't be bound (kSystem with errno), and kConflict when already serving.
    Result<void> serve(const std::string& listen_address);
    // Stops serving (no-op when not serving); serve() may be called again.
    void stop();
    // The TCP port serve() listens on; 0 when not serving.
    int port() const;

    // The text exposition of one sample (what /metrics returns, without the exposer_*
    // families): for tests and `vfgatectl metrics`.
    std::string text() const;

  private:
    std::shared_ptr<detail::Collector> collector_;
    std::unique_ptr<prometheus::Exposer> exposer_;  // destroyed first: stops the scrapes
};

}  // namespace vfgate::control
