// Guest NIC checks: what each NIC type may say, what it refers to, and what must be unique on
// the host (MACs) or within a broadcast domain (addresses).

#include <map>
#include <set>

#include "checks.hpp"

namespace vfgate::config::detail {
namespace {

struct PfUse {
    const Pf* pf = nullptr;
    std::string pf_path;
    std::int64_t nics = 0;
    std::string last_nic_path;
};

bool is_usable_address(const IpAddr& ip) {
    const auto& b = ip.bytes;
    if (ip.family == IpFamily::kV4) {
        bool zero = b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0;
        bool bcast = b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255;
        return !zero && !bcast && b[0] != 127 && (b[0] & 0xf0) != 0xe0;
    }
    IpAddr any{IpFamily::kV6, {}};
    IpAddr loopback = any;
    loopback.bytes[15] = 1;
    return ip != any && ip != loopback && b[0] != 0xff;
}

class NicChecker {
  public:
    NicChecker(Issues& out, const Config& cfg, FirstSeen<std::string>& devices)
        : out_(out), cfg_(cfg), devices_(devices) {
        for (std::size_t i = 0; i < cfg.pfs.size(); ++i) {
            pfs_[cfg.pfs[i].name] = PfUse{&cfg.pfs[i], at("", "pfs", i), 0, {}};
        }
        if (cfg.dataplane) {
            for (const auto& up : cfg.dataplane->uplinks) uplinks_.insert(up.name);
        }
    }

    void run() {
        for (std::size_t g = 0; g < cfg_.guests.size(); ++g) {
            FirstSeen<std::string> names;
            const auto& guest = cfg_.guests[g];
            for (std::size_t n = 0; n < guest.nics.size(); ++n) {
                auto p = at(at("", "guests", g), "nics", n);
                unique_name(out_, names, at(p, "name"), guest.nics[n].name, "NIC");
                check(guest.nics[n], p);
                if (guest.nics[n].type == NicType::kVhostUser) check_vhost(guest, guest.nics[n], p);
            }
        }
        for (const auto& [name, use] : pfs_) {
            if (use.nics > use.pf->num_vfs && use.pf->num_vfs >= 0) {
                out_.add(use.last_nic_path,
                         "found " + std::to_string(use.nics) + " NICs on PF " + quoted(name) +
                             "; expected at most its num_vfs (" + std::to_string(use.pf->num_vfs) +
                             ", " + use.pf_path + ")",
                         use.pf_path + ".num_vfs");
            }
        }
    }

  private:
    void only_for(const std::string& p, bool given, std::string_view key, NicType type,
                  const Nic& nic) {
        if (given && nic.type != type) {
            out_.add(at(p, key), "found " + std::string(key) + " on a NIC of type " +
                                     to_string(nic.type) + "; expected it only with type " +
                                     to_string(type));
        }
    }

    void check(const Nic& nic, const std::string& p) {
        only_for(p, !nic.pf.empty(), "pf", NicType::kVf, nic);
        only_for(p, nic.vf.has_value(), "vf", NicType::kVf, nic);
        only_for(p, nic.rate_mbps.has_value(), "rate_mbps", NicType::kVf, nic);
        only_for(p, nic.trust.has_value(), "trust", NicType::kVf, nic);
        only_for(p, !nic.driver.empty(), "driver", NicType::kVf, nic);
        only_for(p, nic.vlan_qos.has_value(), "vlan_qos", NicType::kVf, nic);
        only_for(p, !nic.devargs.empty(), "devargs", NicType::kDpdk, nic);
        if (nic.type == NicType::kVf) check_vf(nic, p);
        if (nic.type == NicType::kDpdk) check_dpdk(nic, p);
        check_uplink(nic, p);
        check_mac(nic, p);
        if (nic.vlan) check_range(out_, at(p, "vlan"), *nic.vlan, 1, 4094, "a VLAN id");
        check_addresses(nic, p);
        if (nic.firewall) check_firewall(out_, at(p, "firewall"), *nic.firewall);
    }

    void check_vf(const Nic& nic, const std::string& p) {
        if (!nic.driver.empty()) detail::check_driver_name(out_, at(p, "driver"), nic.driver);
        if (nic.vlan_qos) {
            check_range(out_, at(p, "vlan_qos"), *nic.vlan_qos, 0, 7, "an 802.1p priority");
            if (!nic.vlan) {
                out_.add(at(p, "vlan_qos"),
                         "found vlan_qos without vlan; expected it only on a NIC with a vlan");
            }
        }
        if (nic.rate_mbps) {
            check_range(out_, at(p, "rate_mbps"), *nic.rate_mbps, 0, 4'000'000'000LL,
                        "a rate in Mbit/s (0: no limit)");
        }
        if (nic.pf.empty()) {
            out_.add(at(p, "pf"), "found no pf; expected the name of a PF for a NIC of type vf");
            return;
        }
        auto it = pfs_.find(nic.pf);
        if (it == pfs_.end()) {
            out_.add(at(p, "pf"), "found " + quoted(nic.pf) + "; expected the name of a PF in pfs" +
                                      known(pfs_));
            return;
        }
        auto& use = it->second;
        ++use.nics;
        use.last_nic_path = p;
        if (!nic.vf) return;
        if (*nic.vf < 0 || *nic.vf >= use.pf->num_vfs) {
            out_.add(at(p, "vf"),
                     "found VF " + std::to_string(*nic.vf) +
                         "; expected an index "
                         "below num_vfs of " +
                         quoted(nic.pf) + " (" + std::to_string(use.pf->num_vfs) + ") or auto",
                     use.pf_path + ".num_vfs");
            return;
        }
        auto prev = vf_taken_.seen(nic.pf + "/" + std::to_string(*nic.vf), at(p, "vf"));
        if (!prev.empty()) {
            out_.add(at(p, "vf"), "found VF " + std::to_string(*nic.vf) + " of " + quoted(nic.pf) +
                                      ", already given to " + prev +
                                      "; expected each VF given to one NIC");
        }
    }

