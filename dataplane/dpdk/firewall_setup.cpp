// The control thread's side of the firewall: compiling NIC firewalls when they change, zones and
// epochs, the connection tables, and the firewall fields of a snapshot.

#include <set>

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <spdlog/spdlog.h>

#include "acl.hpp"
#include "dataplane.hpp"

namespace vfgate::dataplane {
namespace {

std::string nic_name(const config::Guest& g, const config::Nic& n) { return g.name + "/" + n.name; }

// Rules compile to rte_acl on this socket.
ClassifierFactory acl_on(int socket) {
    return
        [socket](std::span<const config::Rule> rules) -> Result<std::shared_ptr<const Classifier>> {
            auto c = AclClassifier::build(rules, socket);
            if (!c) return tl::unexpected(c.error());
            return std::shared_ptr<const Classifier>(std::move(*c));
        };
}

// The per-worker tables (connection tables, verdict caches) live in hugepages on this socket.
TableMemory hugepages_on(int socket) {
    return TableMemory{[socket](const char* what, std::size_t bytes) {
                           return rte_zmalloc_socket(what, bytes, RTE_CACHE_LINE_SIZE, socket);
                       },
                       [](void* p) { rte_free(p); }};
}

// A table for each worker (`make()`), kept in `tables` and published to each worker's `slot`
// with a release store before any snapshot that needs it is (the snapshot's own release store
// follows): a worker that sees the snapshot sees its table. Nothing is kept if one fails.
template <typename Table, typename Make, typename Slot>
Result<void> per_worker(const std::vector<std::unique_ptr<Worker>>& workers,
                        std::vector<std::unique_ptr<Table>>& tables, const char* what,
                        const char* remedy, const Make& make, const Slot& slot) {
    std::vector<std::unique_ptr<Table>> made;
    for (const auto& w : workers) {
        auto t = make();
        if (!t) {
            return fail(ErrorKind::kSystem, t.error().message() + " (worker " +
                                                std::to_string(w->index) + "): " + remedy);
        }
        spdlog::info("worker {}: {} of {} entries, {} MiB", w->index, what, (*t)->capacity(),
                     (*t)->memory_bytes() >> 20);
        made.push_back(std::move(*t));
    }
    tables = std::move(made);
    for (std::size_t i = 0; i < workers.size(); ++i) {
        slot(*workers[i]).store(tables[i].get(), std::memory_order_release);
    }
    return {};
}

}  // namespace

std::shared_ptr<const NicFirewall> Dataplane::compiled_firewall(const std::string& nic,
                                                                const config::Firewall& fw,
                                                                bool running_only) const {
    for (const auto* m : {&pending_firewalls_, &firewalls_}) {
        if (running_only && m == &pending_firewalls_) continue;
        if (auto it = m->find(nic); it != m->end() && it->second->source == fw) return it->second;
    }
    return nullptr;
}

bool Dataplane::identity_changed(const std::string& name, const config::Nic& n) const {
    const Snapshot* s = current_.load(std::memory_order_acquire);
    if (s == nullptr) return false;
    const PortIdx p = s->table.by_name(name);
    if (p == kNoPort || index(p) >= s->firewall.identity.size()) return false;
    GuestIdentity now;
    (void)now.assign(n);  // checked by the caller
    return !(s->firewall.identity[index(p)] == now);
}

void Dataplane::commit_firewalls(const config::Config& cfg) {
    // No worker counts into a replaced firewall any more: carry its last hits over.
    for (const auto& [fresh, replaced] : to_settle_) fresh->settle(*replaced);
    to_settle_.clear();
    for (auto& [name, fw] : pending_firewalls_) firewalls_[name] = std::move(fw);
    pending_firewalls_.clear();
    std::set<std::string> present;
    for (const auto& g : cfg.guests) {
        for (const auto& n : g.nics) {
            if (n.firewall && config::is_software_switched(cfg, n)) present.insert(nic_name(g, n));
        }
    }
    std::erase_if(firewalls_, [&](const auto& f) { return !present.contains(f.first); });
}

void Dataplane::drop_pending_firewalls() {
    pending_firewalls_.clear();
    to_settle_.clear();
}

Result<void> Dataplane::prepare_firewalls(const config::Config& cfg) {
    bool stateful = false, stateless = false;
    std::map<std::string, std::shared_ptr<const NicFirewall>> compiled;
    drop_pending_firewalls();
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
            stateless |= !n.firewall->stateful;
            const std::string name = nic_name(g, n);
            // The one running (a failed reload's compile never is): its counts carry over.
            const auto running = firewalls_.find(name);
            const NicFirewall* old = running == firewalls_.end() ? nullptr : running->second.get();
            // Kept unless its rules change, or its addresses do: then a new epoch has its
            // connections re-checked, and those the guest opened from an address it no longer
            // has are revoked (as the offload plan assumes).
            if (old != nullptr && old->source == *n.firewall && !identity_changed(name, n)) {
                continue;
            }
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
                                         acl_on(static_cast<int>(rte_socket_id())), old);
            if (!fw) {
                return tl::unexpected(
                    std::move(fw.error()).context("guests[" + g.name + "].nics[" + n.name + "]"));
            }
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0);
            const auto compiled_as = [](const RuleSet& rs) -> std::string {
                return rs.classifier() == nullptr ? "none" : rs.classifier()->describe();
            };
            spdlog::info(
                "{}: firewall compiled in {} ms: {} ingress rules ({}), {} egress rules ({})", name,
                ms.count(), n.firewall->ingress.size(), compiled_as((*fw)->dir[kIngress]),
                n.firewall->egress.size(), compiled_as((*fw)->dir[kEgress]));
            if (old != nullptr) to_settle_.emplace_back(*fw, running->second);
            compiled[name] = std::move(*fw);
        }
    }
    const int socket = static_cast<int>(rte_socket_id());
    if (stateful && conntrack_.empty()) {
        const auto capacity = static_cast<std::uint32_t>(cfg.dataplane->conntrack.capacity);
        auto made = per_worker<ConnTable>(
            workers_, conntrack_, "connection table",
            "raise dataplane.memory_mb or lower dataplane.conntrack.capacity",
            [&] { return ConnTable::create(capacity, rte_get_tsc_hz(), hugepages_on(socket)); },
            [](Worker & w) -> auto& { return w.firewall.conntrack; });
        if (!made) return made;
    }
    const auto cache_entries =
        static_cast<std::uint32_t>(cfg.dataplane ? cfg.dataplane->verdict_cache : 0);
    if (stateless && verdicts_.empty() && cache_entries != 0) {
        auto made = per_worker<VerdictCache>(
            workers_, verdicts_, "verdict cache",
            "raise dataplane.memory_mb or lower dataplane.verdict_cache",
            [&] { return VerdictCache::create(cache_entries, hugepages_on(socket)); },
            [](Worker & w) -> auto& { return w.firewall.verdicts; });
        if (!made) return made;
    }
    pending_firewalls_ = std::move(compiled);
    return {};
}

Result<void> Dataplane::add_firewalls(const config::Config& cfg, Snapshot& s,
                                      bool running_firewalls) {
    auto t = FirewallTables::build(
        cfg, s.table,
        [this, running_firewalls](const std::string& nic, const config::Firewall& fw) {
            return compiled_firewall(nic, fw, running_firewalls);
        },
        rte_get_tsc_hz());
    if (!t) return tl::unexpected(t.error());
    s.firewall = std::move(*t);
    return {};
}

}  // namespace vfgate::dataplane
