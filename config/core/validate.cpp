// Semantic validation: everything a well-formed YAML file can still get wrong.

#include <algorithm>
#include <set>

#include "checks.hpp"

namespace vfgate::config {
namespace detail {

void check_range(Issues& out, const std::string& path, std::int64_t v, std::int64_t lo,
                 std::int64_t hi, std::string_view what) {
    if (v >= lo && v <= hi) return;
    out.add(path, "found " + std::to_string(v) + "; expected " + std::string(what) + " from " +
                      std::to_string(lo) + " to " + std::to_string(hi));
}

void check_name(Issues& out, const std::string& path, std::string_view name) {
    bool ok = !name.empty() && name.size() <= 32 && name.front() != '.' && name.front() != '-' &&
              name.front() != '_';
    for (char c : name) {
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.');
    }
    if (!ok) {
        out.add(path, "found " + quoted(name) +
                          "; expected a name of 1-32 letters, digits, '_', '-' or '.', starting "
                          "with a letter or digit");
    }
}

bool valid_hostname(std::string_view name) {
    if (name.empty() || name.size() > 253) return false;
    std::size_t label = 0;
    char prev = '.';
    for (char c : name) {
        if (c == '.') {
            if (label == 0 || prev == '-') return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   (c == '-' && label > 0)) {
            if (++label > 63) return false;
        } else {
            return false;
        }
        prev = c;
    }
    return prev != '-' && prev != '.';
}

void unique_name(Issues& out, FirstSeen<std::string>& names, const std::string& path,
                 const std::string& name, std::string_view what) {
    if (name.empty()) return;
    check_name(out, path, name);
    auto prev = names.seen(name, path);
    if (!prev.empty()) {
        out.add(path, "found " + quoted(name) + ", already the name of " + prev +
                          "; expected a unique " + std::string(what) + " name");
    }
}

std::string device_key(std::string_view device) {
    if (auto pci = parse_pci(device)) return to_string(*pci);
    return std::string(device.substr(0, device.find(',')));
}

void check_driver_name(Issues& out, const std::string& path, std::string_view name) {
    bool ok = !name.empty() && name.size() <= 64;
    for (char c : name) {
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-');
    }
    if (!ok) out.add(path, "found " + quoted(name) + "; expected a kernel driver name");
}

}  // namespace detail

namespace {

using detail::at;
using detail::check_range;
using detail::device_key;
using detail::FirstSeen;
using detail::Issues;
using detail::quoted;
using detail::unique_name;

constexpr std::int64_t kMaxCpu = 1023;                                   // CPU_SETSIZE - 1
constexpr std::int64_t kMaxConntrackTimeout = std::int64_t{30} * 86400;  // 30 days

bool valid_ifname(std::string_view s) {
    if (s.empty() || s.size() > 15 || s == "." || s == "..") return false;
    for (char c : s) {
        if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\0') return false;
    }
    return true;
}

void check_device(Issues& out, const std::string& path, const std::string& device) {
    if (device.empty()) {
        out.add(path, "found an empty string; expected a PCI address or DPDK devargs");
    } else if (device.find(':') != std::string::npos && device.find(',') == std::string::npos &&
               !device.starts_with("net_") && !parse_pci(device)) {
        out.add(path, "found " + quoted(device) +
                          "; expected a PCI address like 0000:3b:00.0, or DPDK devargs");
    }
}

void check_dataplane(Issues& out, const Dataplane& dp, FirstSeen<std::string>& devices) {
    const std::string base = "dataplane";
    check_range(out, at(base, "main_core"), dp.main_core, 0, kMaxCpu, "a CPU number");
    if (dp.worker_cores.empty()) {
        out.add(at(base, "worker_cores"), "found an empty list; expected at least one core");
    }
    std::set<std::int64_t> workers;
    for (std::size_t i = 0; i < dp.worker_cores.size(); ++i) {
        auto p = at(base, "worker_cores", i);
        auto core = dp.worker_cores[i];
        check_range(out, p, core, 0, kMaxCpu, "a CPU number");
        if (core == dp.main_core) {
            out.add(p, "found " + std::to_string(core) +
                           ", the main core; expected worker cores other than main_core");
        } else if (!workers.insert(core).second) {
            out.add(p, "found core " + std::to_string(core) + " twice; expected unique cores");
        }
    }
    check_range(out, at(base, "memory_mb"), dp.memory_mb, 64, 1 << 20, "megabytes");
    if (dp.mbufs) check_range(out, at(base, "mbufs"), *dp.mbufs, 1024, 1 << 26, "a buffer count");
    if (dp.verdict_cache != 0) {
        check_range(out, at(base, "verdict_cache"), dp.verdict_cache, 1024, 1 << 26,
                    "an entry count (or 0, for none)");
    }
    const std::string ct = at(base, "conntrack");
    check_range(out, at(ct, "capacity"), dp.conntrack.capacity, 1024, 1 << 26, "an entry count");
    const std::string to = at(ct, "timeouts");
    const auto& t = dp.conntrack.timeouts;
    for (const auto& [key, v] : {std::pair{"tcp_syn", t.tcp_syn_s},
                                 {"tcp_established", t.tcp_established_s},
                                 {"tcp_fin", t.tcp_fin_s},
                                 {"tcp_closed", t.tcp_closed_s},
                                 {"udp", t.udp_s},
                                 {"udp_replied", t.udp_replied_s},
                                 {"icmp", t.icmp_s}}) {
        check_range(out, at(to, key), v, 1, kMaxConntrackTimeout, "seconds");
    }
    check_range(out, at(to, "denied"), t.denied_s, 0, kMaxConntrackTimeout, "seconds");
    const auto& sock = dp.control_socket;
    if (sock.empty() || sock.front() != '/' || sock.size() > kMaxSocketPath) {
        out.add(at(base, "control_socket"), "found " + quoted(sock) +
                                                "; expected an absolute path of at most 107 bytes "
                                                "(the limit of a Unix socket address)");
    }
    for (std::size_t i = 0; i < dp.eal_args.size(); ++i) {
        if (dp.eal_args[i].empty()) {
            out.add(at(base, "eal_args", i), "found an empty string; expected an EAL argument");
        }
    }
    FirstSeen<std::string> names;
    for (std::size_t i = 0; i < dp.uplinks.size(); ++i) {
        const auto& up = dp.uplinks[i];
        auto p = at(base, "uplinks", i);
        unique_name(out, names, at(p, "name"), up.name, "uplink");
        check_device(out, at(p, "device"), up.device);
        if (!up.device.empty()) {
            auto prev = devices.seen(device_key(up.device), at(p, "device"));
            if (!prev.empty()) {
                out.add(at(p, "device"), "found " + quoted(up.device) + ", already used by " +
                                             prev + "; expected each device once");
            }
        }
        check_range(out, at(p, "rx_queues"), up.rx_queues, 1, 64, "a queue count");
        check_range(out, at(p, "mtu"), up.mtu, 68, 9216, "an MTU");
    }
}

void check_pfs(Issues& out, const Config& cfg) {
    FirstSeen<std::string> names, devices;
    for (std::size_t i = 0; i < cfg.pfs.size(); ++i) {
        const auto& pf = cfg.pfs[i];
        auto p = at("", "pfs", i);
        unique_name(out, names, at(p, "name"), pf.name, "PF");
        auto pci = parse_pci(pf.device);
        if (!pci && !valid_ifname(pf.device)) {
            out.add(at(p, "device"), "found " + quoted(pf.device) +
                                         "; expected a PCI address like 0000:3b:00.0 or a "
                                         "network interface name (1-15 characters, no '/' or ':')");
        } else {
            auto key = pci ? to_string(*pci) : pf.device;
            auto prev = devices.seen(key, at(p, "device"));
            if (!prev.empty()) {
                out.add(at(p, "device"), "found " + quoted(pf.device) + ", already used by " +
                                             prev + "; expected each PF once");
            }
        }
        check_range(out, at(p, "num_vfs"), pf.num_vfs, 0, 65535, "a VF count");
        detail::check_driver_name(out, at(p, "vf_driver"), pf.vf_driver);
    }
}

void check_guest_vm(Issues& out, const Config& cfg, const Guest& g, const std::string& p) {
    if (!g.boot) {
        auto not_here = [&](bool given, std::string_view key) {
            if (given) {
                out.add(at(p, key), "found " + std::string(key) +
                                        " on a guest without boot (managed elsewhere); "
                                        "expected VM settings only with boot");
            }
        };
        not_here(g.vcpus.has_value(), "vcpus");
        not_here(g.memory_mb.has_value(), "memory_mb");
        not_here(!g.cpu_pinning.empty(), "cpu_pinning");
        not_here(g.accel.has_value(), "accel");
        not_here(g.restart.has_value(), "restart");
        return;
    }
    // vfgated runs it in <run dir>/guests/NAME/, serving its QMP and console sockets there.
    const std::string serial = run_dir(cfg) + "/guests/" + g.name + "/serial.sock";
    if (serial.size() > kMaxSocketPath) {
        out.add(at(p, "name"), "found guest " + quoted(g.name) + ", whose console socket " +
                                   serial + " is " + std::to_string(serial.size()) +
                                   " bytes; expected at most 107 (the limit of a Unix socket "
                                   "address): a shorter name, or a shorter directory for "
                                   "dataplane.control_socket");
    }
    const Boot& b = *g.boot;
    auto bp = at(p, "boot");
    if (!b.image.empty() && !b.kernel.empty()) {
        out.add(bp, "found both image and kernel; expected one boot method");
    } else if (b.image.empty() && b.kernel.empty()) {
        out.add(bp, "found neither image nor kernel; expected one boot method");
    }
    if (b.kernel.empty() && (!b.initrd.empty() || !b.cmdline.empty())) {
        out.add(bp, "found initrd or cmdline without kernel; expected them only with kernel");
    }
    for (auto [key, file] :
         {std::pair{"image", &b.image}, {"kernel", &b.kernel}, {"initrd", &b.initrd}}) {
        if (!file->empty() && file->front() != '/') {
            out.add(at(bp, key), "found " + quoted(*file) + "; expected an absolute path");
        }
    }
    auto vcpus = g.vcpus.value_or(kDefaultVcpus);
    if (g.vcpus) check_range(out, at(p, "vcpus"), vcpus, 1, 255, "a vCPU count");
    if (g.memory_mb) check_range(out, at(p, "memory_mb"), *g.memory_mb, 64, 1 << 22, "megabytes");
    if (!g.cpu_pinning.empty() && static_cast<std::int64_t>(g.cpu_pinning.size()) != vcpus) {
        out.add(at(p, "cpu_pinning"), "found " + std::to_string(g.cpu_pinning.size()) +
                                          " cores for " + std::to_string(vcpus) +
                                          " vCPUs; expected one core per vCPU");
    }
    for (std::size_t i = 0; i < g.cpu_pinning.size(); ++i) {
        auto core = g.cpu_pinning[i];
        check_range(out, at(p, "cpu_pinning", i), core, 0, kMaxCpu, "a CPU number");
        if (cfg.dataplane &&
            std::find(cfg.dataplane->worker_cores.begin(), cfg.dataplane->worker_cores.end(),
                      core) != cfg.dataplane->worker_cores.end()) {
            out.add(at(p, "cpu_pinning", i),
                    "found core " + std::to_string(core) +
                        ", a dataplane worker core; expected a core the dataplane doesn't poll on");
        }
    }
}

// "IPV4:PORT", the port 1-65535.
bool valid_listen_address(const std::string& s) {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) return false;
    const auto ip = parse_ip(s.substr(0, colon));
    if (!ip || ip->family != IpFamily::kV4) return false;
    const std::string port = s.substr(colon + 1);
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
    const int n = std::stoi(port);
    const bool leading_zero = port.size() > 1 && port[0] == '0';
    return n >= 1 && n <= 65535 && !leading_zero;
}

}  // namespace

