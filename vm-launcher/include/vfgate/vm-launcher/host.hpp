#pragma once
// vm-launcher's adapter to the host: gathers the facts plan_guest() needs (host.cpp), and
// probes whether KVM really runs a guest here.
// Blocking file I/O and, for the KVM probe, one short QEMU run; call from a control thread.

#include <string>

#include <vfgate/common/error.hpp>
#include <vfgate/config/config.hpp>
#include <vfgate/vm-launcher/plan.hpp>

namespace vfgate::vm {

struct HostOptions {
    std::string sys = "/sys";
    std::string proc = "/proc";
    std::string qemu = kDefaultQemu;
    std::string vf_state_file = "/run/vfgate/vfs.json";  // vf-manager's assignments
    // Where the KVM probe's answer is kept until the next boot; empty: probe every time.
    std::string kvm_memo = "/run/vfgate/kvm-probe";
    // A Linux kernel for the KVM probe; empty: the guest's boot.kernel, the host's own
    // (/boot/vmlinuz-RELEASE), or the image of scripts/guest-image, whichever exists first.
    // Given, it also means "probe now": kvm_memo is neither read nor written.
    std::string probe_kernel;
};

// Whether KVM runs a guest here: /dev/kvm opens, and a Linux kernel booted under KVM by QEMU
// (-cpu host, no root disk) gets to its panic and exits within 20 s. /dev/kvm alone proves
// nothing: with broken nested virtualization it opens, and guests hang or QEMU aborts.
KvmFact probe_kvm(const HostOptions& opts, const std::string& guest_kernel);

// The facts for guest `name` of `cfg`: KVM (probed once per boot), CPUs, memory and
// hugepages, its boot files, and its VFs (vf-manager's state file, then sysfs).
Result<HostFacts> observe_host(const config::Config& cfg, const std::string& name,
                               const HostOptions& opts);

}  // namespace vfgate::vm
