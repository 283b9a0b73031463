#include "antispoof.hpp"

#include <algorithm>
#include <cstring>

namespace vfgate::dataplane {
namespace {

template <std::size_t N>
bool one_of(const std::array<std::array<std::uint8_t, N>, GuestIdentity::kMaxAddresses>& list,
            std::uint8_t n, const std::uint8_t* addr) {
    for (std::uint8_t i = 0; i < n; ++i) {
        if (std::memcmp(list[i].data(), addr, N) == 0) return true;
    }
    return false;
}

bool all_zero(const std::uint8_t* p, std::size_t n) {
    return std::all_of(p, p + n, [](std::uint8_t b) { return b == 0; });
}

bool own_v6(const GuestIdentity& id, const std::uint8_t* a) {
    return one_of(id.v6, id.n6, a) || std::memcmp(id.link_local.data(), a, 16) == 0;
}

// ND options from `opts` on: is every option of `type` (1 source, 2 target link-layer) our MAC?
bool link_layer_options_ok(const GuestIdentity& id, std::span<const std::byte> opts,
                           std::uint8_t type) {
    while (opts.size() >= 2) {
        std::size_t len = static_cast<std::size_t>(opts[1]) * 8;
        if (len == 0 || len > opts.size()) return false;  // malformed: refuse
        if (static_cast<std::uint8_t>(opts[0]) == type) {
            if (len < 8 || load_mac(opts.data() + 2) != id.mac) return false;
        }
        opts = opts.subspan(len);
    }
    return true;
}

SpoofResult check_nd(const GuestIdentity& id, std::span<const std::byte> icmp, std::uint8_t type) {
    switch (type) {
        case 134:
            return SpoofResult::kRouterAdvert;
        case 137:
            return SpoofResult::kRedirect;
        case 133:  // router solicitation: options after 8 bytes
            if (icmp.size() < 8) return SpoofResult::kMalformed;
            return link_layer_options_ok(id, icmp.subspan(8), 1) ? SpoofResult::kOk
                                                                 : SpoofResult::kNeighbor;
        case 135:  // neighbour solicitation: target at 8, options after 24
            if (icmp.size() < 24) return SpoofResult::kMalformed;
            return link_layer_options_ok(id, icmp.subspan(24), 1) ? SpoofResult::kOk
                                                                  : SpoofResult::kNeighbor;
        case 136: {  // neighbour advertisement: the target must be ours
            if (icmp.size() < 24) return SpoofResult::kMalformed;
            const auto* target = reinterpret_cast<const std::uint8_t*>(icmp.data() + 8);
            if (id.check_ip && !own_v6(id, target)) return SpoofResult::kNeighbor;
            return link_layer_options_ok(id, icmp.subspan(24), 2) ? SpoofResult::kOk
                                                                  : SpoofResult::kNeighbor;
        }
        default:
            return SpoofResult::kOk;
    }
}

}  // namespace

bool GuestIdentity::assign(const config::Nic& nic) {
    *this = GuestIdentity{};
    mac = 0;
    for (auto b : nic.mac.bytes) mac = (mac << 8) | b;
    link_local = link_local_from_mac(nic.mac).bytes;
    check_ip = !nic.addresses.empty();
    for (const auto& a : nic.addresses) {
        if (a.addr.family == IpFamily::kV4) {
            if (n4 == kMaxAddresses) return false;
            std::copy_n(a.addr.bytes.begin(), 4, v4[n4++].begin());
        } else {
            if (n6 == kMaxAddresses) return false;
            v6[n6++] = a.addr.bytes;
        }
    }
    return true;
}

SpoofResult check_arp(const GuestIdentity& id, std::span<const std::byte> arp) noexcept {
    // htype 1, ptype IPv4, hlen 6, plen 4: 28 bytes.
    if (arp.size() < 28 || load_be16(arp.data()) != 1 || load_be16(arp.data() + 2) != kEtherIpv4 ||
        static_cast<std::uint8_t>(arp[4]) != 6 || static_cast<std::uint8_t>(arp[5]) != 4) {
        return SpoofResult::kMalformed;
    }
    if (load_mac(arp.data() + 8) != id.mac) return SpoofResult::kArp;
    const auto* spa = reinterpret_cast<const std::uint8_t*>(arp.data() + 14);
    if (id.check_ip && !all_zero(spa, 4) && !one_of(id.v4, id.n4, spa)) return SpoofResult::kArp;
    return SpoofResult::kOk;
}

SpoofResult check_ip(const GuestIdentity& id, std::span<const std::byte> l3,
                     const FlowKey& key) noexcept {
    if (key.family == 6 && key.proto == kIpProtoIcmpv6 && key.is_icmp) {
        // The ICMPv6 message to the end of the IPv6 payload, not of the frame (padding).
        const auto icmp = l3.subspan(key.l4_offset);
        auto r =
            check_nd(id, icmp.first(std::min<std::size_t>(key.l4_len, icmp.size())), key.icmp_type);
        if (r != SpoofResult::kOk) return r;
    }
    return may_send_from(id, key) ? SpoofResult::kOk : SpoofResult::kSourceIp;
}

bool is_own_address(const GuestIdentity& id, std::uint8_t family,
                    const std::uint8_t* src) noexcept {
    if (!id.check_ip) return false;
    return family == 4 ? one_of(id.v4, id.n4, src) : own_v6(id, src);
}

bool may_send_from(const GuestIdentity& id, const FlowKey& key) noexcept {
    if (!id.check_ip) return true;
    // Addresses of one family only: nothing of the other family, not even link-local or DHCP.
    if ((key.family == 4 && id.n4 == 0) || (key.family == 6 && id.n6 == 0)) return false;
    if (key.family == 4) {
        if (one_of(id.v4, id.n4, key.src.data())) return true;
        return all_zero(key.src.data(), 4) && key.proto == kIpProtoUdp && key.has_ports &&
               key.sport == 68 && key.dport == 67;  // DHCP
    }
    return own_v6(id, key.src.data()) || all_zero(key.src.data(), 16);
}

}  // namespace vfgate::dataplane
