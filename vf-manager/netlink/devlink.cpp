// The eswitch mode through devlink (generic netlink, libnl-genl-3): DEVLINK_CMD_ESWITCH_GET
// and _SET on the PF's devlink instance, "pci/<address>".
#include <linux/devlink.h>
#include <memory>
#include <optional>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include <vfgate/vfmgr/host.hpp>

#include "nl_handles.hpp"

namespace vfgate::vfmgr {
namespace {

// Sends one devlink request for the PF and reads the reply (or the kernel's error).
Result<std::optional<std::uint16_t>> request(const std::string& pci, std::uint8_t cmd,
                                             std::optional<std::uint16_t> mode) {
    const std::string what = "devlink pci/" + pci;
    NlSock sk(nl_socket_alloc());
    if (!sk) return fail(ErrorKind::kSystem, what + ": no memory for a netlink socket");
    if (int err = genl_connect(sk.get()); err < 0) {
        return fail(ErrorKind::kSystem, what + ": " + nl_geterror(err));
    }
    const int family = genl_ctrl_resolve(sk.get(), DEVLINK_GENL_NAME);
    if (family < 0) return fail(ErrorKind::kUnsupported, what + ": the kernel has no devlink");
    NlMsg msg(nlmsg_alloc());
    if (!msg ||
        genlmsg_put(msg.get(), NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, NLM_F_REQUEST, cmd,
                    DEVLINK_GENL_VERSION) == nullptr ||
        nla_put_string(msg.get(), DEVLINK_ATTR_BUS_NAME, "pci") < 0 ||
        nla_put_string(msg.get(), DEVLINK_ATTR_DEV_NAME, pci.c_str()) < 0 ||
        (mode && nla_put_u16(msg.get(), DEVLINK_ATTR_ESWITCH_MODE, *mode) < 0)) {
        return fail(ErrorKind::kSystem, what + ": can't build the request");
    }
    if (int err = nl_send_auto(sk.get(), msg.get()); err < 0) {
        return fail(ErrorKind::kSystem, what + ": " + nl_geterror(err));
    }
    std::optional<std::uint16_t> got;
    auto on_valid = [](nl_msg* m, void* arg) -> int {
        std::array<nlattr*, DEVLINK_ATTR_MAX + 1> attrs{};
        if (genlmsg_parse(nlmsg_hdr(m), 0, attrs.data(), DEVLINK_ATTR_MAX, nullptr) == 0 &&
            attrs[DEVLINK_ATTR_ESWITCH_MODE] != nullptr) {
            *static_cast<std::optional<std::uint16_t>*>(arg) =
                nla_get_u16(attrs[DEVLINK_ATTR_ESWITCH_MODE]);
        }
        return NL_OK;
    };
    if (int err = nl_socket_modify_cb(sk.get(), NL_CB_VALID, NL_CB_CUSTOM, on_valid, &got);
        err < 0) {
        return fail(ErrorKind::kSystem, what + ": " + nl_geterror(err));
    }
    if (int err = nl_recvmsgs_default(sk.get()); err < 0) {
        // No devlink instance (ENODEV) or no eswitch (EOPNOTSUPP): the driver can't do it.
        const bool unsupported =
            err == -NLE_OBJ_NOTFOUND || err == -NLE_OPNOTSUPP || err == -NLE_NODEV;
        return tl::unexpected(
            Error(unsupported ? ErrorKind::kUnsupported : ErrorKind::kSystem,
                  std::string(nl_geterror(err)) +
                      (unsupported ? " (the PF's driver has no devlink eswitch)" : ""))
                .context(what));
    }
    if (mode) return got;
    if (!got) return fail(ErrorKind::kUnsupported, what + ": no eswitch mode in the reply");
    return got;
}

}  // namespace

Result<config::EswitchMode> read_eswitch_mode(const std::string& pf_pci) {
    auto r = request(pf_pci, DEVLINK_CMD_ESWITCH_GET, std::nullopt);
    if (!r) return tl::unexpected(r.error());
    return **r == DEVLINK_ESWITCH_MODE_SWITCHDEV ? config::EswitchMode::kSwitchdev
                                                 : config::EswitchMode::kLegacy;
}

Result<void> set_eswitch_mode(const std::string& pf_pci, config::EswitchMode mode) {
    const std::uint16_t m = mode == config::EswitchMode::kSwitchdev ? DEVLINK_ESWITCH_MODE_SWITCHDEV
                                                                    : DEVLINK_ESWITCH_MODE_LEGACY;
    auto r = request(pf_pci, DEVLINK_CMD_ESWITCH_SET, m);
    if (!r) {
        return tl::unexpected(std::move(r.error()).context(std::string("set eswitch mode ") +
                                                           config::to_string(mode)));
    }
    return {};
}

}  // namespace vfgate::vfmgr
