#pragma once
// What vfgate runs for a guest: the QEMU command line, planned from a validated config and the
// facts gathered about the host (docs/vm-launcher.md).
//
// plan_guest() is a pure function: no file is read and nothing is started, so that the same
// config and facts give the same command line every time (`vfgate-vm argv`, golden tests). The
// facts come from observe_host() (host.hpp) on a real host and are written by hand in tests.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <vfgate/common/error.hpp>
#include <vfgate/config/config.hpp>

namespace vfgate::vm {

inline constexpr const char* kDefaultRunRoot = "/run/vfgate/guests";
inline constexpr const char* kDefaultQemu = "qemu-system-x86_64";

// Where a guest's runtime files live: <run_root>/<guest>/.
struct RunPaths {
    std::string dir;
    std::string qmp;          // QMP socket (QEMU is the server)
    std::string serial;       // serial console socket (QEMU is the server): `vfgate-vm console`
    std::string console_log;  // everything the serial console printed, size-capped and rotated
    std::string pidfile;      // QEMU's pid, written by QEMU
    std::string supervisor_pidfile;
    std::string state;  // the supervisor's view: state.json (see supervise.hpp)
    std::string log;    // the supervisor's log: starts, exits, restarts, stops
};
RunPaths run_paths(const std::string& run_root, const std::string& guest);

// A VF as the host has it.
struct VfDevice {
    std::string pci;                 // 0000:01:10.2
    std::string driver;              // empty: unbound
    std::optional<int> iommu_group;  // absent: no IOMMU group (no IOMMU, or not enabled)
    // The other devices of its IOMMU group and their drivers (empty: unbound); vfio needs every
    // one of them bound to vfio-pci or to no driver.
    std::map<std::string, std::string> group_peers;
};

struct FileFact {
    bool exists = false;
    std::string format;  // disk images: "qcow2" or "raw" (from the file's first bytes)
    std::string error;   // why it can't be used ("Permission denied (EACCES)"), if it can't
};

struct KvmFact {
    bool usable = false;
    std::string reason;  // why not, or how it was shown to work ("a probe guest booted in 1.2 s")
};

struct HostFacts {
    std::string qemu = kDefaultQemu;  // the QEMU binary
    KvmFact kvm;
    std::vector<int> cpus;  // host CPUs this process may run on (for cpu_pinning)
    std::int64_t mem_available_mb = 0;
    std::string hugepage_dir;  // a hugetlbfs mount (2 MiB pages); empty: none
    std::int64_t hugepages_free_mb = 0;
    std::map<std::string, FileFact> files;  // boot.image, kernel, initrd by path
    // The VF vf-manager assigned to each `type: vf` NIC of the guest, by NIC name (absent: none
    // assigned, or its state file says a VF the host does not have).
    std::map<std::string, VfDevice> vfs;
    std::string vf_state_file;  // where the assignments came from, for messages
};

// A NIC that gets no QEMU device, and why (`type: dpdk` is wired outside QEMU).
struct Unattached {
    std::string nic;
    std::string reason;
};

struct GuestPlan {
    std::string guest;
    std::vector<std::string> argv;              // argv[0] is the QEMU binary; never a shell string
    config::Accel accel = config::Accel::kTcg;  // what it runs with: kKvm or kTcg, never kAuto
    bool hugepages = false;                     // guest memory on hugepages (else memfd)
    std::vector<int> cpu_pinning;               // host CPU per vCPU; empty: not pinned
    config::RestartPolicy restart = config::RestartPolicy::kOnFailure;
    std::vector<Unattached> unattached;
    std::vector<std::string> warnings;  // said to the user, not errors ("KVM unusable: TCG")
    RunPaths paths;
};

// The plan for guest `name` of `cfg`. Every reason it can't run is an error naming the guest
// (and the NIC or file), with all of them reported, one per line: no such guest, no `boot`,
// a missing or unreadable image or kernel, `accel: kvm` where KVM is unusable, cpu_pinning on
// CPUs this host does not have, too little memory, a VF not assigned, not bound to vfio-pci or
// sharing its IOMMU group with a device that is not.
Result<GuestPlan> plan_guest(const config::Config& cfg, const std::string& name,
                             const HostFacts& facts, const std::string& run_root);

// QEMU's option syntax doubles a comma inside a value ("a,,b" is the file "a,b").
std::string qemu_escape(const std::string& value);

}  // namespace vfgate::vm
