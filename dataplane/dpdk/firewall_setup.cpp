// The control thread's side of the firewall: compiling NIC firewalls when they change, zones and
// epochs, the connection tables, and the firewall fields of a snapshot.

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <spdlog/spdlog.h>

#include "dataplane.hpp"

namespace vfgate::dataplane {
namespace {

constexpr std::uint64_t kFragmentLifetimeS = 10;

std::string nic_name(const config::Guest& g, const config::Nic& n) { return g.name + "/" + n.name; }

}  // namespace

const NicFirewall* Dataplane::latest_firewall(const std::string& nic) const {
    auto it = firewalls_.find(nic);
    return it == firewalls_.end() || it->second.empty() ? nullptr : it->second.back().get();
}

std::shared_ptr<const NicFirewall> Dataplane::compiled_firewall(const std::string& nic,
                                                                const config::Firewall& fw) const {
    auto it = firewalls_.find(nic);
    if (it == firewalls_.end()) return nullptr;
    for (const auto& f : it->second) {
        if (f->source == fw) return f;
    }
    return nullptr;
}

Result<void> Dataplane::prepare_firewalls(const config::Config& cfg) {
    bool stateful = false;
    std::map<std::string, std::shared_ptr<const NicFirewall>> compiled;
    to_settle_.clear();
    for (const auto& g : cfg.guests) {
        for (const auto& n : g.nics) {
            if (!config::is_software_switched(cfg, n)) continue;
            // Checked here, before anything changes, so that add_firewalls can't fail on it.
            if (GuestIdentity id; !id.assign(n)) {
                return fail(ErrorKind::kUnsupported,
                            nic_name(g, n) + ": more than " +
                                std::to_string(GuestIdentity::kMaxAddresses) +
                                " addresses of one IP version; the dataplane checks at most that "
                                "many per NIC");
            }
            if (!n.firewall) continue;
            stateful |= n.firewall->stateful;
            const std::string name = nic_name(g, n);
            const NicFirewall* old = latest_firewall(name);
            if (old != nullptr && old->source == *n.firewall) continue;
            auto zone = zones_.find(name);
            if (zone == zones_.end()) {
                if (zones_.size() > 0xfffe) {
                    return fail(ErrorKind::kUnsupported,
                                name +
                                    ": more than 65535 firewalled NICs seen since the "
                                    "dataplane started; restart it");
                }
                zone = zones_.emplace(name, static_cast<std::uint16_t>(zones_.size() + 1)).first;
            }
            const auto t0 = std::chrono::steady_clock::now();
            auto fw = NicFirewall::build(*n.firewall, zone->second, ++epoch_,
                                         static_cast<unsigned>(workers_.size()),
                                         static_cast<int>(rte_socket_id()), old);
            if (!fw) {
                return tl::unexpected(
                    std::move(fw.error()).context("guests[" + g.name + "].nics[" + n.name + "]"));
            }
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0);
            const auto contexts = [](const RuleSet& rs) {
                return rs.acl() == nullptr ? 0 : rs.acl()->contexts(4) + rs.acl()->contexts(6);
            };
            spdlog::info(
                "{}: firewall compiled in {} ms: {} ingress rules ({} rte_acl contexts), {} egress "
                "rules ({} contexts)",
                name, ms.count(), n.firewall->ingress.size(), contexts((*fw)->dir[kIngress]),
                n.firewall->egress.size(), contexts((*fw)->dir[kEgress]));
            if (old != nullptr) to_settle_.emplace_back(*fw, firewalls_[name].back());
            compiled[name] = std::move(*fw);
        }
    }
    if (stateful && conntrack_.empty()) {
        const auto capacity = static_cast<std::uint32_t>(cfg.dataplane->conntrack.capacity);
        std::vector<std::unique_ptr<ConnTable>> tables;
        for (auto& w : workers_) {
            auto t = ConnTable::create(w->index, capacity, static_cast<int>(rte_socket_id()));
            if (!t) return tl::unexpected(t.error());
            spdlog::info("worker {}: connection table of {} entries, {} MiB", w->index, capacity,
                         (*t)->memory_bytes() >> 20);
            tables.push_back(std::move(*t));
        }
        conntrack_ = std::move(tables);
        // Before any snapshot with a stateful firewall is published (release, then the
        // snapshot's own release store): a worker that sees one sees its table.
        for (std::size_t i = 0; i < workers_.size(); ++i) {
            workers_[i]->conntrack.store(conntrack_[i].get(), std::memory_order_release);
        }
    }
    for (auto& [name, fw] : compiled) {
        // The one before stays too: a failed reload's rollback goes back to it.
        auto& kept = firewalls_[name];
        kept.push_back(std::move(fw));
        if (kept.size() > 2) kept.erase(kept.begin());
    }
    return {};
}

Result<void> Dataplane::add_firewalls(const config::Config& cfg, Snapshot& s) {
    const std::size_t n = s.table.ports().size();
    s.firewall.assign(n, nullptr);
    s.identity.assign(n, GuestIdentity{});
    s.domain_filtered.assign(s.table.domains().size(), 0);
    for (const auto& g : cfg.guests) {
        for (const auto& nic : g.nics) {
            const std::string name = nic_name(g, nic);
            const PortIdx p = s.table.by_name(name);
            if (p == kNoPort) continue;
            if (!s.identity[index(p)].assign(nic)) {
                return fail(ErrorKind::kInternal, name + ": addresses not checked before");
            }
            if (!nic.firewall) continue;
            auto fw = compiled_firewall(name, *nic.firewall);
            if (!fw) return fail(ErrorKind::kInternal, name + ": firewall not compiled");
            s.firewall[index(p)] = std::move(fw);
            s.domain_filtered[s.table.port(p).domain] = 1;
        }
    }
    const auto hz = rte_get_tsc_hz();
    const auto& timeouts = cfg.dataplane->conntrack.timeouts;
    for (std::size_t st = 0; st < kCtStates; ++st) {
        s.ct_timeout[st] = static_cast<std::uint32_t>(
            (timeout_s(static_cast<CtState>(st), timeouts) * hz) >> ct_tick_shift(hz));
    }
    s.fragment_lifetime = kFragmentLifetimeS * hz;
    return {};
}

}  // namespace vfgate::dataplane
