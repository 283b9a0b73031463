// A FlowSpec as testpmd writes it, and as a NIC matches it (offload_plan.hpp).
#include <sstream>

#include "offload_plan.hpp"
#include "switch_table.hpp"

namespace vfgate::dataplane::offload {
namespace {

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherIpv6 = 0x86dd;

std::string hex16(std::uint16_t v) {
    std::ostringstream os;
    os << "0x" << std::hex << v;
    return os.str();
}

// "src is 10.0.0.1" for a full-length prefix, else "src spec 10.0.0.0 src mask 255.0.0.0".
std::string address(const char* field, const Cidr& c) {
    if (c.prefix == c.addr.bits()) return std::string(field) + " is " + to_string(c.addr);
    IpAddr mask;
    mask.family = c.addr.family;
    for (int bit = 0; bit < c.prefix; ++bit) {
        mask.bytes[static_cast<std::size_t>(bit / 8)] |=
            static_cast<std::uint8_t>(0x80U >> (bit % 8));
    }
    return std::string(field) + " spec " + to_string(c.network().addr) + " " + field + " mask " +
           to_string(mask);
}

std::string port(const char* field, const Masked16& m) {
    if (m.mask == 0xffff) return std::string(field) + " is " + std::to_string(m.value);
    return std::string(field) + " spec " + std::to_string(m.value) + " " + field + " mask " +
           hex16(m.mask);
}

bool in(const std::optional<Cidr>& c, std::uint8_t family, const std::array<std::uint8_t, 16>& a) {
    if (!c) return true;
    IpAddr ip;
    ip.family = family == 4 ? IpFamily::kV4 : IpFamily::kV6;
    ip.bytes = a;
    if (family == 4) std::fill(ip.bytes.begin() + 4, ip.bytes.end(), std::uint8_t{0});
    return c->contains(ip);
}

bool masked(const std::optional<Masked16>& m, std::uint16_t v) {
    return !m || (v & m->mask) == (m->value & m->mask);
}

}  // namespace

std::string to_testpmd(const FlowSpec& f, std::string_view port_name) {
    std::vector<std::string> items;
    if (f.transfer) items.push_back("represented_port ethdev_port_id is " + f.from_port);
    const std::uint16_t ether = f.family == 6 ? kEtherIpv6 : kEtherIpv4;
    std::string eth = "eth";
    if (f.eth_dst) eth += " dst is " + to_string(to_mac(*f.eth_dst));
    if (f.family != 0 && !f.vlan_vid) eth += " type is " + hex16(ether);
    items.push_back(eth);
    if (f.vlan_vid) {
        const Masked16 vid{f.vlan_vid->value,
                           f.vlan_vid->mask == 0x0fff ? std::uint16_t{0xffff} : f.vlan_vid->mask};
        std::string vlan = "vlan " + port("vid", vid);  // "is": all 12 bits of the VID
        if (f.family != 0) vlan += " inner_type is " + hex16(ether);
        items.push_back(vlan);
    }
    if (f.family != 0) {
        std::string ip = f.family == 6 ? "ipv6" : "ipv4";
        if (f.src) ip += " " + address("src", *f.src);
        if (f.dst) ip += " " + address("dst", *f.dst);
        if (f.proto) ip += " proto is " + std::to_string(*f.proto);
        items.push_back(ip);
    }
    if (f.sport || f.dport) {
        std::string l4 = f.proto && *f.proto == kIpProtoUdp ? "udp" : "tcp";
        if (f.sport) l4 += " " + port("src", *f.sport);
        if (f.dport) l4 += " " + port("dst", *f.dport);
        items.push_back(l4);
    }
    if (f.icmp_type || f.icmp_code) {
        std::string icmp = f.family == 6 ? "icmp6" : "icmp";
        if (f.icmp_type) icmp += " type is " + std::to_string(*f.icmp_type);
        if (f.icmp_code) icmp += " code is " + std::to_string(*f.icmp_code);
        items.push_back(icmp);
    }
    std::ostringstream os;
    os << "flow create " << port_name << (f.transfer ? " transfer" : " ingress") << " pattern ";
    for (const auto& i : items) os << i << " / ";
    os << "end actions ";
    if (f.count) os << "count / ";
    if (f.action == FlowAction::kDrop) {
        os << "drop";
    } else {
        os << "port_representor port_id " << f.to_port;
    }
    os << " / end";
    return os.str();
}

bool flow_matches(const FlowSpec& f, MacBits eth_dst, std::optional<std::uint16_t> vid, L3Result l3,
                  std::uint8_t header_proto, const FlowKey& key) {
    if (f.transfer) return false;  // e-switch rules: not a drop on an uplink's ingress
    if (f.eth_dst && *f.eth_dst != eth_dst) return false;
    if (f.vlan_vid) {
        const std::uint16_t mask = f.vlan_vid->mask & 0x0fff;  // the VID: PCP and DEI aside
        if (!vid || (*vid & mask) != (f.vlan_vid->value & mask)) return false;
    } else if (f.family != 0 && vid) {
        return false;  // the ETH item's EtherType is the IP version's: a tagged frame has 0x8100
    }
    if (f.family == 0) return true;
    if (l3 != L3Result::kOk && l3 != L3Result::kLaterFragment) return false;
    if (key.family != f.family) return false;
    if (!in(f.src, key.family, key.src) || !in(f.dst, key.family, key.dst)) return false;
    // The IP item's protocol is the header's own field: behind IPv6 extension headers, not the
    // upper-layer protocol.
    if (f.proto && header_proto != *f.proto) return false;
    if (f.sport || f.dport) {
        if (!key.has_ports || l3 != L3Result::kOk) return false;
        if (!masked(f.sport, key.sport) || !masked(f.dport, key.dport)) return false;
    }
    if (f.icmp_type || f.icmp_code) {
        if (!key.is_icmp || l3 != L3Result::kOk) return false;
        if (f.icmp_type && *f.icmp_type != key.icmp_type) return false;
        if (f.icmp_code && *f.icmp_code != key.icmp_code) return false;
    }
    return true;
}

}  // namespace vfgate::dataplane::offload
