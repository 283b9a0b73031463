#pragma once
// Where vfgated keeps its files and finds its programs (docs/control.md). Everything lives in
// the config's run directory (that of dataplane.control_socket, /run/vfgate by default), so
// two configs with different run directories never meet. Control threads only.

#include <string>

#include <vfgate/common/error.hpp>
#include <vfgate/config/config.hpp>

namespace vfgate::control {

struct Paths {
    std::string run_dir;            // config::run_dir(cfg)
    std::string socket;             // <run_dir>/vfgated.sock: vfgatectl's
    std::string pidfile;            // <run_dir>/vfgated.pid, locked while vfgated runs
    std::string state_dir;          // <run_dir>/vfgated/
    std::string dataplane_config;   // <state_dir>/dataplane.yaml: the config the dataplane runs
    std::string dataplane_pidfile;  // <state_dir>/dataplane.pid
    std::string dataplane_log;      // <state_dir>/dataplane.log: its stdout and stderr
    std::string dataplane_socket;   // dataplane.control_socket; empty: no dataplane
    std::string guest_root;         // <run_dir>/guests: vm-launcher's run directories
    std::string vf_state;           // <run_dir>/vfs.json: vf-manager's assignments
    std::string kvm_memo;           // <run_dir>/kvm-probe: the KVM probe's answer, per boot
};
Paths paths_for(const config::Config& cfg);

// The programs vfgated runs, and the host roots (injectable for tests).
struct Tools {
    std::string dataplane = "vfgate-dataplane";
    std::string vm = "vfgate-vm";  // runs the guests' supervisors
    std::string qemu = "qemu-system-x86_64";
    std::string sys = "/sys";
    std::string proc = "/proc";
};
// Next to vfgated's own binary when installed (bindir and sbindir both tried), or in the build
// tree (../dataplane/, ../vm-launcher/), else by name from PATH.
Tools find_tools();

}  // namespace vfgate::control
