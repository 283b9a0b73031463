// The shapes of firewall rules: protocol names, CIDRs, ports and port ranges.

#include <charconv>

#include "reader.hpp"

namespace vfgate::config::detail {
namespace {

using Kind = DocNode::Kind;

std::optional<std::int64_t> port_number(std::string_view s) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || s.front() == '-' || ec != std::errc() || end != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

void read_ports(Reader& r, const Fields& f, std::string_view key, std::vector<PortRange>& out) {
    constexpr std::string_view kWhat = "a port, a range \"a-b\"";
    each_one_or_list(r, f, key, kWhat, [&](const DocNode& item, const std::string& ip) {
        std::string_view s = item.kind == Kind::kScalar ? std::string_view(item.text) : "";
        auto dash = s.find('-', 1);
        auto lo = port_number(s.substr(0, dash));
        auto hi = dash == std::string_view::npos ? lo : port_number(s.substr(dash + 1));
        if (!lo || !hi) {
            r.mismatch(item, ip, std::string(kWhat) + " or a list of them");
            return;
        }
        out.push_back({*lo, *hi});
    });
}

Rule read_rule(Reader& r, const DocNode& n, const std::string& p, Direction dir, std::size_t i) {
    Rule rule;
    rule.id = std::string(to_string(dir)) + "[" + std::to_string(i) + "]";
    auto f = r.mapping(
        n, p,
        {"id", "action", "proto", "src", "dst", "src_port", "dst_port", "icmp_type", "icmp_code"});
    if (!f) return rule;
    read_text(r, *f, "id", rule.id);
    if (const DocNode* a = r.required(*f, "action", "allow or deny")) {
        if (auto c = r.choice(*a, key_path(p, "action"), {"allow", "deny"})) {
            rule.action = *c == 0 ? Action::kAllow : Action::kDeny;
        }
    }
    with(*f, "proto", [&](const DocNode& pn, const std::string& pp) {
        r.visit(pn, pp);
        static constexpr std::pair<std::string_view, int> kNames[] = {
            {"tcp", kProtoTcp}, {"udp", kProtoUdp}, {"icmp", kProtoIcmp}, {"icmpv6", kProtoIcmpv6}};
        if (pn.kind == Kind::kScalar && pn.text == "any") return;
        for (auto [name, number] : kNames) {
            if (pn.kind == Kind::kScalar && pn.text == name) {
                rule.proto = number;
                return;
            }
        }
        if (pn.kind == Kind::kScalar && pn.plain && port_number(pn.text)) {
            rule.proto = r.integer(pn, pp);
            return;
        }
        r.mismatch(pn, pp, "any, tcp, udp, icmp, icmpv6 or a protocol number 0-255");
    });
    constexpr std::string_view kCidr = "an IPv4 or IPv6 CIDR such as 10.0.0.0/8 or fd00::/64";
    read_cidrs(r, *f, "src", kCidr, rule.src);
    read_cidrs(r, *f, "dst", kCidr, rule.dst);
    read_ports(r, *f, "src_port", rule.src_ports);
    read_ports(r, *f, "dst_port", rule.dst_ports);
    read_int(r, *f, "icmp_type", rule.icmp_type);
    read_int(r, *f, "icmp_code", rule.icmp_code);
    return rule;
}

}  // namespace

void read_cidrs(Reader& r, const Fields& f, std::string_view key, std::string_view what,
                std::vector<Cidr>& out) {
    each_one_or_list(r, f, key, what, [&](const DocNode& item, const std::string& ip) {
        std::string why;
        auto c = item.kind == Kind::kScalar ? parse_cidr(item.text, &why) : std::nullopt;
        if (!c) {
            r.mismatch(item, ip, std::string(what) + (why.empty() ? "" : " (" + why + ")"));
            return;
        }
        out.push_back(*c);
    });
}

Firewall read_firewall(Reader& r, const DocNode& n, const std::string& p) {
    Firewall fw;
    auto f =
        r.mapping(n, p, {"stateful", "ingress_default", "egress_default", "ingress", "egress"});
    if (!f) return fw;
    read_bool(r, *f, "stateful", fw.stateful);
    read_choice(r, *f, "ingress_default", {"allow", "deny"}, {Action::kAllow, Action::kDeny},
                fw.ingress_default);
    read_choice(r, *f, "egress_default", {"allow", "deny"}, {Action::kAllow, Action::kDeny},
                fw.egress_default);
    for (auto dir : {Direction::kIngress, Direction::kEgress}) {
        auto& rules = dir == Direction::kIngress ? fw.ingress : fw.egress;
        with(*f, to_string(dir), [&](const DocNode& v, const std::string& vp) {
            auto* items = r.list(v, vp, "rules");
            if (items == nullptr) return;
            for (std::size_t i = 0; i < items->size(); ++i) {
                rules.push_back(read_rule(r, (*items)[i], item_path(vp, i), dir, i));
            }
        });
    }
    return fw;
}

}  // namespace vfgate::config::detail
