#pragma once
// vfgated's adapters to the host: gathering what reconcile() compares (VFs through vf-manager,
// the dataplane through its control socket, guests through vm-launcher) and carrying out one
// step of a plan, verified. Apply thread only (blocking I/O, processes, QMP).

#include <vfgate/common/error.hpp>
#include <vfgate/config/config.hpp>

#include "../core/reconcile.hpp"
#include "dataplane_proc.hpp"
#include "paths.hpp"

namespace vfgate::control {

// The desired state with the text it came from (the dataplane is given the same file).
struct Desired {
    config::Config config;
    std::string yaml;
    std::string source;  // where it came from: the file's path, "vfgatectl apply -f FILE"
};

struct HostContext {
    Paths paths;
    Tools tools;
    DataplaneProc* dataplane = nullptr;
    bool force = false;
};

// Everything reconcile() needs about the host, for `desired`. Warnings (a VF attribute that
// can't be read) go to `say`.
Result<Observed> observe(const config::Config& desired, HostContext& ctx, const Say& say);

// Carries out `step` and checks its result (a guest runs, the dataplane answers with the
// declared ports, vf-manager finds nothing left to do). The error says what failed and why.
Result<void> run_step(const Step& step, const Desired& desired, HostContext& ctx, const Say& say);

}  // namespace vfgate::control
