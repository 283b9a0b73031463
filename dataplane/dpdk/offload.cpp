#include "offload.hpp"

#include <algorithm>
#include <cerrno>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace vfgate::dataplane::offload {
namespace {

const char* kind_name(EntryKind k) {
    switch (k) {
        case EntryKind::kRule:
            return "rule";
        case EntryKind::kUnusedVlans:
            return "unused-vlans";
        case EntryKind::kSteering:
            return "steering";
    }
    return "?";
}

// An entry's identity across updates: what it is about, not its flows.
std::string key_of(const Entry& e) {
    return fmt::format("{}|{}|{}|{}|{}|{}", kind_name(e.kind), e.port, e.nic,
                       static_cast<int>(e.direction), e.rule, e.index);
}

// How a log line or a note names an entry.
std::string describe(const Entry& e) {
    switch (e.kind) {
        case EntryKind::kRule:
            return fmt::format("rule {} of {} {}", e.rule, e.nic, config::to_string(e.direction));
        case EntryKind::kUnusedVlans:
            return "the unused VLANs of " + e.port;
        case EntryKind::kSteering:
            return "the steering of " + e.nic;
    }
    return "?";
}

// Whether an entry's flows drop (firewall rules, unused VLANs), rather than steer.
bool drops(const Entry& e) {
    return std::all_of(e.flows.begin(), e.flows.end(),
                       [](const FlowSpec& f) { return f.action == FlowAction::kDrop; });
}

}  // namespace

std::string FlowTable::no_rte_flow(const Port& p) {
    // The backend's message starts with the driver's name already.
    std::string msg = p.note;
    if (msg.starts_with(p.driver + ": ")) msg.erase(0, p.driver.size() + 2);
    return "the PMD (" + p.driver + ") has no rte_flow: " + msg;
}

struct FlowTable::Work {
    struct Old {
        std::string port;
        std::string key;  // the owning entry's
        Installed flow;
        bool taken = false;  // kept by an entry of the new plan
    };
    std::vector<EntryState> next;
    std::vector<Old> old;
    std::set<std::string> keys;  // the new plan's entries
    std::map<std::string, PortTally> tally;
    std::set<std::string> swapping;     // ports whose NIC couldn't hold the old and new flows
    std::vector<std::size_t> deferred;  // entries of `next` created after publish
    std::map<std::string, std::uint64_t> retired;  // by entry key: counts of flows destroyed
    std::vector<std::string> notes;
    std::map<std::string, std::vector<FlowSpec>> refused_alone;  // becomes the FlowTable's
    bool after_publish = false;
};

FlowTable::FlowTable(std::unique_ptr<FlowBackend> backend) : backend_(std::move(backend)) {}

FlowTable::~FlowTable() = default;

FlowTable::Port* FlowTable::port(const std::string& name) {
    for (auto& p : ports_) {
        if (p.name == name) return &p;
    }
    return nullptr;
}

const FlowTable::Port* FlowTable::port(const std::string& name) const {
    return const_cast<FlowTable*>(this)->port(name);
}

double FlowTable::timed(const std::function<void()>& fn) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void FlowTable::open_port(const std::string& name, std::uint16_t dpdk_port,
                          const std::string& driver, bool enabled) {
    std::erase_if(ports_, [&](const Port& p) { return p.name == name; });
    Port p;
    p.name = name;
    p.dpdk_port = dpdk_port;
    p.driver = driver;
    p.enabled = enabled;
    ports_.push_back(std::move(p));
    auto r = backend_->flush(dpdk_port);
    if (!r && r.error().sys_errno() == ENOSYS) {
        // The driver has no rte_flow at all: its entries run in software.
        Port& q = ports_.back();
        q.unsupported = true;
        q.note = r.error().message();
        spdlog::info("offload: {}: {}", name, no_rte_flow(q));
    } else if (!r) {
        spdlog::warn("offload: {}: flush: {}", name, r.error().message());
    }
}

void FlowTable::set_enabled(const std::string& name, bool enabled) {
    if (Port* p = port(name); p != nullptr) p->enabled = enabled;
}

