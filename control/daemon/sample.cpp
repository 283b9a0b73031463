// vfgated's metrics (docs/control.md#metrics): what one scrape of /metrics reports, gathered
// when Prometheus asks, on the exposer's thread: the dataplane's counters from its control
// socket, the guests from vm-launcher, the VFs from vf-manager, the applies from the daemon.

#include <spdlog/spdlog.h>

#include <vfgate/common/jsonl.hpp>
#include <vfgate/vfmgr/reconcile.hpp>
#include <vfgate/vm-launcher/supervise.hpp>

#include "daemon.hpp"

namespace vfgate::control {
using namespace std::chrono_literals;

Result<void> Daemon::serve_metrics() {
    std::string address = opts_.metrics;
    bool given = !address.empty();
    if (!given) {
        std::lock_guard lock(mu_);
        address = current_.config.metrics_listen;
        given = !address.empty();
    }
    if (address.empty()) address = config::kDefaultMetricsListen;
    if (address == "none") return {};
    metrics_ = std::make_unique<Metrics>([this] { return sample(); });
    if (auto r = metrics_->serve(address); !r) {
        metrics_.reset();
        if (given) return r;
        spdlog::warn("no /metrics: {}", r.error().to_string());
        return {};
    }
    spdlog::info("metrics on http://{}/metrics", address);
    return {};
}

MetricsSample Daemon::sample() {
    MetricsSample s;
    {
        std::lock_guard lock(mu_);
        s.applies = applies_;
        s.apply_failures = apply_failures_;
        s.dataplane_restarts = dataplane_restarts_;
        s.last_apply_timestamp_seconds = static_cast<double>(last_apply_at_);
    }
    if (!paths_.dataplane_socket.empty()) {
        const auto& sock = paths_.dataplane_socket;
        if (auto st = jsonl::call(sock, "stats", jsonl::Json::object(), 5s)) {
            s.dataplane_up = true;
            s.stats = std::move(*st);
            if (auto r = jsonl::call(sock, "firewall.rules", jsonl::Json::object(), 5s)) {
                s.rules = std::move(*r);
            }
            if (auto c = jsonl::call(sock, "firewall.conntrack", jsonl::Json::object(), 5s)) {
                s.conntrack = std::move(*c);
            }
            // A dataplane older than the method says "unknown method": no offload families.
            if (auto o = jsonl::call(sock, "offload", jsonl::Json::object(), 5s)) {
                s.offload = std::move(*o);
            }
        }
    }
    for (const auto& name : vm::list(paths_.guest_root)) {
        if (auto st = vm::status(paths_.guest_root, name)) {
            s.guests.push_back({name, st->state, st->restarts, st->pid});
        }
    }
    vfmgr::ReconcileOptions o;
    o.paths.sys = tools_.sys;
    o.paths.proc = tools_.proc;
    o.state_file = paths_.vf_state;
    if (auto obs = vfmgr::observe(o, [](const std::string&) {})) {
        for (const auto& pf : obs->pfs) {
            for (const auto& v : pf.vfs) {
                VfSample vs{pf.pci, v.index, "", v.driver, false};
                for (const auto& a : obs->assignments) {
                    if (a.pf_pci == pf.pci && a.vf == v.index) {
                        vs.guest = a.guest + "/" + a.nic;
                        vs.assigned = true;
                    }
                }
                s.vfs.push_back(vs);
            }
        }
    }
    return s;
}

}  // namespace vfgate::control
