#include "acl.hpp"

#include <atomic>
#include <cstring>

#include "ports.hpp"

namespace vfgate::dataplane {
namespace {

// Every input group after the first byte must be four bytes of fields: the last group (ICMP
// type, code, flags) is completed by a wildcard pad byte, without which its fields never match.
constexpr int kFields4 = 9;
constexpr int kFields6 = 15;
RTE_ACL_RULE_DEF(Rule4, kFields4);
RTE_ACL_RULE_DEF(Rule6, kFields6);

rte_acl_field_def field(std::uint8_t type, std::uint8_t size, std::uint8_t index,
                        std::uint8_t input, std::uint32_t offset) {
    return rte_acl_field_def{type, size, index, input, offset};
}

// Layouts of acl::Key (acl_rules.hpp).
std::vector<rte_acl_field_def> defs(std::uint8_t family) {
    std::vector<rte_acl_field_def> d;
    d.push_back(field(RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, 0, 0));  // proto
    std::uint8_t words = family == 4 ? 1 : 4;
    std::uint8_t idx = 1, input = 1;
    std::uint32_t off = 4;
    for (int side = 0; side < 2; ++side) {  // src, dst
        for (std::uint8_t w = 0; w < words; ++w) {
            d.push_back(field(RTE_ACL_FIELD_TYPE_MASK, 4, idx++, input++, off));
            off += 4;
        }
    }
    d.push_back(field(RTE_ACL_FIELD_TYPE_RANGE, 2, idx++, input, off));        // sport
    d.push_back(field(RTE_ACL_FIELD_TYPE_RANGE, 2, idx++, input++, off + 2));  // dport
    off += 4;
    d.push_back(field(RTE_ACL_FIELD_TYPE_BITMASK, 1, idx++, input, off));      // icmp type
    d.push_back(field(RTE_ACL_FIELD_TYPE_BITMASK, 1, idx++, input, off + 1));  // icmp code
    d.push_back(field(RTE_ACL_FIELD_TYPE_BITMASK, 1, idx++, input, off + 2));  // flags
    d.push_back(field(RTE_ACL_FIELD_TYPE_BITMASK, 1, idx++, input, off + 3));  // pad (any)
    return d;
}

std::uint32_t word(const std::array<std::uint8_t, 16>& a, int w) {
    auto i = static_cast<std::size_t>(w) * 4;
    return (std::uint32_t{a[i]} << 24) | (std::uint32_t{a[i + 1]} << 16) |
           (std::uint32_t{a[i + 2]} << 8) | a[i + 3];
}

std::uint32_t prefix_part(std::uint8_t prefix, int w) {
    int bits = static_cast<int>(prefix) - 32 * w;
    return static_cast<std::uint32_t>(std::clamp(bits, 0, 32));
}

// Fills one rte_acl rule (`f` points at its field array) from a flat rule.
void to_fields(const acl::FlatRule& r, rte_acl_field* f) {
    int words = r.family == 4 ? 1 : 4;
    int i = 0;
    f[i].value.u8 = r.proto;
    f[i++].mask_range.u8 = r.proto_mask;
    for (const auto* side : {&r.src, &r.dst}) {
        std::uint8_t prefix = side == &r.src ? r.src_prefix : r.dst_prefix;
        for (int w = 0; w < words; ++w) {
            f[i].value.u32 = word(*side, w);
            f[i++].mask_range.u32 = prefix_part(prefix, w);
        }
    }
    f[i].value.u16 = r.sport_lo;
    f[i++].mask_range.u16 = r.sport_hi;
    f[i].value.u16 = r.dport_lo;
    f[i++].mask_range.u16 = r.dport_hi;
    f[i].value.u8 = r.icmp_type;
    f[i++].mask_range.u8 = r.icmp_type_mask;
    f[i].value.u8 = r.icmp_code;
    f[i++].mask_range.u8 = r.icmp_code_mask;
    f[i].value.u8 = r.flags;
    f[i++].mask_range.u8 = r.flags_mask;
    f[i].value.u8 = 0;
    f[i].mask_range.u8 = 0;
}

template <class RuleT>
Result<rte_acl_ctx*> compile_one(std::span<const acl::FlatRule> flat, std::uint8_t family,
                                 int socket) {
    static std::atomic<unsigned> serial{0};
    char name[RTE_ACL_NAMESIZE];
    static_cast<void>(
        std::snprintf(name, sizeof name, "vfgate_acl%u_%u", family, serial.fetch_add(1)));
    auto d = defs(family);
    rte_acl_param param{};
    param.name = name;
    param.socket_id = socket;
    param.rule_size = RTE_ACL_RULE_SZ(d.size());
    param.max_rule_num = static_cast<std::uint32_t>(flat.size());
    rte_acl_ctx* ctx = rte_acl_create(&param);
    if (ctx == nullptr) return fail(ErrorKind::kSystem, std::string("rte_acl_create ") + name);
    std::vector<RuleT> rules(flat.size());
    for (std::size_t i = 0; i < flat.size(); ++i) {
        rules[i].data.category_mask = 1;
        rules[i].data.priority = flat[i].priority;
        rules[i].data.userdata = flat[i].userdata;
        to_fields(flat[i], rules[i].field);
    }
    int r = rte_acl_add_rules(ctx, reinterpret_cast<const rte_acl_rule*>(rules.data()),
                              static_cast<std::uint32_t>(rules.size()));
    rte_acl_config cfg{};
    if (r == 0) {
        cfg.num_categories = 1;
        cfg.num_fields = static_cast<std::uint32_t>(d.size());
        std::copy(d.begin(), d.end(), cfg.defs);
        r = rte_acl_build(ctx, &cfg);
    }
    if (r != 0) {
        rte_acl_free(ctx);
        return tl::unexpected(Error(ErrorKind::kSystem,
                                    "compiling " + std::to_string(flat.size()) + " IPv" +
                                        std::to_string(family) + " classifier rules",
                                    -r));
    }
    return ctx;
}

// Compiles `flat` into as few contexts as rte_acl allows: when a set is too diverse for one
// context (ENOMEM: more than 8 tries), its halves are compiled separately, in rule order.
template <class RuleT>
Result<void> compile(std::span<const acl::FlatRule> flat, std::uint8_t family, int socket,
                     std::vector<rte_acl_ctx*>& out) {
    if (flat.empty()) return {};
    auto ctx = compile_one<RuleT>(flat, family, socket);
    if (ctx) {
        out.push_back(*ctx);
        return {};
    }
    if (ctx.error().sys_errno() != ENOMEM || flat.size() < 2) return tl::unexpected(ctx.error());
    auto half = flat.size() / 2;
    if (auto r = compile<RuleT>(flat.first(half), family, socket, out); !r) return r;
    return compile<RuleT>(flat.subspan(half), family, socket, out);
}

}  // namespace

Result<std::unique_ptr<AclClassifier>> AclClassifier::build(std::span<const config::Rule> rules,
                                                            int socket) {
    auto flat = acl::expand(rules);
    if (!flat) return tl::unexpected(flat.error());
    std::unique_ptr<AclClassifier> c(new AclClassifier());
    c->flat_rules_ = flat->v4.size() + flat->v6.size();
    if (auto r = compile<Rule4>(flat->v4, 4, socket, c->v4_); !r) return tl::unexpected(r.error());
    if (auto r = compile<Rule6>(flat->v6, 6, socket, c->v6_); !r) return tl::unexpected(r.error());
    return c;
}

AclClassifier::~AclClassifier() {
    for (auto* ctx : v4_) rte_acl_free(ctx);
    for (auto* ctx : v6_) rte_acl_free(ctx);
}

void AclClassifier::classify(std::uint8_t family, const std::uint8_t** keys, std::uint32_t* results,
                             std::uint32_t n) const noexcept {
    const auto& ctxs = family == 4 ? v4_ : v6_;
    std::memset(results, 0, n * sizeof *results);
    if (ctxs.empty()) return;
    rte_acl_classify(ctxs[0], keys, results, n, 1);
    // Split sets: the earliest rule (lowest userdata) wins across contexts.
    std::array<std::uint32_t, 64> more{};
    for (std::size_t c = 1; c < ctxs.size(); ++c) {
        for (std::uint32_t base = 0; base < n; base += more.size()) {
            auto m = std::min<std::uint32_t>(static_cast<std::uint32_t>(more.size()), n - base);
            rte_acl_classify(ctxs[c], keys + base, more.data(), m, 1);
            for (std::uint32_t i = 0; i < m; ++i) {
                std::uint32_t& r = results[base + i];
                if (more[i] != 0 && (r == 0 || more[i] < r)) r = more[i];
            }
        }
    }
}

void AclClassifier::classify(std::uint8_t family, const FlowKey* const* keys, std::uint32_t* out,
                             std::uint32_t n) const noexcept {
    std::array<acl::Key, 64> scratch;              // NOLINT(cppcoreguidelines-pro-type-member-init)
    std::array<const std::uint8_t*, 64> pointers;  // NOLINT(cppcoreguidelines-pro-type-member-init)
    for (std::uint32_t i = 0; i < n; ++i) {
        acl::fill_key(*keys[i], scratch[i]);
        pointers[i] = scratch[i].data();
    }
    classify(family, pointers.data(), out, n);
}

std::string AclClassifier::describe() const {
    return std::to_string(v4_.size() + v6_.size()) + " rte_acl contexts";
}

}  // namespace vfgate::dataplane
