#pragma once
// The NIC side of offload (docs/firewall.md, "Offload"): which rte_flow rules are installed in
// each uplink's NIC, and how a new plan (core/offload_plan.hpp) replaces them.
//
// FlowTable holds, per uplink, the flows installed and the plan entry owning each, and applies a
// new plan: identical flows (same port, same FlowSpec) stay and keep counting; new flows are
// validated before the new snapshot is published (publish waits for the workers and an RCU grace
// period). A drop is in the NIC only while the published rules deny what it matches: drops no
// longer wanted are destroyed before the publish, new ones created after it. Steering is made
// before it is broken: created before the publish, the old destroyed after. An entry is atomic:
// if the PMD refuses one of its flows, it runs in software with the PMD's message. Software
// always enforces every rule, so a flow missing from a NIC never changes a verdict.
//
// No DPDK here (tested without EAL, tests/unit/offload_table_test.cpp): the NIC is a FlowBackend,
// offload_rte.hpp the real one. Control thread only (the Dataplane's mutex held): nothing here
// is touched by the workers.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <vfgate/common/error.hpp>
#include <vfgate/dataplane/control.hpp>

#include "offload_plan.hpp"

namespace vfgate::dataplane::offload {

// A flow in a NIC: the port it was created on (the transfer proxy for a transfer flow) and the
// backend's handle (an rte_flow*).
struct FlowHandle {
    std::uint16_t port = 0;
    std::uintptr_t flow = 0;
};

// The NIC, per DPDK port id. Errors carry the PMD's message (rte_flow_error) and its errno:
// ENOSYS when the driver has no rte_flow at all.
class FlowBackend {
  public:
    virtual ~FlowBackend() = default;
    virtual Result<void> validate(std::uint16_t port, const FlowSpec& flow) = 0;
    virtual Result<FlowHandle> create(std::uint16_t port, const FlowSpec& flow) = 0;
    virtual Result<void> destroy(FlowHandle flow) = 0;
    // Packets its COUNT action counted since it was created.
    virtual Result<std::uint64_t> query_count(FlowHandle flow) = 0;
    virtual Result<void> flush(std::uint16_t port) = 0;
};

// What a publish callback does: publishes the new snapshot (and waits until no worker uses the
// old one); returns the generation published.
using PublishFn = std::function<std::uint64_t()>;

class FlowTable {
  public:
    explicit FlowTable(std::unique_ptr<FlowBackend> backend);
    FlowTable(const FlowTable&) = delete;
    FlowTable& operator=(const FlowTable&) = delete;
    ~FlowTable();

    // An uplink opened (right after it started): flushes its NIC's flows, whatever a previous
    // run left there (never a stale drop after a crash). `enabled`: the uplink's `offload` key.
    void open_port(const std::string& name, std::uint16_t dpdk_port, const std::string& driver,
                   bool enabled = true);
    // The `offload` key of an open uplink changed (takes effect at the next update).
    void set_enabled(const std::string& name, bool enabled);
    // A port closes: destroys the flows on it, or naming it (transfer flows from or to it), and
    // flushes it if it is an uplink. Their entries run in software until the next update.
    void close_port(const std::string& name);
    // Resolves a port name of a FlowSpec (from_port, to_port) for the backend.
    std::optional<std::uint16_t> dpdk_port(const std::string& name) const;

    // Replaces the installed flows by those of `plan`: creates the new ones, calls `publish`,
    // destroys the old ones, logs one line per uplink. Never fails: what the NIC refuses runs in
    // software, with the reason.
    OffloadUpdate update(const Plan& plan, const PublishFn& publish);

    // Destroys every flow and flushes every uplink (at stop).
    void teardown();

    // The control socket's view: uplinks, entries in plan order (COUNT read now), last update.
    OffloadReply report() const;
    // The packets the NIC dropped for the rules of a guest NIC and direction (their flows'
    // COUNT), by rule index; a rule not in a NIC, or that nothing counts, isn't there. One pass
    // over the entries (a list of 100k rules asks once, not per rule).
    std::map<int, std::uint64_t> nic_packets(const std::string& nic, config::Direction dir) const;

  private:
    struct Port {
        std::string name;
        std::uint16_t dpdk_port = 0;
        std::string driver;
        bool enabled = true;
        bool checked = false;      // the PMD validated a flow once
        bool unsupported = false;  // the PMD has no rte_flow; `note` says what it said
        bool no_count = false;     // the PMD refused COUNT; flows go without
        std::string note;
        std::uint64_t refused = 0;  // flows refused in the last update
    };
    struct Installed {
        FlowSpec spec;  // as the plan has it (the identity), whatever count says
        FlowHandle handle;
        bool counted = false;
        bool fresh = false;      // created by the update under way
        std::uint64_t base = 0;  // packets counted by the entry's flows it replaced
    };
    struct EntryState {
        Entry entry;
        bool in_nic = false;
        std::string why_not;
        std::vector<Installed> flows;  // in_nic: one per entry.flows
    };
    struct PortTally {  // one update's counts, for its log line
        std::uint64_t added = 0, removed = 0, kept = 0, refused = 0;
        double ms = 0;
    };
    enum class Outcome { kDone, kRefused, kDeferred };
    struct Work;  // one update's state (offload.cpp)

    static std::string no_rte_flow(const Port& p);  // an entry's why_not on such a port
    Port* port(const std::string& name);
    const Port* port(const std::string& name) const;
    Result<bool> check(Port& p, const FlowSpec& flow);  // validates; true: with COUNT
    Outcome install(Work& w, EntryState& e, bool may_defer);
    void fail_entry(Work& w, EntryState& e, const std::string& why);
    void retire(Work& w, Installed& f, const std::string& port, const std::string& key);
    std::optional<std::uint64_t> count(const EntryState& e) const;
    double timed(const std::function<void()>& fn);

    std::unique_ptr<FlowBackend> backend_;
    std::vector<Port> ports_;
    std::vector<EntryState> entries_;  // the last update's plan, in its order
    std::optional<OffloadUpdate> last_;
    // Entries (by key, with their flows) the PMD refused to create with no flow of ours in the
    // way: refused again, they are not worth a swap in software.
    std::map<std::string, std::vector<FlowSpec>> refused_alone_;
};

}  // namespace vfgate::dataplane::offload
