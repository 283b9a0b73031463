// The QEMU command line of a guest: a pure function of the config and the host's facts.
#include <algorithm>
#include <cstddef>

#include <vfgate/vm-launcher/plan.hpp>

namespace vfgate::vm {

using config::Accel;
using config::NicType;

RunPaths run_paths(const std::string& run_root, const std::string& guest) {
    RunPaths p;
    p.dir = run_root + "/" + guest;
    p.qmp = p.dir + "/qmp.sock";
    p.serial = p.dir + "/serial.sock";
    p.console_log = p.dir + "/console.log";
    p.pidfile = p.dir + "/qemu.pid";
    p.supervisor_pidfile = p.dir + "/supervisor.pid";
    p.state = p.dir + "/state.json";
    p.log = p.dir + "/supervisor.log";
    return p;
}

std::string qemu_escape(const std::string& value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        out += c;
        if (c == ',') out += ',';
    }
    return out;
}

namespace {

// Collects every problem with a guest before failing, so that a user fixes them in one go.
class Planner {
  public:
    Planner(const config::Config& cfg, const config::Guest& g, std::size_t index,
            const HostFacts& facts)
        : cfg_(cfg),
          g_(g),
          facts_(facts),
          where_("guests[" + std::to_string(index) + "] (" + g.name + ")") {}

