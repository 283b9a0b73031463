#include <vfgate/vfmgr/model.hpp>
#include <vfgate/vfmgr/plan.hpp>

namespace vfgate::vfmgr {
namespace {

const char* name(ActionKind k) {
    switch (k) {
        case ActionKind::kPfUp:
            return "link";
        case ActionKind::kEswitchMode:
            return "eswitch mode";
        case ActionKind::kAutoprobe:
            return "sriov_drivers_autoprobe";
        case ActionKind::kNumVfs:
            return "sriov_numvfs";
        case ActionKind::kVfMac:
            return "mac";
        case ActionKind::kVfVlan:
            return "vlan";
        case ActionKind::kVfSpoofchk:
            return "spoofchk";
        case ActionKind::kVfTrust:
            return "trust";
        case ActionKind::kVfRate:
            return "max_tx_rate";
        case ActionKind::kVfLinkState:
            return "link state";
        case ActionKind::kVfDriver:
            return "driver";
    }
    return "?";
}

struct ValueText {
    ActionKind kind;
    std::string operator()(bool b) const {
        if (kind == ActionKind::kPfUp) return b ? "up" : "down";
        if (kind == ActionKind::kAutoprobe) return b ? "1" : "0";
        return b ? "on" : "off";
    }
    std::string operator()(std::uint32_t n) const {
        if (kind == ActionKind::kVfRate) return n == 0 ? "unlimited" : std::to_string(n) + " Mb/s";
        return std::to_string(n);
    }
    std::string operator()(const MacAddr& m) const { return to_string(m); }
    std::string operator()(const VlanQos& v) const {
        if (v.vlan == 0) return "none";
        return std::to_string(v.vlan) + (v.qos != 0 ? " qos " + std::to_string(v.qos) : "");
    }
    std::string operator()(LinkState s) const { return vfmgr::to_string(s); }
    std::string operator()(const std::string& s) const { return s.empty() ? "(none)" : s; }
    std::string operator()(config::EswitchMode m) const { return config::to_string(m); }
};

}  // namespace

const char* to_string(LinkState s) {
    switch (s) {
        case LinkState::kAuto:
            return "auto";
        case LinkState::kEnable:
            return "enable";
        case LinkState::kDisable:
            return "disable";
    }
    return "?";
}

std::string to_string(const Value& v) { return std::visit(ValueText{ActionKind::kVfMac}, v); }

std::string describe(const Action& a) {
    std::string out = a.pf_name.empty() ? a.pf_pci : a.pf_name + " " + a.pf_pci;
    if (a.vf) out += " vf " + std::to_string(*a.vf);
    out += ": ";
    out += name(a.kind);
    const ValueText text{a.kind};
    out += " " + std::visit(text, a.from) + " -> ";
    // A non-zero VF count changes through 0: the kernel refuses any other change.
    const auto* from = std::get_if<std::uint32_t>(&a.from);
    const auto* to = std::get_if<std::uint32_t>(&a.to);
    if (a.kind == ActionKind::kNumVfs && from != nullptr && to != nullptr && *from != 0 &&
        *to != 0) {
        out += "0 -> ";
    }
    return out + std::visit(text, a.to);
}

Desired desired_from_config(const config::Config& c) {
    Desired out;
    for (const config::Pf& pf : c.pfs) {
        DesiredPf d;
        d.name = pf.name;
        d.device = pf.device;
        d.num_vfs = static_cast<std::uint32_t>(pf.num_vfs);
        d.eswitch_mode = pf.eswitch_mode;
        d.vf_driver = pf.vf_driver;
        for (const config::Guest& g : c.guests) {
            for (const config::Nic& nic : g.nics) {
                if (nic.type != config::NicType::kVf || nic.pf != pf.name) continue;
                DesiredVf v;
                v.guest = g.name;
                v.nic = nic.name;
                if (nic.vf) v.index = static_cast<std::uint32_t>(*nic.vf);
                v.attrs.mac = nic.mac;
                if (nic.vlan) v.attrs.vlan.vlan = static_cast<std::uint16_t>(*nic.vlan);
                v.attrs.vlan.qos = static_cast<std::uint8_t>(nic.vlan_qos.value_or(0));
                v.attrs.spoofchk = true;  // config-v1: anti-spoofing is always on
                v.attrs.trust = nic.trust.value_or(false);
                v.attrs.max_tx_rate_mbps = static_cast<std::uint32_t>(nic.rate_mbps.value_or(0));
                v.driver = nic.driver;
                d.vfs.push_back(std::move(v));
            }
        }
        out.push_back(std::move(d));
    }
    return out;
}

std::vector<config::GivenVf> given_vfs(const std::vector<Assignment>& assignments) {
    std::vector<config::GivenVf> out;
    out.reserve(assignments.size());
    for (const auto& a : assignments) {
        out.push_back({a.guest, a.nic, static_cast<std::int64_t>(a.vf)});
    }
    return out;
}

}  // namespace vfgate::vfmgr
