// Actions on this host: sysfs for VF counts and drivers, rtnetlink for links and VF attributes.
#include <vfgate/vfmgr/host.hpp>

namespace vfgate::vfmgr {
namespace {

class HostExecutor final : public Executor {
  public:
    explicit HostExecutor(HostPaths paths) : paths_(std::move(paths)) {}

    Result<void> run(const Action& a) override {
        switch (a.kind) {
            case ActionKind::kPfUp:
                return set_link_up(a.pf_netdev, std::get<bool>(a.to));
            case ActionKind::kEswitchMode:
                return fail(ErrorKind::kUnsupported,
                            std::string("eswitch mode ") +
                                config::to_string(std::get<config::EswitchMode>(a.to)) +
                                ": vfgate-vf does not drive devlink yet; set it with `devlink dev "
                                "eswitch set pci/" +
                                a.pf_pci + " mode ...` before applying");
            case ActionKind::kAutoprobe:
                return set_autoprobe(paths_, a.pf_pci, std::get<bool>(a.to));
            case ActionKind::kNumVfs:
                return set_num_vfs(paths_, a.pf_pci, std::get<std::uint32_t>(a.to));
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
    HostPaths paths_;
};

}  // namespace

std::unique_ptr<Executor> host_executor(const HostPaths& paths) {
    return std::make_unique<HostExecutor>(paths);
}

}  // namespace vfgate::vfmgr