    // A vhost-user NIC's DPDK device (net_vhost_GUEST_NIC) and socket (vhost-GUEST-NIC.sock) are
    // named after the guest and the NIC; with '_' and '-' in names, two NICs can get the same
    // ones (guest a_b's NIC c, guest a's NIC b_c), and the dataplane could open only one.
    void check_vhost(const Guest& g, const Nic& nic, const std::string& p) {
        const std::string device = vhost_device_name(g, nic);
        const std::string socket = vhost_socket_path(cfg_, g, nic);
        if (socket.size() > kMaxSocketPath) {
            out_.add(at(p, "name"),
                     "found guest " + quoted(g.name) + "'s NIC " + quoted(nic.name) +
                         ", whose vhost-user socket " + socket + " is " +
                         std::to_string(socket.size()) +
                         " bytes; expected at most 107 (the limit of a Unix socket address): "
                         "shorter names, or a shorter directory for dataplane.control_socket");
            return;
        }
        for (const auto& [key, what] :
             {std::pair{"device " + device, "vhost-user device " + device},
              std::pair{"socket " + socket, "socket " + socket}}) {
            auto prev = vhost_.seen(key, at(p, "name"));
            if (!prev.empty()) {
                std::string msg = "found guest " + quoted(g.name) + "'s NIC " + quoted(nic.name);
                msg += ", whose ";
                msg += what;
                msg += " is already that of ";
                msg += prev;
                msg += "; expected names that give each vhost-user NIC its own (rename one)";
                out_.add(at(p, "name"), msg);
                return;
            }
        }
    }

    void check_dpdk(const Nic& nic, const std::string& p) {
        if (nic.devargs.empty()) {
            out_.add(at(p, "devargs"),
                     "found no devargs; expected DPDK devargs for a NIC of type dpdk");
            return;
        }
        auto prev = devices_.seen(device_key(nic.devargs), at(p, "devargs"));
        if (!prev.empty()) {
            out_.add(at(p, "devargs"), "found " + quoted(nic.devargs) + ", already used by " +
                                           prev + "; expected each device once");
        }
    }

    void check_uplink(const Nic& nic, const std::string& p) {
        if (!nic.uplink.empty()) {
            if (!uplinks_.contains(nic.uplink)) {
                out_.add(at(p, "uplink"), "found " + quoted(nic.uplink) +
                                              "; expected the name of an uplink in "
                                              "dataplane.uplinks" +
                                              known(uplinks_));
            }
        } else if (uplinks_.empty() && is_software_switched(cfg_, nic)) {
            out_.add(p, std::string("found a ") + to_string(nic.type) +
                            " NIC and no uplink; expected dataplane.uplinks to declare the "
                            "uplink its traffic goes to");
        }
    }

    void check_mac(const Nic& nic, const std::string& p) {
        auto mp = at(p, "mac");
        if (nic.mac.is_zero()) {
            out_.add(mp, "found 00:00:00:00:00:00; expected a non-zero unicast MAC");
            return;
        }
        if (nic.mac.is_multicast()) {
            out_.add(mp, "found " + to_string(nic.mac) +
                             ", a multicast address; expected a unicast MAC (first octet even)");
            return;
        }
        auto prev = macs_.seen(to_string(nic.mac), mp);
        if (!prev.empty()) {
            out_.add(mp, "found " + to_string(nic.mac) + ", already the MAC of " + prev +
                             "; expected MACs unique on the host");
        }
    }

    void check_addresses(const Nic& nic, const std::string& p) {
        std::string domain =
            (nic.uplink.empty() && !uplinks_.empty() ? cfg_.dataplane->uplinks.front().name
                                                     : nic.uplink) +
            "/" + (nic.vlan ? std::to_string(*nic.vlan) : "untagged");
        std::set<IpAddr> own;
        for (std::size_t i = 0; i < nic.addresses.size(); ++i) {
            auto ap = at(p, "addresses", i);
            const auto& a = nic.addresses[i].addr;
            if (!is_usable_address(a)) {
                out_.add(ap, "found " + to_string(a) +
                                 "; expected a unicast host address "
                                 "(not unspecified, loopback, multicast "
                                 "or broadcast)");
                continue;
            }
            if (!own.insert(a).second) {
                out_.add(ap, "found " + to_string(a) + " twice; expected each address once");
                continue;
            }
            auto prev = addresses_.seen(domain + " " + to_string(a), ap);
            if (!prev.empty()) {
                out_.add(ap, "found " + to_string(a) + ", already the address of " + prev +
                                 " on the same uplink and VLAN; expected unique addresses "
                                 "within a broadcast domain");
            }
        }
    }

    template <class C>
    static std::string known(const C& names) {
        if (names.empty()) return " (none is declared)";
        std::string s = " (";
        bool first = true;
        for (const auto& n : names) {
            if (!first) s += ", ";
            if constexpr (requires { n.first; }) {
                s += n.first;
            } else {
                s += n;
            }
            first = false;
        }
        return s + ")";
    }

    Issues& out_;
    const Config& cfg_;
    FirstSeen<std::string>& devices_;
    std::map<std::string, PfUse> pfs_;
    std::set<std::string> uplinks_;
    FirstSeen<std::string> vf_taken_, macs_, addresses_, vhost_;
};

}  // namespace

void check_nics(Issues& out, const Config& cfg, FirstSeen<std::string>& devices) {
    NicChecker(out, cfg, devices).run();
}

}  // namespace vfgate::config::detail
