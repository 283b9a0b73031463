#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <ifaddrs.h>
#include <iterator>
#include <net/if.h>
#include <sstream>
#include <system_error>

#include <vfgate/vfmgr/host.hpp>

namespace vfgate::vfmgr {
namespace fs = std::filesystem;
namespace {

std::optional<std::string> read_line(const fs::path& p) {
    std::ifstream in(p);
    std::string line;
    if (!in || !std::getline(in, line)) return std::nullopt;
    return line;
}

std::optional<std::uint32_t> read_u32(const fs::path& p) {
    auto line = read_line(p);
    if (!line) return std::nullopt;
    try {
        return static_cast<std::uint32_t>(std::stoul(*line, nullptr, 0));
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// The basename of a symlink's target ("driver" -> ".../drivers/igb" -> "igb"), or empty.
std::string link_name(const fs::path& p) {
    std::error_code ec;
    const fs::path target = fs::read_symlink(p, ec);
    return ec ? std::string() : target.filename().string();
}

// The first entry of a directory (a device's net/ holds its one netdev), or empty.
std::string first_entry(const fs::path& dir) {
    std::error_code ec;
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names.empty() ? std::string() : names.front();
}

Result<void> write_file(const fs::path& p, const std::string& value) {
    std::ofstream out(p);
    if (!out) return tl::unexpected(Error::from_errno(errno, "open " + p.string()));
    out << value;
    out.flush();
    if (!out) {
        std::string what = "write " + value;
        what += " to " + p.string();
        return tl::unexpected(Error::from_errno(errno, what));
    }
    return {};
}

// Processes holding a VFIO group open: /dev/vfio/N -> "comm (pid P)".
std::map<int, std::string> vfio_holders(const HostPaths& paths) {
    std::map<int, std::string> out;
    std::error_code ec;
    for (const auto& proc : fs::directory_iterator(paths.proc, ec)) {
        const std::string pid = proc.path().filename();
        if (pid.empty() || !std::all_of(pid.begin(), pid.end(), ::isdigit)) continue;
        std::error_code fd_ec;
        for (const auto& fd : fs::directory_iterator(proc.path() / "fd", fd_ec)) {
            std::error_code lec;
            const std::string target = fs::read_symlink(fd.path(), lec).string();
            const std::string prefix = "/dev/vfio/";
            if (lec || target.rfind(prefix, 0) != 0) continue;
            const std::string group = target.substr(prefix.size());
            if (group.empty() || !std::all_of(group.begin(), group.end(), ::isdigit)) continue;
            const std::string comm = read_line(proc.path() / "comm").value_or("?");
            std::string holder = comm;
            holder += " (pid " + pid + ")";
            out.emplace(std::stoi(group), std::move(holder));
        }
    }
    return out;
}

ObservedVf read_vf(const fs::path& dev, std::uint32_t index,
                   const std::map<int, std::string>& holders) {
    ObservedVf vf;
    vf.index = index;
    vf.pci = dev.filename();
    vf.driver = link_name(dev / "driver");
    vf.netdev = first_entry(dev / "net");
    const std::string group = link_name(dev / "iommu_group");
    if (!group.empty() && std::all_of(group.begin(), group.end(), ::isdigit)) {
        vf.iommu_group = std::stoi(group);
        if (auto it = holders.find(*vf.iommu_group); it != holders.end()) vf.holder = it->second;
    }
    return vf;
}

void read_link(const HostPaths& paths, ObservedPf& pf) {
    if (pf.netdev.empty()) return;
    const fs::path net = fs::path(paths.sys) / "class/net" / pf.netdev;
    pf.up = (read_u32(net / "flags").value_or(0) & IFF_UP) != 0;
    pf.carrier = read_u32(net / "carrier").value_or(0) == 1;  // unreadable while down
}

}  // namespace

HostNet read_host_net(const HostPaths& paths) {
    HostNet out;
    // /proc/net/route: Iface Destination Gateway ...; a default route has Destination 0.
    std::ifstream v4(fs::path(paths.proc) / "net/route");
    std::string line;
    std::getline(v4, line);  // header
    while (std::getline(v4, line)) {
        std::istringstream f(line);
        std::string iface, dest;
        if (f >> iface >> dest && dest == "00000000") out.default_route.insert(iface);
    }
    // /proc/net/ipv6_route: dest plen src plen next-hop metric ref use flags iface.
    std::ifstream v6(fs::path(paths.proc) / "net/ipv6_route");
    while (std::getline(v6, line)) {
        std::istringstream f(line);
        const std::vector<std::string> w{std::istream_iterator<std::string>(f),
                                         std::istream_iterator<std::string>()};
        if (w.size() == 10 && w[0] == std::string(32, '0') && w[1] == "00" && w[9] != "lo") {
            out.default_route.insert(w[9]);
        }
    }
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) return out;
    for (const ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
        if (a->ifa_addr == nullptr) continue;
        const int family = a->ifa_addr->sa_family;
        if (family != AF_INET && family != AF_INET6) continue;
        std::array<char, INET6_ADDRSTRLEN> text{};
        const void* addr =
            family == AF_INET ? static_cast<const void*>(
                                    &reinterpret_cast<const sockaddr_in*>(a->ifa_addr)->sin_addr)
                              : static_cast<const void*>(
                                    &reinterpret_cast<const sockaddr_in6*>(a->ifa_addr)->sin6_addr);
        if (inet_ntop(family, addr, text.data(), text.size()) == nullptr) continue;
        const std::string s = text.data();
        if (s.rfind("fe80:", 0) == 0) continue;  // link-local: every interface has one
        out.addresses[a->ifa_name].push_back(s);
    }
    freeifaddrs(list);
    return out;
}

Result<std::vector<ObservedPf>> read_pfs(const HostPaths& paths, const HostNet& net) {
    const fs::path devices = fs::path(paths.sys) / "bus/pci/devices";
    std::error_code ec;
    fs::directory_iterator it(devices, ec);
    if (ec) return tl::unexpected(Error::from_errno(ec.value(), "list " + devices.string()));
    const auto holders = vfio_holders(paths);
    std::vector<ObservedPf> out;
    for (const auto& e : it) {
        const fs::path& dev = e.path();
        const auto total = read_u32(dev / "sriov_totalvfs");
        if (!total || *total == 0) continue;
        ObservedPf pf;
        pf.pci = dev.filename();
        pf.total_vfs = *total;
        pf.num_vfs = read_u32(dev / "sriov_numvfs").value_or(0);
        pf.drivers_autoprobe = read_u32(dev / "sriov_drivers_autoprobe").value_or(1) != 0;
        pf.driver = link_name(dev / "driver");
        pf.netdev = first_entry(dev / "net");
        read_link(paths, pf);
        if (!pf.netdev.empty()) {
            if (net.default_route.contains(pf.netdev)) {
                pf.host_uses.emplace_back("carries the default route");
            }
            if (auto a = net.addresses.find(pf.netdev); a != net.addresses.end()) {
                for (const std::string& addr : a->second) {
                    pf.host_uses.push_back("has address " + addr);
                }
            }
        }
        for (std::uint32_t i = 0; i < pf.num_vfs; ++i) {
            const fs::path link = dev / ("virtfn" + std::to_string(i));
            std::error_code lec;
            const fs::path target = fs::read_symlink(link, lec);
            if (lec) continue;
            pf.vfs.push_back(read_vf(devices / target.filename(), i, holders));
        }
        out.push_back(std::move(pf));
    }
    std::sort(out.begin(), out.end(),
              [](const ObservedPf& a, const ObservedPf& b) { return a.pci < b.pci; });
    return out;
}

Result<void> set_num_vfs(const HostPaths& paths, const std::string& pf_pci, std::uint32_t n) {
    const fs::path p = fs::path(paths.sys) / "bus/pci/devices" / pf_pci / "sriov_numvfs";
    // The kernel changes a non-zero count only through 0.
    if (n != 0 && read_u32(p).value_or(0) != 0) {
        if (auto r = write_file(p, "0"); !r) return r;
    }
    if (auto r = write_file(p, std::to_string(n)); !r) return r;
    if (const auto now = read_u32(p); now != n) {
        return fail(ErrorKind::kSystem, p.string() + " reads " +
                                            (now ? std::to_string(*now) : "nothing") +
                                            " after writing " + std::to_string(n));
    }
    return {};
}

Result<void> set_autoprobe(const HostPaths& paths, const std::string& pf_pci, bool on) {
    return write_file(fs::path(paths.sys) / "bus/pci/devices" / pf_pci / "sriov_drivers_autoprobe",
                      on ? "1" : "0");
}

Result<std::string> vf_pci(const HostPaths& paths, const std::string& pf_pci, std::uint32_t vf) {
    const fs::path link =
        fs::path(paths.sys) / "bus/pci/devices" / pf_pci / ("virtfn" + std::to_string(vf));
    std::error_code ec;
    const fs::path target = fs::read_symlink(link, ec);
    if (ec) return tl::unexpected(Error::from_errno(ec.value(), "read link " + link.string()));
    return target.filename().string();
}

Result<void> bind_driver(const HostPaths& paths, const std::string& pci,
                         const std::string& driver) {
    const fs::path bus = fs::path(paths.sys) / "bus/pci";
    const fs::path dev = bus / "devices" / pci;
    const std::string what = driver.empty() ? "unbind " + pci : "bind " + pci + " to " + driver;
    auto ctx = [&](Error e) { return tl::unexpected(std::move(e).context(what)); };
    if (auto r = write_file(dev / "driver_override", driver.empty() ? "\n" : driver); !r) {
        return ctx(r.error());
    }
    const std::string now = link_name(dev / "driver");
    if (!now.empty() && now != driver) {
        if (auto r = write_file(dev / "driver" / "unbind", pci); !r) return ctx(r.error());
    }
    if (driver.empty() || now == driver) return {};
    if (auto r = write_file(bus / "drivers_probe", pci); !r) return ctx(r.error());
    if (const std::string after = link_name(dev / "driver"); after != driver) {
        return ctx(Error(ErrorKind::kSystem,
                         "the device is " + (after.empty() ? "unbound" : "bound to " + after) +
                             " after probing (is the " + driver + " module loaded?)"));
    }
    return {};
}

}  // namespace vfgate::vfmgr
