// VF attributes over rtnetlink with libnl-route-3: the PF's RTM_GETLINK (with RTEXT_FILTER_VF)
// reports every VF; RTM_NEWLINK/SETLINK with IFLA_VFINFO_LIST changes one.
#include <cstring>
#include <linux/if_ether.h>
#include <linux/rtnetlink.h>
#include <memory>
#include <net/if.h>

#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/sriov.h>

#include <vfgate/vfmgr/host.hpp>

#include "nl_handles.hpp"

namespace vfgate::vfmgr {
namespace {

struct LinkPut {
    void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct VfPut {
    void operator()(rtnl_link_vf* v) const { rtnl_link_vf_put(v); }
};
struct AddrPut {
    void operator()(nl_addr* a) const { nl_addr_put(a); }
};
using Link = std::unique_ptr<rtnl_link, LinkPut>;

Error nl_error(int err, const std::string& what) {
    return Error(ErrorKind::kSystem, what + ": " + nl_geterror(err));
}

Result<NlSock> connect() {
    NlSock s(nl_socket_alloc());
    if (!s) return fail(ErrorKind::kSystem, "no memory for a netlink socket");
    if (int err = nl_connect(s.get(), NETLINK_ROUTE); err < 0) {
        return tl::unexpected(nl_error(err, "connect to rtnetlink"));
    }
    return s;
}

// RTM_GETLINK for one netdev, asking for its VFs.
Result<Link> get_link(nl_sock* sk, const std::string& netdev) {
    NlMsg msg(nlmsg_alloc_simple(RTM_GETLINK, 0));
    ifinfomsg hdr{};
    hdr.ifi_family = AF_UNSPEC;
    if (!msg || nlmsg_append(msg.get(), &hdr, sizeof hdr, NLMSG_ALIGNTO) < 0 ||
        nla_put_string(msg.get(), IFLA_IFNAME, netdev.c_str()) < 0 ||
        nla_put_u32(msg.get(), IFLA_EXT_MASK, RTEXT_FILTER_VF) < 0) {
        return fail(ErrorKind::kSystem, "build RTM_GETLINK for " + netdev);
    }
    if (int err = nl_send_auto(sk, msg.get()); err < 0) {
        return tl::unexpected(nl_error(err, "RTM_GETLINK " + netdev));
    }
    rtnl_link* found = nullptr;
    auto on_valid = [](nl_msg* m, void* arg) -> int {
        auto on_object = [](nl_object* obj, void* out) {
            nl_object_get(obj);
            *static_cast<rtnl_link**>(out) = reinterpret_cast<rtnl_link*>(obj);
        };
        (void)nl_msg_parse(m, on_object, arg);
        return NL_OK;
    };
    if (int err = nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, on_valid,
                                      static_cast<void*>(&found));
        err < 0) {
        return tl::unexpected(nl_error(err, "RTM_GETLINK " + netdev));
    }
    const int err = nl_recvmsgs_default(sk);
    Link link(found);
    if (err < 0) return tl::unexpected(nl_error(err, "RTM_GETLINK " + netdev));
    if (!link) return fail(ErrorKind::kNotFound, "no link " + netdev);
    return link;
}

VfAttrs attrs_of(rtnl_link_vf* vf) {
    VfAttrs a;
    nl_addr* addr = nullptr;
    if (rtnl_link_vf_get_addr(vf, &addr) == 0 && nl_addr_get_len(addr) == 6) {
        std::memcpy(a.mac.bytes.data(), nl_addr_get_binary_addr(addr), 6);
    }
    nl_vf_vlans_t* vlans = nullptr;  // absent: VLAN 0
    if (rtnl_link_vf_get_vlans(vf, &vlans) == 0 && vlans != nullptr && vlans->size > 0) {
        a.vlan.vlan = static_cast<std::uint16_t>(vlans->vlans[0].vf_vlan);
        a.vlan.qos = static_cast<std::uint8_t>(vlans->vlans[0].vf_vlan_qos);
    }
    std::uint32_t v = 0;
    if (rtnl_link_vf_get_spoofchk(vf, &v) == 0) a.spoofchk = v != 0;
    if (rtnl_link_vf_get_trust(vf, &v) == 0) a.trust = v != 0;
    nl_vf_rate rate{};
    rate.api = RTNL_LINK_VF_RATE_API_NEW;
    if (rtnl_link_vf_get_rate(vf, &rate) == 0) a.max_tx_rate_mbps = rate.max_tx_rate;
    if (rtnl_link_vf_get_linkstate(vf, &v) == 0) {
        a.link_state = v == IFLA_VF_LINK_STATE_ENABLE    ? LinkState::kEnable
                       : v == IFLA_VF_LINK_STATE_DISABLE ? LinkState::kDisable
                                                         : LinkState::kAuto;
    }
    return a;
}

// Puts `value` into `vf` for `kind`. False when the two don't match (a bug in the caller).
bool fill(rtnl_link_vf* vf, ActionKind kind, const Value& value, nl_vf_vlans_t*& vlans,
          std::unique_ptr<nl_addr, AddrPut>& addr) {
    switch (kind) {
        case ActionKind::kVfMac: {
            const auto* m = std::get_if<MacAddr>(&value);
            if (m == nullptr) return false;
            addr.reset(nl_addr_build(AF_LLC, m->bytes.data(), m->bytes.size()));
            if (!addr) return false;
            rtnl_link_vf_set_addr(vf, addr.get());
            return true;
        }
        case ActionKind::kVfVlan: {
            const auto* v = std::get_if<VlanQos>(&value);
            if (v == nullptr || rtnl_link_vf_vlan_alloc(&vlans, 1) < 0) return false;
            vlans->vlans[0].vf_vlan = v->vlan;
            vlans->vlans[0].vf_vlan_qos = v->qos;
            vlans->vlans[0].vf_vlan_proto = ETH_P_8021Q;
            rtnl_link_vf_set_vlans(vf, vlans);
            return true;
        }
        case ActionKind::kVfSpoofchk:
        case ActionKind::kVfTrust: {
            const auto* b = std::get_if<bool>(&value);
            if (b == nullptr) return false;
            if (kind == ActionKind::kVfSpoofchk) {
                rtnl_link_vf_set_spoofchk(vf, *b ? 1 : 0);
            } else {
                rtnl_link_vf_set_trust(vf, *b ? 1 : 0);
            }
            return true;
        }
        case ActionKind::kVfRate: {
            const auto* n = std::get_if<std::uint32_t>(&value);
            if (n == nullptr) return false;
            nl_vf_rate rate{};
            rate.api = RTNL_LINK_VF_RATE_API_NEW;
            rate.max_tx_rate = *n;
            rtnl_link_vf_set_rate(vf, &rate);
            return true;
        }
        case ActionKind::kVfLinkState: {
            const auto* s = std::get_if<LinkState>(&value);
            if (s == nullptr) return false;
            rtnl_link_vf_set_linkstate(vf, *s == LinkState::kEnable    ? IFLA_VF_LINK_STATE_ENABLE
                                           : *s == LinkState::kDisable ? IFLA_VF_LINK_STATE_DISABLE
                                                                       : IFLA_VF_LINK_STATE_AUTO);
            return true;
        }
        default:
            return false;
    }
}

}  // namespace

Result<void> read_vf_attrs(ObservedPf& pf) {
    if (pf.netdev.empty() || pf.vfs.empty()) return {};
    auto sk = connect();
    if (!sk) return tl::unexpected(sk.error());
    auto link = get_link(sk->get(), pf.netdev);
    if (!link) return tl::unexpected(link.error());
    for (ObservedVf& v : pf.vfs) {
        std::unique_ptr<rtnl_link_vf, VfPut> vf(rtnl_link_vf_get(link->get(), v.index));
        if (vf) v.attrs = attrs_of(vf.get());
    }
    return {};
}

Result<void> set_vf_attr(const std::string& pf_netdev, std::uint32_t index, ActionKind kind,
                         const Value& value) {
    const std::string what =
        "set " + pf_netdev + " vf " + std::to_string(index) + " " + to_string(value);
    auto sk = connect();
    if (!sk) return tl::unexpected(std::move(sk.error()).context(what));
    auto orig = get_link(sk->get(), pf_netdev);
    if (!orig) return tl::unexpected(std::move(orig.error()).context(what));
    Link change(rtnl_link_alloc());
    std::unique_ptr<rtnl_link_vf, VfPut> vf(rtnl_link_vf_alloc());
    nl_vf_vlans_t* vlans = nullptr;
    std::unique_ptr<nl_addr, AddrPut> addr;
    if (!change || !vf) return fail(ErrorKind::kSystem, what + ": no memory");
    rtnl_link_vf_set_index(vf.get(), index);
    const bool ok = fill(vf.get(), kind, value, vlans, addr);
    if (vlans != nullptr) rtnl_link_vf_vlan_put(vlans);
    if (!ok) return fail(ErrorKind::kInternal, what + ": not a VF attribute");
    if (rtnl_link_vf_add(change.get(), vf.get()) < 0) {
        return fail(ErrorKind::kSystem, what + ": no memory");
    }
    if (int err = rtnl_link_change(sk->get(), orig->get(), change.get(), 0); err < 0) {
        const bool unsupported = err == -NLE_OPNOTSUPP;
        Error e(unsupported ? ErrorKind::kUnsupported : ErrorKind::kSystem,
                std::string(nl_geterror(err)) +
                    (unsupported ? " (the PF's driver can't set this)" : ""));
        return tl::unexpected(std::move(e).context(what));
    }
    return {};
}

Result<void> set_link_up(const std::string& netdev, bool up) {
    auto sk = connect();
    if (!sk) return tl::unexpected(sk.error());
    auto orig = get_link(sk->get(), netdev);
    if (!orig) return tl::unexpected(orig.error());
    Link change(rtnl_link_alloc());
    if (!change) return fail(ErrorKind::kSystem, "no memory");
    if (up) {
        rtnl_link_set_flags(change.get(), IFF_UP);
    } else {
        rtnl_link_unset_flags(change.get(), IFF_UP);
    }
    if (int err = rtnl_link_change(sk->get(), orig->get(), change.get(), 0); err < 0) {
        return tl::unexpected(nl_error(err, std::string("set ") + netdev + (up ? " up" : " down")));
    }
    return {};
}

}  // namespace vfgate::vfmgr
