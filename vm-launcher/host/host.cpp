// The facts about the host a guest's command line depends on.
#include <array>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sched.h>
#include <signal.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <vfgate/common/file.hpp>
#include <vfgate/common/process.hpp>
#include <vfgate/vfmgr/host.hpp>
#include <vfgate/vm-launcher/host.hpp>

namespace vfgate::vm {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

std::string last_line_of(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::string last;
    while (std::getline(in, line)) {
        if (!line.empty()) last = line;
    }
    return last;
}

std::string boot_id(const HostOptions& o) {
    return first_line(o.proc + "/sys/kernel/random/boot_id");
}

// A kernel to probe with: the caller's, the guest's, the host's own, then the guest image's.
std::string probe_kernel(const HostOptions& o, const std::string& guest_kernel) {
    if (!o.probe_kernel.empty()) return o.probe_kernel;
    if (!guest_kernel.empty() && ::access(guest_kernel.c_str(), R_OK) == 0) return guest_kernel;
    utsname u{};
    if (::uname(&u) == 0) {
        const std::string own = std::string("/boot/vmlinuz-") + u.release;
        if (::access(own.c_str(), R_OK) == 0) return own;
    }
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/var/cache/vfgate/guest", ec)) {
        if (::access((e.path() / "vmlinuz").c_str(), R_OK) == 0) return e.path() / "vmlinuz";
    }
    return {};
}

KvmFact run_probe(const HostOptions& o, const std::string& guest_kernel) {
    const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) return {false, "/dev/kvm: " + errno_text(errno)};
    ::close(fd);
    const std::string kernel = probe_kernel(o, guest_kernel);
    if (kernel.empty()) {
        return {false,
                "/dev/kvm opens, but there is no kernel to prove a guest runs (no "
                "boot.kernel, /boot/vmlinuz-$(uname -r) or scripts/guest-image)"};
    }
    char dir_template[] = "/tmp/vfgate-kvm-probe.XXXXXX";
    const char* dir = ::mkdtemp(dir_template);
    if (dir == nullptr) return {false, "probe: mkdtemp: " + errno_text(errno)};
    const std::string console = std::string(dir) + "/console";
    const std::string out = std::string(dir) + "/qemu.log";
    // No root disk: the kernel panics, panic=-1 reboots and -no-reboot makes QEMU exit.
    const std::vector<std::string> argv = {o.qemu,        "-no-user-config",
                                           "-nodefaults", "-display",
                                           "none",        "-machine",
                                           "q35",         "-accel",
                                           "kvm",         "-cpu",
                                           "host",        "-m",
                                           "128M",        "-no-reboot",
                                           "-serial",     "file:" + console,
                                           "-kernel",     kernel,
                                           "-append",     "console=ttyS0 panic=-1 loglevel=4"};
    const auto start = std::chrono::steady_clock::now();
    KvmFact fact;
    auto pid = proc::spawn(argv, {out, false});
    if (!pid) {
        fact = {false, "probe: " + pid.error().to_string()};
    } else if (auto w = proc::Watch::open(*pid); !w) {
        ::kill(*pid, SIGKILL);
        proc::reap(*pid);
        fact = {false, "probe: " + w.error().to_string()};
    } else if (!w->wait_exit(20s)) {
        ::kill(*pid, SIGKILL);
        proc::reap(*pid);
        fact = {false,
                "a guest kernel under KVM did not finish booting within 20 s (broken "
                "nested virtualization?)"};
    } else {
        auto exit = proc::reap(*pid);
        std::ifstream in(console);
        const std::string text((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - start)
                            .count();
        if (text.find("Kernel panic") != std::string::npos) {
            fact = {true, "a guest kernel booted under KVM in " + std::to_string(ms) + " ms"};
        } else {
            const std::string said = last_line_of(out);
            fact = {false, "QEMU under KVM " + (exit ? exit->text : std::string("ended")) +
                               " before its guest kernel booted" +
                               (said.empty() ? "" : ": " + said)};
        }
    }
    fs::remove_all(dir);
    return fact;
}

std::int64_t meminfo_mb(const HostOptions& o, const std::string& key) {
    std::ifstream in(o.proc + "/meminfo");
    std::string name;
    std::int64_t kb = 0;
    std::string unit;
    while (in >> name >> kb) {
        std::getline(in, unit);
        if (name == key + ":") return kb / 1024;
    }
    return 0;
}

