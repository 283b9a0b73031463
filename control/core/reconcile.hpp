#pragma once
// vfgated's reconcile step: a pure function from (the desired config, what the host has) to the
// ordered plan that makes the host match (docs/control.md). No I/O: the daemon gathers the
// observation (observe.hpp) and carries the plan out (apply.hpp); golden tests drive it with
// hand-written observations. Called on the daemon's apply thread and by `plan` requests.
//
// Order, so that nothing is pulled from under something that uses it:
//   1. guests that go, or must restart, stop (a VF held by QEMU can't be scrubbed or recounted);
//   2. VFs: vf-manager's actions (PF, eswitch, VF count and attributes, drivers; the VFs of
//      guests that went are scrubbed);
//   3. the dataplane: started, reloaded live (ports and rules), restarted where a changed key
//      needs it (each key named), or stopped when the config has no dataplane any more;
//   4. guests start: new ones, ones not running, ones whose QEMU command line changed; a
//      guest whose QEMU runs on without its supervisor gets a new one, which adopts it.
// Guests without `boot` are managed elsewhere: vfgated does only their NICs.

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <vfgate/common/error.hpp>
#include <vfgate/config/config.hpp>
#include <vfgate/vfmgr/model.hpp>
#include <vfgate/vm-launcher/plan.hpp>

namespace vfgate::control {

// The dataplane as observed through its control socket and the daemon's records.
struct DataplaneSeen {
    bool running = false;  // a vfgate-dataplane process of this host's run directory lives
    int pid = 0;
    // It answers on its control socket; false with running: hung or still starting.
    bool answering = false;
    std::string problem;  // why it is not healthy, when it is not
    // The config it runs (the file vfgated gave it), when known.
    std::optional<config::Config> config;
};

// A guest with a run directory under the daemon's guest root (vm-launcher's view).
struct GuestSeen {
    std::string state;  // running, paused, shutdown, crashed, stopped, starting, restarting
    int pid = 0;        // QEMU's; 0 when it does not run
    std::vector<std::string> argv;  // the command line it runs (its plan.json); empty: unknown
    bool supervised = true;         // its supervisor lives (false: QEMU runs on without one)
};

struct Observed {
    vfmgr::Observed vfs;
    DataplaneSeen dataplane;
    std::map<std::string, GuestSeen> guests;  // by name
    // Host facts per desired guest with `boot` (vm::observe_host); a guest missing here can't
    // be planned (the error says so).
    std::map<std::string, vm::HostFacts> facts;
    std::map<std::string, std::string> fact_errors;  // why a guest's facts are missing
};

enum class StepKind {
    kGuestStop,
    kVfs,
    kDataplaneStart,
    kDataplaneReload,
    kDataplaneRestart,
    kDataplaneStop,
    kGuestStart,
    kGuestAdopt,  // a new supervisor for a running QEMU whose supervisor is gone
};
const char* to_string(StepKind k);

struct Step {
    StepKind kind = StepKind::kVfs;
    std::string target;                // "vfs", "dataplane", or the guest's name
    std::string reason;                // why, in a few words ("new guest", "worker_cores changed")
    std::vector<std::string> details;  // the VF actions, the ports and rules a reload changes
    bool operator==(const Step&) const = default;
};

struct Plan {
    std::vector<Step> steps;
    std::vector<std::string> unchanged;  // what already matches ("guest web: running, as declared")
    bool empty() const { return steps.empty(); }
};

struct ReconcileOptions {
    std::string guest_root;  // the guests' run directories (<run_dir>/guests)
    bool force = false;      // let vf-manager touch a PF the host depends on
};

// The plan, or an error listing every reason the config can't be reached (one per line): a VF
// conflict, a guest that can't be planned (missing image, KVM required but unusable, ...).
Result<Plan> reconcile(const config::Config& desired, const Observed& observed,
                       const ReconcileOptions& opts);

// "reload dataplane: rules of web/eth0 changed" and its details, indented: the plan as
// `vfgatectl plan` prints it.
std::string describe(const Step& s);
std::string describe(const Plan& p);

nlohmann::json to_json(const Step& s);
nlohmann::json to_json(const Plan& p);

}  // namespace vfgate::control
