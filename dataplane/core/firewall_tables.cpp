// The firewall's part of a snapshot, from the config and the firewalls compiled for it.

#include "firewall_stage.hpp"

namespace vfgate::dataplane {
namespace {

// Later fragments are welcome this long after their first fragment passed.
constexpr std::uint64_t kFragmentLifetimeS = 10;

}  // namespace

Result<FirewallTables> FirewallTables::build(const config::Config& cfg, const SwitchTable& t,
                                             const Compiled& compiled, std::uint64_t tsc_hz) {
    FirewallTables fw;
    const std::size_t n = t.ports().size();
    fw.nic.assign(n, nullptr);
    fw.identity.assign(n, GuestIdentity{});
    fw.domain_filtered.assign(t.domains().size(), 0);
    for (const auto& g : cfg.guests) {
        for (const auto& nic : g.nics) {
            const std::string name = g.name + "/" + nic.name;
            const PortIdx p = t.by_name(name);
            if (p == kNoPort) continue;
            if (!fw.identity[index(p)].assign(nic)) {
                return fail(ErrorKind::kUnsupported,
                            name + ": more than " + std::to_string(GuestIdentity::kMaxAddresses) +
                                " addresses of one IP version; the dataplane checks at most that "
                                "many per NIC");
            }
            if (!nic.firewall) continue;
            auto f = compiled(name, *nic.firewall);
            if (!f) return fail(ErrorKind::kInternal, name + ": firewall not compiled");
            fw.nic[index(p)] = std::move(f);
            fw.domain_filtered[t.port(p).domain] = 1;
            fw.filtered = true;
        }
    }
    const unsigned shift = ct_tick_shift(tsc_hz);
    const config::ConntrackTimeouts timeouts =
        cfg.dataplane ? cfg.dataplane->conntrack.timeouts : config::ConntrackTimeouts{};
    for (std::size_t st = 0; st < kCtStates; ++st) {
        fw.ct_timeout[st] = static_cast<std::uint32_t>(
            (timeout_s(static_cast<CtState>(st), timeouts) * tsc_hz) >> shift);
    }
    fw.fragment_lifetime = kFragmentLifetimeS * tsc_hz;
    return fw;
}

}  // namespace vfgate::dataplane
