#include <algorithm>
#include <map>
#include <set>

#include <vfgate/config/config.hpp>

namespace vfgate::config {

const char* to_string(EswitchMode v) { return v == EswitchMode::kLegacy ? "legacy" : "switchdev"; }

const char* to_string(Accel v) {
    switch (v) {
        case Accel::kAuto:
            return "auto";
        case Accel::kKvm:
            return "kvm";
        case Accel::kTcg:
            return "tcg";
    }
    return "?";
}

const char* to_string(RestartPolicy v) {
    switch (v) {
        case RestartPolicy::kAlways:
            return "always";
        case RestartPolicy::kOnFailure:
            return "on-failure";
        case RestartPolicy::kNever:
            return "never";
    }
    return "?";
}

const char* to_string(NicType v) {
    switch (v) {
        case NicType::kVf:
            return "vf";
        case NicType::kVhostUser:
            return "vhost-user";
        case NicType::kDpdk:
            return "dpdk";
    }
    return "?";
}

const char* to_string(Action v) { return v == Action::kAllow ? "allow" : "deny"; }

const char* to_string(Direction v) { return v == Direction::kIngress ? "ingress" : "egress"; }

std::string proto_name(std::int64_t proto) {
    switch (proto) {
        case kProtoIcmp:
            return "icmp";
        case kProtoTcp:
            return "tcp";
        case kProtoUdp:
            return "udp";
        case kProtoIcmpv6:
            return "icmpv6";
        default:
            return std::to_string(proto);
    }
}

bool is_software_switched(const Config& cfg, const Nic& nic) {
    if (nic.type != NicType::kVf) return true;
    for (const auto& pf : cfg.pfs) {
        if (pf.name == nic.pf) return pf.eswitch_mode == EswitchMode::kSwitchdev;
    }
    return false;
}

std::string run_dir(const Config& cfg) {
    std::string sock = cfg.dataplane ? cfg.dataplane->control_socket : kDefaultControlSocket;
    auto slash = sock.find_last_of('/');
    return slash == 0 ? "/" : sock.substr(0, slash);
}

std::string vhost_socket_path(const Config& cfg, const Guest& guest, const Nic& nic) {
    return run_dir(cfg) + "/vhost-" + guest.name + "-" + nic.name + ".sock";
}

void pin_auto_vfs(Config& cfg, const std::vector<GivenVf>& given) {
    std::map<std::string, std::set<std::int64_t>> taken;  // by PF
    for (const auto& g : cfg.guests) {
        for (const auto& n : g.nics) {
            if (n.type == NicType::kVf && n.vf) taken[n.pf].insert(*n.vf);
        }
    }
    for (auto& g : cfg.guests) {
        for (auto& n : g.nics) {
            if (n.type != NicType::kVf || n.vf) continue;
            const auto pf = std::find_if(cfg.pfs.begin(), cfg.pfs.end(),
                                         [&](const Pf& p) { return p.name == n.pf; });
            for (const auto& v : given) {
                if (v.guest != g.name || v.nic != n.name || v.vf < 0) continue;
                if (pf != cfg.pfs.end() && pf->num_vfs >= 0 && v.vf >= pf->num_vfs) break;
                if (taken[n.pf].insert(v.vf).second) n.vf = v.vf;
                break;
            }
        }
    }
}

std::string vhost_device_name(const Guest& guest, const Nic& nic) {
    return "net_vhost_" + guest.name + "_" + nic.name;
}

std::vector<std::vector<std::int64_t>> assign_vfs(const Config& cfg) {
    std::map<std::string, std::set<std::int64_t>> taken;
    for (const auto& g : cfg.guests) {
        for (const auto& n : g.nics) {
            if (n.type == NicType::kVf && n.vf) taken[n.pf].insert(*n.vf);
        }
    }
    std::vector<std::vector<std::int64_t>> out;
    for (const auto& g : cfg.guests) {
        auto& row = out.emplace_back();
        for (const auto& n : g.nics) {
            std::int64_t vf = -1;
            if (n.type == NicType::kVf) {
                if (n.vf) {
                    vf = *n.vf;
                } else {
                    auto& used = taken[n.pf];
                    for (vf = 0; used.contains(vf); ++vf) {
                    }
                    used.insert(vf);
                }
            }
            row.push_back(vf);
        }
    }
    return out;
}

}  // namespace vfgate::config
