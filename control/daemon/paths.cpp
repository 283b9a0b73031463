#include "paths.hpp"

#include <array>
#include <filesystem>
#include <unistd.h>

namespace vfgate::control {
namespace fs = std::filesystem;

Paths paths_for(const config::Config& cfg) {
    Paths p;
    p.run_dir = config::run_dir(cfg);
    p.socket = p.run_dir + "/vfgated.sock";
    p.pidfile = p.run_dir + "/vfgated.pid";
    p.state_dir = p.run_dir + "/vfgated";
    p.dataplane_config = p.state_dir + "/dataplane.yaml";
    p.dataplane_pidfile = p.state_dir + "/dataplane.pid";
    p.dataplane_log = p.state_dir + "/dataplane.log";
    if (cfg.dataplane) p.dataplane_socket = cfg.dataplane->control_socket;
    p.guest_root = p.run_dir + "/guests";
    p.vf_state = p.run_dir + "/vfs.json";
    p.kvm_memo = p.run_dir + "/kvm-probe";
    return p;
}

namespace {

std::string find_near(const fs::path& self_dir, const std::string& name, const char* build_dir) {
    std::error_code ec;
    for (const fs::path& candidate :
         {self_dir / name, self_dir / ".." / "bin" / name, self_dir / ".." / build_dir / name}) {
        if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) {
            return fs::weakly_canonical(candidate, ec).string();
        }
    }
    return name;
}

}  // namespace

Tools find_tools() {
    Tools t;
    std::array<char, 4096> self{};
    const ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
    if (n <= 0) return t;
    const fs::path dir =
        fs::path(std::string(self.data(), static_cast<std::size_t>(n))).parent_path();
    t.dataplane = find_near(dir, "vfgate-dataplane", "dataplane");
    t.vm = find_near(dir, "vfgate-vm", "vm-launcher");
    return t;
}

}  // namespace vfgate::control
