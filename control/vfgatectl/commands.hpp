#pragma once
// vfgatectl subcommands. Each registers itself on the CLI11 app and returns, through `run`, the
// process exit status: 0 success, 1 the operation failed or the input is invalid, 2 usage.

#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

namespace vfgate::ctl {

enum Exit : int { kOk = 0, kFailed = 1, kUsage = 2 };

// Registers `validate` and `describe`; `run` is set to the chosen command's action.
void add_config_commands(CLI::App& app, std::function<int()>& run);

// Where vfgated is: -s SOCKET, or the run directory of -c FILE's config (app-wide options).
struct DaemonTarget {
    std::string socket;
    std::string config;
};

// Registers `plan`, `apply`, `status`, `guests`, `vfs` and `logs` (vfgated's clients).
void add_daemon_commands(CLI::App& app, const std::shared_ptr<DaemonTarget>& target,
                         std::function<int()>& run);

// Registers `dataplane status|ports|stats|fdb|rules|conntrack|offload|reload`; through vfgated when
// one serves the config's run directory (`daemon`: vfgatectl's own -c and -s).
void add_dataplane_commands(CLI::App& app, const std::shared_ptr<DaemonTarget>& daemon,
                            std::function<int()>& run);

}  // namespace vfgate::ctl
