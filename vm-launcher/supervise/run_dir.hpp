#pragma once
// The run directory of a guest as the supervisor and its clients (start, stop, kill, status)
// share it: plan.json, state.json, the pidfiles and the supervisor's log. Internal to
// vm-launcher.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include <vfgate/common/error.hpp>
#include <vfgate/vm-launcher/plan.hpp>

namespace vfgate::vm::rundir {

inline constexpr const char* kPlanFile = "plan.json";
// Written by stop and kill before QEMU goes: the supervisor then does not restart it.
inline constexpr const char* kStopMarker = "stop-requested";

std::int64_t now_s();
// Writes the stop marker ("HOW DEADLINE"), good for `valid_for`: the time the stop or kill
// takes at most. One whose stop never finished (interrupted, its caller killed) must not turn
// off the guest's restart policy and adoption for good.
void request_stop(const RunPaths& p, const std::string& how, std::int64_t valid_for_s);
// Whether a stop or kill asked for the guest to go and is still under way. An expired marker
// is removed, and the supervisor log says so.
bool stop_requested(const RunPaths& p);
// Appends a timestamped line to the guest's supervisor log (also when written by stop or kill).
void log_line(const RunPaths& p, const std::string& what);
Result<nlohmann::json> read_json(const std::string& path);
// Written to a temporary file and renamed: never half-written.
void write_json(const std::string& path, const nlohmann::json& j);
// The supervisor's pid while it lives (it holds a lock on its pidfile); 0 otherwise.
int supervisor_pid(const RunPaths& p);
// QEMU's pid when the process in its pidfile is the QEMU of this guest (its argv names the QMP
// socket); 0 otherwise.
int qemu_pid(const RunPaths& p);
// The last `lines` non-empty lines of a file, each on a new line indented by two spaces.
std::string tail_of(const std::string& path, std::size_t lines);

}  // namespace vfgate::vm::rundir