void FlowTable::close_port(const std::string& name) {
    for (auto& e : entries_) {
        if (!e.in_nic) continue;
        bool touches = e.entry.port == name;
        for (const auto& f : e.entry.flows) {
            touches = touches || f.from_port == name || f.to_port == name;
        }
        if (!touches) continue;
        for (auto& f : e.flows) {
            if (auto r = backend_->destroy(f.handle); !r) {
                spdlog::warn("offload: {}: destroy a flow of {}: {}", e.entry.port,
                             describe(e.entry), r.error().message());
            }
        }
        e.flows.clear();
        e.in_nic = false;
        e.why_not = "its port " + name + " closed";
    }
    if (Port* p = port(name); p != nullptr) {
        if (auto r = backend_->flush(p->dpdk_port); !r && r.error().sys_errno() != ENOSYS) {
            spdlog::warn("offload: {}: flush: {}", name, r.error().message());
        }
        std::erase_if(ports_, [&](const Port& x) { return x.name == name; });
    }
}

std::optional<std::uint16_t> FlowTable::dpdk_port(const std::string& name) const {
    const Port* p = port(name);
    if (p == nullptr) return std::nullopt;
    return p->dpdk_port;
}

Result<bool> FlowTable::check(Port& p, const FlowSpec& flow) {
    FlowSpec s = flow;
    if (p.no_count) s.count = false;
    auto r = backend_->validate(p.dpdk_port, s);
    if (r) {
        p.checked = true;
        return s.count;
    }
    Error err = r.error();
    if (err.sys_errno() != ENOSYS && s.count) {
        // Some PMDs match but count nothing: the flow goes without COUNT, the rule without
        // nic_packets.
        s.count = false;
        if (backend_->validate(p.dpdk_port, s)) {
            p.checked = true;
            p.no_count = true;
            p.note = "no COUNT action (" + err.message() + "): its flows count nothing";
            spdlog::info("offload: {}: {}", p.name, p.note);
            return false;
        }
    }
    const int code = err.sys_errno();
    if (code == ENOSYS || (!p.checked && code == ENOTSUP)) {
        p.unsupported = true;
        p.note = err.message();
        spdlog::warn("offload: {}: {}; its entries run in software", p.name, no_rte_flow(p));
    }
    return tl::unexpected(std::move(err));
}

void FlowTable::retire(Work& w, Installed& f, const std::string& port_name,
                       const std::string& key) {
    // Destroyed with its count read first: the entry's nic_packets carry on when it stays.
    std::uint64_t n = f.base;
    if (f.counted) {
        if (auto c = backend_->query_count(f.handle); c) n += *c;
    }
    if (w.keys.contains(key)) w.retired[key] += n;
    w.tally[port_name].ms += timed([&] {
        if (auto r = backend_->destroy(f.handle); !r) {
            spdlog::warn("offload: {}: destroy a flow: {}", port_name, r.error().message());
        }
    });
    ++w.tally[port_name].removed;
    f.handle = {};
}

void FlowTable::fail_entry(Work& w, EntryState& e, const std::string& why) {
    for (auto& f : e.flows) {
        if (f.handle.flow == 0) continue;
        if (f.fresh) {
            w.tally[e.entry.port].ms += timed([&] { (void)backend_->destroy(f.handle); });
            f.handle = {};
        } else if (w.after_publish) {
            retire(w, f, e.entry.port, key_of(e.entry));
        } else {
            // Kept from the old set: back to it, destroyed after publish with the unwanted.
            for (auto& o : w.old) {
                if (o.taken && o.flow.handle.flow == f.handle.flow) o.taken = false;
            }
        }
    }
    e.flows.clear();
    e.in_nic = false;
    e.why_not = why;
    w.tally[e.entry.port].refused += e.entry.flows.size();
    spdlog::warn("offload: {}: {} runs in software: {}", e.entry.port, describe(e.entry), why);
}

