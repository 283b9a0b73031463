#include "reference_matcher.hpp"

#include <algorithm>

namespace vfgate::dataplane {
namespace {

IpAddr address(std::uint8_t family, const std::array<std::uint8_t, 16>& bytes) {
    IpAddr ip;
    ip.family = family == 4 ? IpFamily::kV4 : IpFamily::kV6;
    ip.bytes = bytes;
    if (family == 4) std::fill(ip.bytes.begin() + 4, ip.bytes.end(), std::uint8_t{0});
    return ip;
}

bool in_any(const std::vector<Cidr>& cidrs, const IpAddr& ip) {
    return cidrs.empty() ||
           std::any_of(cidrs.begin(), cidrs.end(), [&](const Cidr& c) { return c.contains(ip); });
}

bool port_in(const std::vector<config::PortRange>& ranges, std::uint16_t port) {
    return std::any_of(ranges.begin(), ranges.end(),
                       [&](const config::PortRange& r) { return port >= r.lo && port <= r.hi; });
}

}  // namespace

bool rule_matches(const config::Rule& r, const FlowKey& k) {
    if (r.proto && *r.proto != k.proto) return false;
    if (!in_any(r.src, address(k.family, k.src))) return false;
    if (!in_any(r.dst, address(k.family, k.dst))) return false;
    if (!r.src_ports.empty() || !r.dst_ports.empty()) {
        if (!k.has_ports) return false;
        if (!r.src_ports.empty() && !port_in(r.src_ports, k.sport)) return false;
        if (!r.dst_ports.empty() && !port_in(r.dst_ports, k.dport)) return false;
    }
    if (r.icmp_type || r.icmp_code) {
        if (!k.is_icmp) return false;
        if (r.icmp_type && *r.icmp_type != k.icmp_type) return false;
        if (r.icmp_code && *r.icmp_code != k.icmp_code) return false;
    }
    return true;
}

RuleMatch reference_match(std::span<const config::Rule> rules, config::Action fallback,
                          const FlowKey& key) {
    for (std::size_t i = 0; i < rules.size(); ++i) {
        if (rule_matches(rules[i], key)) return {static_cast<int>(i), rules[i].action};
    }
    return {-1, fallback};
}

}  // namespace vfgate::dataplane
