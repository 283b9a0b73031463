// Actions on this host: sysfs for VF counts and drivers, rtnetlink for links and VF attributes.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include <vfgate/vfmgr/host.hpp>

namespace vfgate::vfmgr {
namespace {

class HostExecutor final : public Executor {
  public:
    explicit HostExecutor(HostPaths paths) : paths_(std::move(paths)) {}

    Result<void> run(const Action& a) override {
        switch (a.kind) {
            case ActionKind::kPfUp: {
                const bool up = std::get<bool>(a.to);
                if (auto r = set_link_up(a.pf_netdev, up); !r || !up) return r;
                settle(a.pf_netdev);
                return {};
            }
            case ActionKind::kEswitchMode:
                return set_eswitch_mode(a.pf_pci, std::get<config::EswitchMode>(a.to));
            case ActionKind::kAutoprobe:
                return set_autoprobe(paths_, a.pf_pci, std::get<bool>(a.to));
            case ActionKind::kNumVfs: {
                auto r = set_num_vfs(paths_, a.pf_pci, std::get<std::uint32_t>(a.to));
                if (r && !a.pf_netdev.empty()) settle(a.pf_netdev);
                return r;
            }
            case ActionKind::kVfDriver: {
                auto pci = vf_pci(paths_, a.pf_pci, a.vf.value_or(0));
                if (!pci) return tl::unexpected(pci.error());
                return bind_driver(paths_, *pci, std::get<std::string>(a.to));
            }
            case ActionKind::kVfMac:
            case ActionKind::kVfVlan:
            case ActionKind::kVfSpoofchk:
            case ActionKind::kVfTrust:
            case ActionKind::kVfRate:
            case ActionKind::kVfLinkState:
                if (a.pf_netdev.empty()) {
                    return fail(ErrorKind::kUnsupported,
                                "the PF has no netdev (bound to a userspace driver?): VF "
                                "attributes are set through the PF's netdev");
                }
                return set_vf_attr(a.pf_netdev, a.vf.value_or(0), a.kind, a.to);
        }
        return fail(ErrorKind::kInternal, "unknown action");
    }

  private:
    // Waits (at most 10 s) until the PF's link has been up for a second. Drivers check VF rate
    // limits against the link speed, which they know only while the link is up; and igb resets
    // the PF when sriov_numvfs changes (the link drops and comes back about 1.5 s later), and
    // VF settings made in that window don't all reach the hardware. A PF that is down, or has
    // no carrier after 10 s (a cable out), is not waited for longer: that is no error.
    void settle(const std::string& netdev) const {
        const std::string base = paths_.sys + "/class/net/" + netdev;
        auto read = [](const std::string& path) {
            std::ifstream in(path);
            std::string v;
            in >> v;
            return v;
        };
        int stable = 0;
        for (int i = 0; i < 100 && stable < 10; ++i) {
            const std::string flags = read(base + "/flags");  // "0x1003"
            if (flags.empty() || (std::strtoul(flags.c_str(), nullptr, 16) & 0x1) == 0) return;
            stable = read(base + "/carrier") == "1" ? stable + 1 : 0;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }

    HostPaths paths_;
};

}  // namespace

std::unique_ptr<Executor> host_executor(const HostPaths& paths) {
    return std::make_unique<HostExecutor>(paths);
}

}  // namespace vfgate::vfmgr
