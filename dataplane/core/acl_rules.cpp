#include "acl_rules.hpp"

#include <cstring>

namespace vfgate::dataplane::acl {
namespace {

void put16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v & 0xff);
}

struct Side {
    std::array<std::uint8_t, 16> addr{};
    std::uint8_t prefix = 0;
};

// The CIDRs of one family in `cidrs`, or one wildcard if the list is empty; none if the list
// has only the other family's.
std::vector<Side> sides(const std::vector<Cidr>& cidrs, IpFamily f) {
    if (cidrs.empty()) return {Side{}};
    std::vector<Side> out;
    for (const auto& c : cidrs) {
        if (c.addr.family != f) continue;
        out.push_back(Side{c.addr.bytes, static_cast<std::uint8_t>(c.prefix)});
    }
    return out;
}

std::vector<config::PortRange> ranges(const std::vector<config::PortRange>& given) {
    if (given.empty()) return {config::PortRange{0, 0xffff}};
    return given;
}

}  // namespace

void fill_key(const FlowKey& k, Key& out) noexcept {
    std::uint8_t* p = out.data();
    std::memset(p, 0, out.size());
    p[0] = k.proto;
    std::size_t a = k.family == 4 ? 4 : 16;
    std::memcpy(p + 4, k.src.data(), a);
    std::memcpy(p + 4 + a, k.dst.data(), a);
    std::size_t l4 = 4 + 2 * a;
    put16(p + l4, k.sport);
    put16(p + l4 + 2, k.dport);
    p[l4 + 4] = k.icmp_type;
    p[l4 + 5] = k.icmp_code;
    p[l4 + 6] =
        static_cast<std::uint8_t>((k.has_ports ? kHasPorts : 0) | (k.is_icmp ? kIsIcmp : 0));
}

Result<Expanded> expand(std::span<const config::Rule> rules) {
    Expanded out;
    const auto n = static_cast<std::int32_t>(rules.size());
    for (std::int32_t i = 0; i < n; ++i) {
        const config::Rule& r = rules[static_cast<std::size_t>(i)];
        FlatRule base;
        base.priority = n - i;
        base.userdata = static_cast<std::uint32_t>(i) + 1;
        if (r.proto) {
            base.proto = static_cast<std::uint8_t>(*r.proto);
            base.proto_mask = 0xff;
        }
        if (!r.src_ports.empty() || !r.dst_ports.empty()) {
            base.flags |= kHasPorts;
            base.flags_mask |= kHasPorts;
        }
        if (r.icmp_type || r.icmp_code) {
            base.flags |= kIsIcmp;
            base.flags_mask |= kIsIcmp;
        }
        if (r.icmp_type) {
            base.icmp_type = static_cast<std::uint8_t>(*r.icmp_type);
            base.icmp_type_mask = 0xff;
        }
        if (r.icmp_code) {
            base.icmp_code = static_cast<std::uint8_t>(*r.icmp_code);
            base.icmp_code_mask = 0xff;
        }
        for (IpFamily f : {IpFamily::kV4, IpFamily::kV6}) {
            auto& list = f == IpFamily::kV4 ? out.v4 : out.v6;
            for (const Side& s : sides(r.src, f)) {
                for (const Side& d : sides(r.dst, f)) {
                    for (const auto& sp : ranges(r.src_ports)) {
                        for (const auto& dp : ranges(r.dst_ports)) {
                            if (out.v4.size() + out.v6.size() >= kMaxFlatRules) {
                                return fail(ErrorKind::kInvalidArgument,
                                            "rules expand to more than " +
                                                std::to_string(kMaxFlatRules) +
                                                " classifier entries (CIDR and port lists "
                                                "multiply); split the largest rules");
                            }
                            FlatRule fr = base;
                            fr.family = f == IpFamily::kV4 ? 4 : 6;
                            fr.src = s.addr;
                            fr.src_prefix = s.prefix;
                            fr.dst = d.addr;
                            fr.dst_prefix = d.prefix;
                            fr.sport_lo = static_cast<std::uint16_t>(sp.lo);
                            fr.sport_hi = static_cast<std::uint16_t>(sp.hi);
                            fr.dport_lo = static_cast<std::uint16_t>(dp.lo);
                            fr.dport_hi = static_cast<std::uint16_t>(dp.hi);
                            list.push_back(fr);
                        }
                    }
                }
            }
        }
    }
    return out;
}

}  // namespace vfgate::dataplane::acl
