#pragma once
// vfgatectl subcommands. Each registers itself on the CLI11 app and returns, through `run`, the
// process exit status: 0 success, 1 the operation failed or the input is invalid, 2 usage.

#include <functional>

#include <CLI/CLI.hpp>

namespace vfgate::ctl {

enum Exit : int { kOk = 0, kFailed = 1, kUsage = 2 };

// Registers `validate` and `describe`; `run` is set to the chosen command's action.
void add_config_commands(CLI::App& app, std::function<int()>& run);

// Registers `dataplane status|ports|stats|fdb|reload`.
void add_dataplane_commands(CLI::App& app, std::function<int()>& run);

}  // namespace vfgate::ctl
