#pragma once
// The dataplane as vfgated runs it: a `vfgate-dataplane --config <state_dir>/dataplane.yaml`
// process in a session of its own (so that it outlives vfgated: a restarted vfgated adopts it),
// its output in dataplane.log, its pid in dataplane.pid, watched through a pidfd.
//
// start, reload and stop run on the daemon's apply thread; exited() is polled by its main
// thread. `mu_` guards the watch and the "stopping on purpose" flag they share.

#include <mutex>
#include <optional>
#include <string>

#include <vfgate/common/error.hpp>
#include <vfgate/common/process.hpp>

#include "../core/reconcile.hpp"
#include "paths.hpp"

namespace vfgate::control {

using Say = std::function<void(const std::string&)>;

class DataplaneProc {
  public:
    DataplaneProc(Paths paths, Tools tools) : paths_(std::move(paths)), tools_(std::move(tools)) {}

    // What runs now: asks its control socket, else looks at the pidfile. A dataplane found
    // running is watched from then on (adopted).
    DataplaneSeen observe();

    // Writes `yaml` as the dataplane's config, starts it and waits until its control socket
    // answers with its pid. On failure nothing is left running and the error has the last
    // lines of its log.
    Result<int> start(const std::string& yaml, const Say& say);
    // Writes `yaml` and asks the running dataplane to reload it; on a refusal the previous file
    // is put back (the dataplane keeps running what it had).
    Result<void> reload(const std::string& yaml, const Say& say);
    // SIGTERM, up to 10 s, then SIGKILL.
    Result<void> stop(const Say& say);

    // The pid of the dataplane being watched; 0: none.
    int pid() const;
    // Set once the watched dataplane has exited when nobody stopped it: how it ended. Clears
    // the watch.
    std::optional<std::string> exited();

  private:
    void watch(int pid);
    std::string log_tail() const;

    Paths paths_;
    Tools tools_;
    mutable std::mutex mu_;
    std::optional<proc::Watch> watch_;
    bool stopping_ = false;
    bool starting_ = false;  // start() watches its own process: exited() leaves it alone
};

}  // namespace vfgate::control
