#include "offload_rte.hpp"

#include <array>
#include <cstring>
#include <vector>

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_flow.h>

namespace vfgate::dataplane::offload {
namespace {

// The items and actions of one flow, with the specs and masks they point to.
struct RteFlow {
    rte_flow_attr attr{};
    rte_flow_item_ethdev from{}, from_mask{};
    rte_flow_item_eth eth{}, eth_mask{};
    rte_flow_item_vlan vlan{}, vlan_mask{};
    rte_flow_item_ipv4 ip4{}, ip4_mask{};
    rte_flow_item_ipv6 ip6{}, ip6_mask{};
    rte_flow_item_tcp tcp{}, tcp_mask{};
    rte_flow_item_udp udp{}, udp_mask{};
    rte_flow_item_icmp icmp{}, icmp_mask{};
    rte_flow_item_icmp6 icmp6{}, icmp6_mask{};
    rte_flow_action_count count{};
    rte_flow_action_ethdev to{};
    std::vector<rte_flow_item> items;
    std::vector<rte_flow_action> actions;

    RteFlow() = default;
    RteFlow(const RteFlow&) = delete;  // items point into it
    RteFlow& operator=(const RteFlow&) = delete;

    void item(rte_flow_item_type type, const void* spec = nullptr, const void* mask = nullptr) {
        items.push_back(rte_flow_item{.type = type, .spec = spec, .last = nullptr, .mask = mask});
    }
    void action(rte_flow_action_type type, const void* conf = nullptr) {
        actions.push_back(rte_flow_action{.type = type, .conf = conf});
    }
};

// The first `prefix` bits set, over `n` bytes.
template <std::size_t N>
void prefix_mask(std::uint8_t* out, int prefix) {
    for (std::size_t i = 0; i < N; ++i) {
        const int bits = std::clamp(prefix - static_cast<int>(i * 8), 0, 8);
        out[i] = static_cast<std::uint8_t>(0xff00 >> bits);
    }
}

template <std::size_t N>
void cidr(std::uint8_t* spec, std::uint8_t* mask, const Cidr& c) {
    prefix_mask<N>(mask, c.prefix);
    for (std::size_t i = 0; i < N; ++i) spec[i] = c.addr.bytes[i] & mask[i];
}

// A TCP or UDP port's spec and mask, big-endian (both 0 when absent: any port).
template <class Hdr>
void l4_ports(Hdr& spec, Hdr& mask, const std::optional<Masked16>& sport,
              const std::optional<Masked16>& dport) {
    if (sport) {
        spec.src_port = rte_cpu_to_be_16(sport->value & sport->mask);
        mask.src_port = rte_cpu_to_be_16(sport->mask);
    }
    if (dport) {
        spec.dst_port = rte_cpu_to_be_16(dport->value & dport->mask);
        mask.dst_port = rte_cpu_to_be_16(dport->mask);
    }
}

Result<void> build(RteFlow& f, const FlowSpec& s, const PortResolver& resolve) {
    if (s.transfer) {
        f.attr.transfer = 1;
        auto from = resolve(s.from_port);
        if (!from) return fail(ErrorKind::kNotFound, "no open port " + s.from_port);
        f.from.port_id = *from;
        f.from_mask.port_id = 0xffff;
        f.item(RTE_FLOW_ITEM_TYPE_REPRESENTED_PORT, &f.from, &f.from_mask);
    } else {
        f.attr.ingress = 1;
    }
    // With an IP item, the item before it carries the IP version's EtherType (offload_plan.hpp):
    // without a VLAN item, the flow matches untagged frames only.
    const std::uint16_t ether = s.family == 6 ? RTE_ETHER_TYPE_IPV6 : RTE_ETHER_TYPE_IPV4;
    if (s.eth_dst) {
        for (int i = 0; i < 6; ++i) {
            f.eth.hdr.dst_addr.addr_bytes[i] =
                static_cast<std::uint8_t>(*s.eth_dst >> (40 - 8 * i));
            f.eth_mask.hdr.dst_addr.addr_bytes[i] = 0xff;
        }
    }
    if (s.family != 0 && !s.vlan_vid) {
        f.eth.hdr.ether_type = rte_cpu_to_be_16(ether);
        f.eth_mask.hdr.ether_type = 0xffff;
    }
    if (s.eth_dst || (s.family != 0 && !s.vlan_vid)) {
        f.item(RTE_FLOW_ITEM_TYPE_ETH, &f.eth, &f.eth_mask);
    } else {
        f.item(RTE_FLOW_ITEM_TYPE_ETH);
    }
    if (s.vlan_vid) {
        f.vlan.hdr.vlan_tci = rte_cpu_to_be_16(s.vlan_vid->value & s.vlan_vid->mask & 0x0fff);
        f.vlan_mask.hdr.vlan_tci = rte_cpu_to_be_16(s.vlan_vid->mask & 0x0fff);
        if (s.family != 0) {
            f.vlan.hdr.eth_proto = rte_cpu_to_be_16(ether);
            f.vlan_mask.hdr.eth_proto = 0xffff;
        }
        f.item(RTE_FLOW_ITEM_TYPE_VLAN, &f.vlan, &f.vlan_mask);
    }
    if (s.family == 4) {
        auto* spec = &f.ip4.hdr;
        auto* mask = &f.ip4_mask.hdr;
        if (s.src) {
            cidr<4>(reinterpret_cast<std::uint8_t*>(&spec->src_addr),
                    reinterpret_cast<std::uint8_t*>(&mask->src_addr), *s.src);
        }
        if (s.dst) {
            cidr<4>(reinterpret_cast<std::uint8_t*>(&spec->dst_addr),
                    reinterpret_cast<std::uint8_t*>(&mask->dst_addr), *s.dst);
        }
        if (s.proto) {
            spec->next_proto_id = *s.proto;
            mask->next_proto_id = 0xff;
        }
        f.item(RTE_FLOW_ITEM_TYPE_IPV4, &f.ip4, &f.ip4_mask);
    } else if (s.family == 6) {
        if (s.src) cidr<16>(f.ip6.hdr.src_addr, f.ip6_mask.hdr.src_addr, *s.src);
        if (s.dst) cidr<16>(f.ip6.hdr.dst_addr, f.ip6_mask.hdr.dst_addr, *s.dst);
        if (s.proto) {
            f.ip6.hdr.proto = *s.proto;
            f.ip6_mask.hdr.proto = 0xff;
        }
        f.item(RTE_FLOW_ITEM_TYPE_IPV6, &f.ip6, &f.ip6_mask);
    }
    if (s.family != 0 && (s.sport || s.dport) && s.proto) {
        if (*s.proto == IPPROTO_TCP) {
            l4_ports(f.tcp.hdr, f.tcp_mask.hdr, s.sport, s.dport);
            f.item(RTE_FLOW_ITEM_TYPE_TCP, &f.tcp, &f.tcp_mask);
        } else if (*s.proto == IPPROTO_UDP) {
            l4_ports(f.udp.hdr, f.udp_mask.hdr, s.sport, s.dport);
            f.item(RTE_FLOW_ITEM_TYPE_UDP, &f.udp, &f.udp_mask);
        } else {
            return fail(ErrorKind::kInternal, "ports with IP protocol " + std::to_string(*s.proto));
        }
    }
    if (s.icmp_type || s.icmp_code) {
        if (s.family == 4) {
            f.icmp.hdr.icmp_type = s.icmp_type.value_or(0);
            f.icmp_mask.hdr.icmp_type = s.icmp_type ? 0xff : 0;
            f.icmp.hdr.icmp_code = s.icmp_code.value_or(0);
            f.icmp_mask.hdr.icmp_code = s.icmp_code ? 0xff : 0;
            f.item(RTE_FLOW_ITEM_TYPE_ICMP, &f.icmp, &f.icmp_mask);
        } else {
            f.icmp6.type = s.icmp_type.value_or(0);
            f.icmp6_mask.type = s.icmp_type ? 0xff : 0;
            f.icmp6.code = s.icmp_code.value_or(0);
            f.icmp6_mask.code = s.icmp_code ? 0xff : 0;
            f.item(RTE_FLOW_ITEM_TYPE_ICMP6, &f.icmp6, &f.icmp6_mask);
        }
    }
    f.item(RTE_FLOW_ITEM_TYPE_END);
    if (s.count) f.action(RTE_FLOW_ACTION_TYPE_COUNT, &f.count);
    if (s.action == FlowAction::kDrop) {
        f.action(RTE_FLOW_ACTION_TYPE_DROP);
    } else {
        auto to = resolve(s.to_port);
        if (!to) return fail(ErrorKind::kNotFound, "no open port " + s.to_port);
        f.to.port_id = *to;
        f.action(RTE_FLOW_ACTION_TYPE_PORT_REPRESENTOR, &f.to);
    }
    f.action(RTE_FLOW_ACTION_TYPE_END);
    return {};
}

std::string driver_of(std::uint16_t port) {
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(port, &info) == 0 && info.driver_name != nullptr) {
        return info.driver_name;
    }
    return "port " + std::to_string(port);
}

// "net_tap: <the PMD's message> (Operation not supported)", with its errno.
Error flow_error(std::uint16_t port, int ret, const rte_flow_error& e) {
    const int code = ret < 0 ? -ret : ret;
    const std::string strerr = rte_strerror(code);
    std::string msg = e.message != nullptr && e.message[0] != '\0' ? e.message : strerr;
    if (msg != strerr) msg += " (" + strerr + ")";
    return Error(ErrorKind::kUnsupported, driver_of(port) + ": " + msg, code);
}

// The PMD's flow a FlowHandle holds: its pointer, kept as an integer so that offload.hpp (and
// its unit test) need no DPDK header.
rte_flow* flow_of(FlowHandle h) {
    return reinterpret_cast<rte_flow*>(h.flow);  // NOLINT(performance-no-int-to-ptr): see above
}

class RteFlowBackend final : public FlowBackend {
  public:
    explicit RteFlowBackend(PortResolver resolve) : resolve_(std::move(resolve)) {}