std::vector<Issue> validate(const Config& cfg) {
    Issues out;
    check_range(out, "version", cfg.version, kVersion, kVersion, "version");
    if (!cfg.host_name.empty() && !detail::valid_hostname(cfg.host_name)) {
        out.add("host.name", "found " + quoted(cfg.host_name) +
                                 "; expected a host name (letters, digits, '-' and '.', "
                                 "at most 253 characters)");
    }
    if (!cfg.metrics_listen.empty() && cfg.metrics_listen != "none" &&
        !valid_listen_address(cfg.metrics_listen)) {
        out.add("host.metrics", "found " + quoted(cfg.metrics_listen) +
                                    "; expected IPV4:PORT (127.0.0.1:9477) or none");
    }
    FirstSeen<std::string> devices;  // DPDK devices: uplinks and type dpdk NICs
    if (cfg.dataplane) check_dataplane(out, *cfg.dataplane, devices);
    check_pfs(out, cfg);
    FirstSeen<std::string> names;
    for (std::size_t i = 0; i < cfg.guests.size(); ++i) {
        auto p = at("", "guests", i);
        unique_name(out, names, at(p, "name"), cfg.guests[i].name, "guest");
        check_guest_vm(out, cfg, cfg.guests[i], p);
    }
    detail::check_nics(out, cfg, devices);
    return out.take();
}

void fill_defaults(Config& cfg) {
    if (!cfg.dataplane || cfg.dataplane->uplinks.empty()) return;
    for (auto& g : cfg.guests) {
        for (auto& nic : g.nics) {
            if (nic.uplink.empty()) nic.uplink = cfg.dataplane->uplinks.front().name;
        }
    }
}

}  // namespace vfgate::config
