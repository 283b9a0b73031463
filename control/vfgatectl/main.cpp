// vfgatectl: the vfgate command line.

#include <iostream>

#include "commands.hpp"

int main(int argc, char** argv) {
    using namespace vfgate::ctl;
    CLI::App app{"vfgatectl: manage a vfgate SR-IOV appliance host", "vfgatectl"};
    app.set_version_flag("-V,--version", "vfgatectl " VFGATE_VERSION);
    app.require_subcommand(1);
    app.fallthrough();
    std::function<int()> run;
    add_config_commands(app, run);
    auto target = std::make_shared<DaemonTarget>();
    add_dataplane_commands(app, target, run);
    app.add_option("-c,--config", target->config,
                   "find vfgated from this config (its run directory's vfgated.sock)");
    app.add_option("-s,--socket", target->socket,
                   "vfgated's socket (default "
                   "/run/vfgate/vfgated.sock)");
    add_daemon_commands(app, target, run);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = app.exit(e);  // prints help, version, or the error and a hint
        return code == 0 ? kOk : kUsage;
    }
    if (!run) return kUsage;
    try {
        return run();
    } catch (const std::exception& e) {
        // A reply of a shape the command did not expect (another program's socket, a server of
        // another version): an error that says so, not an abort.
        std::cerr << "vfgatectl: unexpected reply"
                  << (target->socket.empty() ? std::string() : " from " + target->socket) << ": "
                  << e.what() << "\n";
        return kFailed;
    }
}