    Result<void> validate(std::uint16_t port, const FlowSpec& flow) override {
        RteFlow f;
        auto on = prepare(f, port, flow);
        if (!on) return tl::unexpected(on.error());
        rte_flow_error err{};
        int r = rte_flow_validate(*on, &f.attr, f.items.data(), f.actions.data(), &err);
        if (r != 0) return tl::unexpected(flow_error(*on, r, err));
        return {};
    }

    Result<FlowHandle> create(std::uint16_t port, const FlowSpec& flow) override {
        RteFlow f;
        auto on = prepare(f, port, flow);
        if (!on) return tl::unexpected(on.error());
        rte_flow_error err{};
        rte_flow* h = rte_flow_create(*on, &f.attr, f.items.data(), f.actions.data(), &err);
        if (h == nullptr) return tl::unexpected(flow_error(*on, -rte_errno, err));
        return FlowHandle{*on, reinterpret_cast<std::uintptr_t>(h)};
    }

    Result<void> destroy(FlowHandle flow) override {
        rte_flow_error err{};
        int r = rte_flow_destroy(flow.port, flow_of(flow), &err);
        if (r != 0) return tl::unexpected(flow_error(flow.port, r, err));
        return {};
    }

    Result<std::uint64_t> query_count(FlowHandle flow) override {
        rte_flow_action_count conf{};
        const rte_flow_action count{.type = RTE_FLOW_ACTION_TYPE_COUNT, .conf = &conf};
        rte_flow_query_count out{};
        rte_flow_error err{};
        int r = rte_flow_query(flow.port, flow_of(flow), &count, &out, &err);
        if (r != 0) return tl::unexpected(flow_error(flow.port, r, err));
        if (out.hits_set == 0) return fail(ErrorKind::kUnsupported, "no hit count");
        return out.hits;
    }

    Result<void> flush(std::uint16_t port) override {
        rte_flow_error err{};
        int r = rte_flow_flush(port, &err);
        if (r != 0) return tl::unexpected(flow_error(port, r, err));
        return {};
    }

  private:
    // Builds the flow; the port to ask: the transfer proxy for an e-switch flow.
    Result<std::uint16_t> prepare(RteFlow& f, std::uint16_t port, const FlowSpec& flow) {
        if (auto b = build(f, flow, resolve_); !b) return tl::unexpected(b.error());
        if (!flow.transfer) return port;
        std::uint16_t proxy = port;
        rte_flow_error err{};
        if (int r = rte_flow_pick_transfer_proxy(port, &proxy, &err); r != 0) {
            return tl::unexpected(flow_error(port, r, err));
        }
        return proxy;
    }

    PortResolver resolve_;
};

}  // namespace

std::unique_ptr<FlowBackend> make_rte_flow_backend(PortResolver resolve) {
    return std::make_unique<RteFlowBackend>(std::move(resolve));
}

}  // namespace vfgate::dataplane::offload