FlowTable::Outcome FlowTable::install(Work& w, EntryState& e, bool may_defer) {
    Port* p = port(e.entry.port);
    const std::string& name = e.entry.port;
    if (e.flows.empty()) {
        // Claim the identical flows of the old set, validate the others.
        for (const auto& spec : e.entry.flows) {
            Installed f;
            f.spec = spec;
            for (auto& o : w.old) {
                if (!o.taken && o.flow.handle.flow != 0 && o.port == name && o.flow.spec == spec) {
                    o.taken = true;
                    f = o.flow;
                    if (o.key != key_of(e.entry)) f.base = 0;
                    break;
                }
            }
            e.flows.push_back(f);
            if (f.handle.flow != 0) continue;
            auto ok = check(*p, spec);
            if (!ok) {
                fail_entry(w, e,
                           p->unsupported ? no_rte_flow(*p)
                                          : "the PMD refused its flow: " + ok.error().message());
                return Outcome::kRefused;
            }
            e.flows.back().counted = *ok;
        }
    }
    // A drop is created only once the rules it stands for are published: before, the software
    // running may still pass what it matches.
    if (may_defer && (w.swapping.contains(name) || drops(e.entry))) return Outcome::kDeferred;
    for (auto& f : e.flows) {
        if (f.handle.flow != 0) continue;
        FlowSpec s = f.spec;
        s.count = f.counted;
        Result<FlowHandle> h = fail(ErrorKind::kInternal, "not created");
        w.tally[name].ms += timed([&] { h = backend_->create(p->dpdk_port, s); });
        if (h) {
            f.handle = *h;
            f.fresh = true;
            continue;
        }
        const bool old_left = std::any_of(w.old.begin(), w.old.end(), [&](const Work::Old& o) {
            return o.port == name && !o.taken;
        });
        const std::string key = key_of(e.entry);
        const auto before = refused_alone_.find(key);
        if (!may_defer || !old_left ||
            (before != refused_alone_.end() && before->second == e.entry.flows)) {
            w.refused_alone[key] = e.entry.flows;
            fail_entry(w, e, "the PMD refused to create its flow: " + h.error().message());
            return Outcome::kRefused;
        }
        // The NIC may be full of flows this update removes: back to exactly the old set on this
        // port, publish (software enforces every rule), remove the old, then create the new.
        w.swapping.insert(name);
        w.notes.push_back(name + ": creating a flow of " + describe(e.entry) + " failed (" +
                          h.error().message() +
                          ") while the old flows were in place: the new rules ran in software "
                          "until the old flows were removed");
        for (auto& other : w.next) {
            if (other.entry.port != name) continue;
            for (auto& g : other.flows) {
                if (!g.fresh || g.handle.flow == 0) continue;
                w.tally[name].ms += timed([&] { (void)backend_->destroy(g.handle); });
                g.handle = {};
                g.fresh = false;
            }
            if (other.in_nic) {
                other.in_nic = false;
                w.deferred.push_back(static_cast<std::size_t>(&other - w.next.data()));
            }
        }
        return Outcome::kDeferred;
    }
    e.in_nic = true;
    return Outcome::kDone;
}

OffloadUpdate FlowTable::update(const Plan& plan, const PublishFn& publish) {
    Work w;
    for (auto& e : entries_) {
        for (auto& f : e.flows) w.old.push_back({e.entry.port, key_of(e.entry), f});
    }
    for (const auto& entry : plan.entries) {
        w.keys.insert(key_of(entry));
        EntryState e;
        e.entry = entry;
        e.why_not = entry.why_not;
        w.next.push_back(std::move(e));
    }
    for (auto& p : ports_) p.refused = 0;
    // Drops no entry of the new plan keeps go first: the software running still denies what
    // they match, and new steering may need their room in the NIC.
    for (auto& o : w.old) {
        if (o.flow.spec.action != FlowAction::kDrop) continue;
        const bool kept =
            std::any_of(plan.entries.begin(), plan.entries.end(), [&](const Entry& e) {
                return e.to_nic && e.port == o.port &&
                       std::find(e.flows.begin(), e.flows.end(), o.flow.spec) != e.flows.end();
            });
        if (!kept) retire(w, o.flow, o.port, o.key);
    }
    for (auto& e : w.next) {
        const Port* p = port(e.entry.port);
        if (!e.entry.to_nic) continue;
        if (p == nullptr) {
            e.why_not = "its port " + e.entry.port + " is not open";
        } else if (!p->enabled) {
            e.why_not = "offload is off on uplink " + p->name;
        } else if (p->unsupported) {
            e.why_not = no_rte_flow(*p);
        } else if (install(w, e, true) == Outcome::kDeferred) {
            w.deferred.push_back(static_cast<std::size_t>(&e - w.next.data()));
        }
    }

    // Drops the new rules don't keep go before they are published (the software running
    // still denies what they match); steering goes after, so that no moment has none.
    for (auto& o : w.old) {
        if (!o.taken && o.flow.handle.flow != 0 && o.flow.spec.action == FlowAction::kDrop) {
            retire(w, o.flow, o.port, o.key);
        }
    }
    OffloadUpdate u;
    u.generation = publish();
    w.after_publish = true;
    for (auto& o : w.old) {
        if (!o.taken && o.flow.handle.flow != 0) retire(w, o.flow, o.port, o.key);
    }
    std::sort(w.deferred.begin(), w.deferred.end());
    w.deferred.erase(std::unique(w.deferred.begin(), w.deferred.end()), w.deferred.end());
    for (std::size_t i : w.deferred) install(w, w.next[i], false);

    for (auto& e : w.next) {
        if (!e.in_nic) continue;
        auto& t = w.tally[e.entry.port];
        for (auto& f : e.flows) {
            ++(f.fresh ? t.added : t.kept);
            f.fresh = false;
        }
        if (auto r = w.retired.find(key_of(e.entry)); r != w.retired.end() && !e.flows.empty()) {
            e.flows.front().base += r->second;
        }
    }
    entries_ = std::move(w.next);
    refused_alone_ = std::move(w.refused_alone);
    for (const auto& [name, t] : w.tally) {
        u.added += t.added;
        u.removed += t.removed;
        u.kept += t.kept;
        u.refused += t.refused;
        u.ms += t.ms;
        if (Port* p = port(name); p != nullptr) p->refused = t.refused;
        spdlog::info("offload: {}: {} flows added, {} removed, {} kept, {} refused in {:.1f} ms",
                     name, t.added, t.removed, t.kept, t.refused, t.ms);
    }
    u.swap_in_software = !w.swapping.empty();
    for (const auto& n : w.notes) u.note += (u.note.empty() ? "" : "; ") + n;
    last_ = u;
    return u;
}