// The hugetlbfs mount of the default (2 MiB) page size, and its free pages in MiB.
void hugepages(const HostOptions& o, HostFacts& f) {
    std::ifstream in(o.proc + "/mounts");
    std::string dev;
    std::string dir;
    std::string type;
    std::string opts;
    std::string rest;
    while (in >> dev >> dir >> type >> opts) {
        std::getline(in, rest);
        if (type != "hugetlbfs") continue;
        if (opts.find("pagesize=") != std::string::npos &&
            opts.find("pagesize=2M") == std::string::npos) {
            continue;
        }
        f.hugepage_dir = dir;
        break;
    }
    if (f.hugepage_dir.empty()) return;
    const std::string free =
        first_line(o.sys + "/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
    f.hugepages_free_mb = free.empty() ? 0 : std::stoll(free) * 2;
}

FileFact file_fact(const std::string& path, bool image) {
    FileFact f;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno != ENOENT) {
            f.exists = true;
            f.error = errno_text(errno);
        }
        return f;
    }
    f.exists = true;
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        f.error = "not a regular file or block device";
        return f;
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        f.error = errno_text(errno);
        return f;
    }
    if (image) {
        std::array<unsigned char, 4> magic{};
        const ssize_t n = ::read(fd, magic.data(), magic.size());
        f.format =
            (n == 4 && magic[0] == 'Q' && magic[1] == 'F' && magic[2] == 'I' && magic[3] == 0xfb)
                ? "qcow2"
                : "raw";
    }
    ::close(fd);
    return f;
}

std::string link_name(const fs::path& link) {
    std::error_code ec;
    const fs::path t = fs::read_symlink(link, ec);
    return ec ? std::string() : t.filename().string();
}

VfDevice vf_device(const HostOptions& o, const std::string& pci) {
    VfDevice d;
    d.pci = pci;
    const fs::path dev = fs::path(o.sys) / "bus/pci/devices" / pci;
    d.driver = link_name(dev / "driver");
    const std::string group = link_name(dev / "iommu_group");
    if (group.empty()) return d;
    d.iommu_group = std::stoi(group);
    std::error_code ec;
    for (const auto& e :
         fs::directory_iterator(fs::path(o.sys) / "kernel/iommu_groups" / group / "devices", ec)) {
        const std::string peer = e.path().filename().string();
        if (peer != pci) d.group_peers[peer] = link_name(e.path() / "driver");
    }
    return d;
}

}  // namespace

KvmFact probe_kvm(const HostOptions& o, const std::string& guest_kernel) {
    const std::string id = boot_id(o);
    // An explicit probe kernel asks for a fresh probe: the memo is neither read nor written.
    const bool memo = !o.kvm_memo.empty() && o.probe_kernel.empty();
    if (memo) {
        std::ifstream in(o.kvm_memo);
        std::string memo_id;
        std::string usable;
        std::string reason;
        if (std::getline(in, memo_id) && std::getline(in, usable) && std::getline(in, reason) &&
            memo_id == id && !id.empty()) {
            return {usable == "usable", reason};
        }
    }
    KvmFact f = run_probe(o, guest_kernel);
    if (memo) {
        // A memo that can't be written is probed again next time.
        (void)write_file_atomic(
            o.kvm_memo, id + "\n" + (f.usable ? "usable" : "unusable") + "\n" + f.reason + "\n");
    }
    return f;
}

Result<HostFacts> observe_host(const config::Config& cfg, const std::string& name,
                               const HostOptions& o) {
    const config::Guest* g = nullptr;
    for (const auto& each : cfg.guests) {
        if (each.name == name) g = &each;
    }
    HostFacts f;
    f.qemu = o.qemu;
    f.vf_state_file = o.vf_state_file;
    if (g == nullptr || !g->boot) return f;  // plan_guest says what is wrong

    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE; ++c) {
            if (CPU_ISSET(c, &set)) f.cpus.push_back(c);
        }
    }
    f.mem_available_mb = meminfo_mb(o, "MemAvailable");
    hugepages(o, f);
    const config::Boot& b = *g->boot;
    if (!b.image.empty()) f.files[b.image] = file_fact(b.image, true);
    if (!b.kernel.empty()) f.files[b.kernel] = file_fact(b.kernel, false);
    if (!b.initrd.empty()) f.files[b.initrd] = file_fact(b.initrd, false);
    if (g->accel.value_or(config::Accel::kAuto) != config::Accel::kTcg) {
        f.kvm = probe_kvm(o, b.kernel);
    } else {
        f.kvm = {false, "not probed: accel tcg"};
    }

    bool has_vf = false;
    for (const auto& n : g->nics) has_vf = has_vf || n.type == config::NicType::kVf;
    if (!has_vf) return f;
    auto assignments = vfmgr::read_state(o.vf_state_file);
    if (!assignments) return tl::unexpected(assignments.error());
    for (const auto& a : *assignments) {
        if (a.guest != name) continue;
        auto pci = vfmgr::vf_pci({o.sys, o.proc}, a.pf_pci, a.vf);
        if (pci) f.vfs[a.nic] = vf_device(o, *pci);
    }
    return f;
}

}  // namespace vfgate::vm
