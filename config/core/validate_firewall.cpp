// Firewall rule checks: fields that belong to the protocol, ranges, CIDRs that are networks,
// and rules that could never match a packet.

#include <set>

#include "checks.hpp"

namespace vfgate::config::detail {
namespace {

bool is_tcp_or_udp(const Rule& r) {
    return r.proto && (*r.proto == kProtoTcp || *r.proto == kProtoUdp);
}

bool is_icmp_family(const Rule& r) {
    return r.proto && (*r.proto == kProtoIcmp || *r.proto == kProtoIcmpv6);
}

std::string proto_found(const Rule& r) {
    return r.proto ? "proto " + proto_name(*r.proto) : "no proto (any)";
}

void check_ports(Issues& out, const std::string& path, const std::vector<PortRange>& ports,
                 const Rule& r, const std::string& proto_path) {
    if (ports.empty()) return;
    if (!is_tcp_or_udp(r)) {
        out.add(path,
                "found ports with " + proto_found(r) +
                    "; expected ports only with proto tcp or udp (6 or 17)",
                proto_path);
        return;
    }
    for (std::size_t i = 0; i < ports.size(); ++i) {
        const auto& p = ports[i];
        std::string item = path + (ports.size() > 1 ? "[" + std::to_string(i) + "]" : "");
        if (p.lo < 0 || p.lo > 65535 || p.hi < 0 || p.hi > 65535) {
            std::string v = p.lo == p.hi ? std::to_string(p.lo)
                                         : std::to_string(p.lo) + "-" + std::to_string(p.hi);
            out.add(item, "found port " + v + "; expected ports from 0 to 65535");
        } else if (p.lo > p.hi) {
            out.add(item, "found range " + std::to_string(p.lo) + "-" + std::to_string(p.hi) +
                              "; expected the low port first (" + std::to_string(p.hi) + "-" +
                              std::to_string(p.lo) + ")");
        }
    }
}

void check_icmp_field(Issues& out, const std::string& path, const std::optional<std::int64_t>& v,
                      const Rule& r, std::string_view what, const std::string& proto_path) {
    if (!v) return;
    if (!is_icmp_family(r)) {
        out.add(path,
                "found " + std::string(what) + " with " + proto_found(r) +
                    "; expected it only with proto icmp or icmpv6",
                proto_path);
        return;
    }
    check_range(out, path, *v, 0, 255, what);
}

// Families a list of CIDRs can match: {4}, {6}, {4,6}; an empty list matches both.
std::set<IpFamily> families(const std::vector<Cidr>& cidrs) {
    if (cidrs.empty()) return {IpFamily::kV4, IpFamily::kV6};
    std::set<IpFamily> f;
    for (const auto& c : cidrs) f.insert(c.addr.family);
    return f;
}

void check_cidrs(Issues& out, const std::string& path, const std::vector<Cidr>& cidrs) {
    for (std::size_t i = 0; i < cidrs.size(); ++i) {
        if (!cidrs[i].has_host_bits()) continue;
        std::string item = path + (cidrs.size() > 1 ? "[" + std::to_string(i) + "]" : "");
        out.add(item, "found " + to_string(cidrs[i]) +
                          ", which has host bits set; expected a network address such as " +
                          to_string(cidrs[i].network()));
    }
}

void check_can_match(Issues& out, const std::string& path, const Rule& r) {
    auto fam = families(r.src);
    std::set<IpFamily> dst = families(r.dst);
    std::erase_if(fam, [&](IpFamily f) { return !dst.contains(f); });
    if (fam.empty()) {
        out.add(path,
                "found src and dst of different IP versions; expected a rule that can "
                "match a packet (IPv4 and IPv6 CIDRs never meet)");
        return;
    }
    if (r.proto == kProtoIcmp && !fam.contains(IpFamily::kV4)) {
        out.add(path, "found proto icmp with only IPv6 CIDRs; expected icmpv6 for IPv6");
    } else if (r.proto == kProtoIcmpv6 && !fam.contains(IpFamily::kV6)) {
        out.add(path, "found proto icmpv6 with only IPv4 CIDRs; expected icmp for IPv4");
    }
}

bool valid_rule_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.' || c == ':' || c == '[' || c == ']';
        if (!ok) return false;
    }
    return true;
}

}  // namespace

void check_firewall(Issues& out, const std::string& path, const Firewall& fw) {
    std::set<std::string> ids;
    for (auto dir : {Direction::kIngress, Direction::kEgress}) {
        const auto& rules = dir == Direction::kIngress ? fw.ingress : fw.egress;
        for (std::size_t i = 0; i < rules.size(); ++i) {
            const Rule& r = rules[i];
            std::string rp = at(path, to_string(dir), i);
            if (!valid_rule_id(r.id)) {
                out.add(at(rp, "id"), "found " + quoted(r.id) +
                                          "; expected 1-64 of letters, digits and _ - . : [ ]");
            } else if (!ids.insert(r.id).second) {
                out.add(at(rp, "id"), "found " + quoted(r.id) +
                                          " a second time; expected rule ids unique "
                                          "within the NIC (ids name the counters)");
            }
            auto pp = at(rp, "proto");
            if (r.proto) check_range(out, pp, *r.proto, 0, 255, "IP protocol");
            check_cidrs(out, at(rp, "src"), r.src);
            check_cidrs(out, at(rp, "dst"), r.dst);
            check_ports(out, at(rp, "src_port"), r.src_ports, r, pp);
            check_ports(out, at(rp, "dst_port"), r.dst_ports, r, pp);
            check_icmp_field(out, at(rp, "icmp_type"), r.icmp_type, r, "ICMP type", pp);
            check_icmp_field(out, at(rp, "icmp_code"), r.icmp_code, r, "ICMP code", pp);
            check_can_match(out, rp, r);
        }
    }
}

}  // namespace vfgate::config::detail