void FlowTable::teardown() {
    for (auto& e : entries_) {
        for (auto& f : e.flows) (void)backend_->destroy(f.handle);
        e.flows.clear();
        e.in_nic = false;
    }
    for (const auto& p : ports_) {
        if (auto r = backend_->flush(p.dpdk_port); !r && r.error().sys_errno() != ENOSYS) {
            spdlog::warn("offload: {}: flush: {}", p.name, r.error().message());
        }
    }
    entries_.clear();
}

std::optional<std::uint64_t> FlowTable::count(const EntryState& e) const {
    if (!e.in_nic) return std::nullopt;
    std::optional<std::uint64_t> n;
    for (const auto& f : e.flows) {
        if (!f.counted) continue;
        auto c = backend_->query_count(f.handle);
        if (!c) continue;
        n = n.value_or(0) + *c + f.base;
    }
    return n;
}

std::map<int, std::uint64_t> FlowTable::nic_packets(const std::string& nic,
                                                    config::Direction dir) const {
    std::map<int, std::uint64_t> out;
    for (const auto& e : entries_) {
        if (e.entry.kind != EntryKind::kRule || e.entry.nic != nic || e.entry.direction != dir) {
            continue;
        }
        if (auto n = count(e)) out[e.entry.index] = *n;
    }
    return out;
}

OffloadReply FlowTable::report() const {
    OffloadReply r;
    for (const auto& p : ports_) {
        OffloadPort o;
        o.name = p.name;
        o.driver = p.driver;
        o.refused = p.refused;
        o.note = p.note;
        o.state = !p.enabled ? "off" : p.unsupported ? "unsupported" : "on";
        for (const auto& e : entries_) {
            if (e.entry.port == p.name) o.flows += e.flows.size();
        }
        r.ports.push_back(std::move(o));
    }
    for (const auto& e : entries_) {
        OffloadEntry o;
        o.kind = kind_name(e.entry.kind);
        o.port = e.entry.port;
        if (e.entry.kind != EntryKind::kUnusedVlans) o.nic = e.entry.nic;
        if (e.entry.kind == EntryKind::kRule) {
            o.direction = config::to_string(e.entry.direction);
            o.rule = e.entry.rule;
            o.action = config::to_string(e.entry.action);
        }
        o.where = e.in_nic ? "nic" : "software";
        if (!e.in_nic) o.why_not = e.why_not;
        o.flows = e.in_nic ? e.flows.size() : 0;
        o.nic_packets = count(e);
        r.entries.push_back(std::move(o));
    }
    r.last_update = last_;
    return r;
}

}  // namespace vfgate::dataplane::offload