    Result<GuestPlan> plan(const std::string& run_root) {
        GuestPlan p;
        p.guest = g_.name;
        p.paths = run_paths(run_root, g_.name);
        p.restart = g_.restart.value_or(config::RestartPolicy::kOnFailure);
        p.accel = accel(p.warnings);
        const std::int64_t vcpus = g_.vcpus.value_or(config::kDefaultVcpus);
        const std::int64_t mem = g_.memory_mb.value_or(config::kDefaultGuestMemoryMb);
        p.hugepages = memory(mem, p.warnings);
        pinning(p.cpu_pinning);

        auto& a = p.argv;
        a = {facts_.qemu, "-name", "guest=" + qemu_escape(g_.name) + ",debug-threads=on"};
        a.insert(a.end(), {"-no-user-config", "-nodefaults", "-display", "none"});
        a.insert(a.end(), {"-machine", "q35,memory-backend=mem0", "-accel",
                           p.accel == Accel::kKvm ? "kvm" : "tcg", "-cpu",
                           p.accel == Accel::kKvm ? "host" : "max"});
        a.insert(a.end(), {"-smp", std::to_string(vcpus), "-m", std::to_string(mem) + "M"});
        // Shared memory: vhost-user ports map the guest's memory into the dataplane.
        const std::string size = "size=" + std::to_string(mem) + "M";
        if (p.hugepages) {
            a.insert(a.end(), {"-object", "memory-backend-file,id=mem0," + size +
                                              ",mem-path=" + qemu_escape(facts_.hugepage_dir) +
                                              ",share=on,prealloc=on"});
        } else {
            a.insert(a.end(), {"-object", "memory-backend-memfd,id=mem0," + size + ",share=on"});
        }
        // No process spawning, privilege changes or obsolete syscalls from inside QEMU.
        a.insert(a.end(), {"-sandbox",
                           "on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                           "resourcecontrol=deny"});
        a.insert(a.end(), {"-pidfile", p.paths.pidfile});
        a.insert(a.end(), {"-chardev",
                           "socket,id=qmp,path=" + qemu_escape(p.paths.qmp) + ",server=on,wait=off",
                           "-mon", "chardev=qmp,mode=control"});
        a.insert(a.end(), {"-chardev",
                           "socket,id=serial0,path=" + qemu_escape(p.paths.serial) +
                               ",server=on,wait=off,logfile=" + qemu_escape(p.paths.console_log) +
                               ",logappend=on",
                           "-serial", "chardev:serial0"});
        boot(a);
        nics(p);
        if (!errors_.empty()) return fail(first_kind_, errors_);
        return p;
    }

  private:
    void error(ErrorKind kind, const std::string& what) {
        if (errors_.empty()) first_kind_ = kind;
        errors_ += (errors_.empty() ? "" : "\n") + where_ + ": " + what;
    }

    Accel accel(std::vector<std::string>& warnings) {
        const Accel want = g_.accel.value_or(Accel::kAuto);
        if (want == Accel::kTcg) return Accel::kTcg;
        if (facts_.kvm.usable) return Accel::kKvm;
        if (want == Accel::kKvm) {
            error(ErrorKind::kUnsupported,
                  "accel: kvm, but KVM is unusable on this host: " + facts_.kvm.reason +
                      "; expected accel: auto or tcg here");
        } else {
            warnings.push_back(g_.name + ": KVM is unusable on this host (" + facts_.kvm.reason +
                               "): running under TCG, much slower");
        }
        return Accel::kTcg;
    }

    // True when the guest's memory goes on hugepages.
    bool memory(std::int64_t mb, std::vector<std::string>& warnings) {
        if (!facts_.hugepage_dir.empty() && facts_.hugepages_free_mb >= mb) return true;
        if (!facts_.hugepage_dir.empty()) {
            warnings.push_back(g_.name + ": " + std::to_string(facts_.hugepages_free_mb) +
                               " MiB of hugepages free, the guest needs " + std::to_string(mb) +
                               ": its memory is ordinary shared memory instead");
        }
        if (facts_.mem_available_mb < mb) {
            error(ErrorKind::kUnsupported,
                  "memory_mb: " + std::to_string(mb) + " MiB, but the host has " +
                      std::to_string(facts_.mem_available_mb) + " MiB available and " +
                      std::to_string(facts_.hugepages_free_mb) + " MiB of hugepages free");
        }
        return false;
    }

    void pinning(std::vector<int>& out) {
        std::string missing;
        for (std::int64_t c : g_.cpu_pinning) {
            if (std::find(facts_.cpus.begin(), facts_.cpus.end(), c) == facts_.cpus.end()) {
                missing += (missing.empty() ? "" : ", ") + std::to_string(c);
            }
            out.push_back(static_cast<int>(c));
        }
        if (!missing.empty()) {
            std::string have;
            for (int c : facts_.cpus) have += (have.empty() ? "" : ", ") + std::to_string(c);
            error(ErrorKind::kUnsupported,
                  "cpu_pinning: CPU " + missing + " not on this host; expected CPUs among " + have);
        }
    }

    // A file the guest boots from: present and readable.
    const FileFact* file(const std::string& key, const std::string& path) {
        auto it = facts_.files.find(path);
        if (it == facts_.files.end() || !it->second.exists) {
            error(ErrorKind::kNotFound, key + ": " + path + ": no such file");
            return nullptr;
        }
        if (!it->second.error.empty()) {
            error(ErrorKind::kSystem, key + ": " + path + ": " + it->second.error);
            return nullptr;
        }
        return &it->second;
    }

    void boot(std::vector<std::string>& a) {
        if (!g_.boot) return;
        const config::Boot& b = *g_.boot;
        if (!b.image.empty()) {
            if (const FileFact* f = file("boot.image", b.image)) {
                a.insert(a.end(), {"-drive", "file=" + qemu_escape(b.image) +
                                                 ",format=" + f->format + ",if=virtio"});
            }
            return;
        }
        if (file("boot.kernel", b.kernel) != nullptr) a.insert(a.end(), {"-kernel", b.kernel});
        if (!b.initrd.empty() && file("boot.initrd", b.initrd) != nullptr) {
            a.insert(a.end(), {"-initrd", b.initrd});
        }
        if (!b.cmdline.empty()) a.insert(a.end(), {"-append", b.cmdline});
    }

    void nics(GuestPlan& p) {
        for (const config::Nic& n : g_.nics) {
            const std::string id = qemu_escape(n.name);
            const std::string nic = "nics " + n.name;
            switch (n.type) {
                case NicType::kVhostUser:
                    vhost_user(p.argv, id, config::vhost_socket_path(cfg_, g_, n), n.mac);
                    break;
                case NicType::kVf: {
                    auto it = facts_.vfs.find(n.name);
                    if (it == facts_.vfs.end()) {
                        error(ErrorKind::kConflict,
                              nic + ": no VF assigned to it in " + facts_.vf_state_file +
                                  "; expected `vfgate-vf apply` to have run with this config");
                        break;
                    }
                    vf(nic, it->second);
                    p.argv.insert(p.argv.end(),
                                  {"-device", "vfio-pci,host=" + it->second.pci + ",id=" + id});
                    break;
                }
                case NicType::kDpdk:
                    p.unattached.push_back(
                        {n.name, "type dpdk: wired outside QEMU (" + n.devargs + ")"});
                    break;
            }
        }
    }

    // The dataplane serves the socket; QEMU reconnects when the dataplane restarts.
    static void vhost_user(std::vector<std::string>& a, const std::string& id,
                           const std::string& sock, const MacAddr& mac) {
        const std::string chr = "chr-" + id;
        const std::string net = "net-" + id;
        a.insert(
            a.end(),
            {"-chardev", "socket,id=" + chr + ",path=" + qemu_escape(sock) + ",reconnect-ms=1000",
             "-netdev", "vhost-user,id=" + net + ",chardev=" + chr, "-device",
             "virtio-net-pci,netdev=" + net + ",mac=" + to_string(mac) + ",id=" + id});
    }

    void vf(const std::string& nic, const VfDevice& d) {
        const std::string what = nic + ": VF " + d.pci;
        if (d.driver != "vfio-pci") {
            error(ErrorKind::kConflict,
                  what + " is bound to " + (d.driver.empty() ? "no driver" : d.driver) +
                      "; expected vfio-pci (the PF's vf_driver, or the NIC's driver)");
            return;
        }
        if (!d.iommu_group) {
            error(ErrorKind::kUnsupported,
                  what + " has no IOMMU group; expected an IOMMU (intel_iommu=on or amd_iommu)");
            return;
        }
        for (const auto& [pci, driver] : d.group_peers) {
            if (driver.empty() || driver == "vfio-pci" || driver == "pci-stub" ||
                driver == "pcieport") {
                continue;
            }
            std::string msg = what + " shares IOMMU group ";
            msg += std::to_string(*d.iommu_group);
            msg += " with " + pci;
            msg += ", bound to " + driver;
            msg += "; expected every device of the group on vfio-pci";
            error(ErrorKind::kConflict, msg);
        }
    }

    const config::Config& cfg_;
    const config::Guest& g_;
    const HostFacts& facts_;
    std::string where_;
    std::string errors_;
    ErrorKind first_kind_ = ErrorKind::kInvalidArgument;
};

}  // namespace

Result<GuestPlan> plan_guest(const config::Config& cfg, const std::string& name,
                             const HostFacts& facts, const std::string& run_root) {
    std::string known;
    for (std::size_t i = 0; i < cfg.guests.size(); ++i) {
        const config::Guest& g = cfg.guests[i];
        if (g.name != name) {
            known += (known.empty() ? "" : ", ") + g.name;
            continue;
        }
        if (!g.boot) {
            return fail(ErrorKind::kInvalidArgument,
                        "guests[" + std::to_string(i) + "] (" + name +
                            ") has no boot section: it is managed elsewhere and vfgate only "
                            "provisions its NICs (config-v1); add boot.image or boot.kernel");
        }
        return Planner(cfg, g, i, facts).plan(run_root);
    }
    return fail(ErrorKind::kNotFound, "no guest '" + name + "' in the config; expected one of " +
                                          (known.empty() ? "(none)" : known));
}

}  // namespace vfgate::vm
