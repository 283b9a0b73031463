// vfgated's control socket methods (docs/control.md): plan, apply, apply.progress, status,
// guests, vfs, logs, dataplane. The main thread, or the server's workers (register_methods).

#include <filesystem>

#include <vfgate/common/file.hpp>
#include <vfgate/common/jsonl.hpp>
#include <vfgate/common/text.hpp>
#include <vfgate/vfmgr/reconcile.hpp>
#include <vfgate/vm-launcher/supervise.hpp>

#include "daemon.hpp"

namespace vfgate::control {
using jsonl::Json;
using namespace std::chrono_literals;

namespace {

Json record_json(const ApplyRecord& r) {
    return {{"id", r.id},
            {"source", r.source},
            {"started", r.started},
            {"finished", r.finished},
            {"done", r.finished != 0},
            {"ok", r.ok},
            {"error", r.error},
            {"failed_step", r.failed_step},
            {"steps", r.steps},
            {"steps_done", r.steps_done}};
}

Json guest_json(const vm::GuestStatus& s) {
    return {{"guest", s.guest},       {"state", s.state},
            {"pid", s.pid},           {"supervisor_pid", s.supervisor_pid},
            {"uptime_s", s.uptime_s}, {"restarts", s.restarts},
            {"accel", s.accel},       {"restart_policy", s.restart_policy},
            {"message", s.message},   {"last_exit", s.last_exit}};
}

}  // namespace

// The methods that ask other processes (QMP, the dataplane, netlink) run on the server's
// workers: a hung QEMU or a stopping dataplane holds up only the client that asked, never the
// main thread's signals and tick. They read the daemon's state under mu_ as the apply thread
// does.
void Daemon::register_methods(jsonl::Server& server) {
    using jsonl::Blocking;
    server.handle(
        "plan", [this](const Json& p) { return plan_method(p); }, Blocking::kYes);
    server.handle("apply",
                  [this](const Json& p, const jsonl::Peer& peer) { return apply_method(p, peer); });
    server.handle("apply.progress", [this](const Json& p) { return progress_method(p); });
    server.handle(
        "status", [this](const Json&) { return status_method(); }, Blocking::kYes);
    server.handle(
        "guests", [this](const Json&) { return guests_method(); }, Blocking::kYes);
    server.handle(
        "vfs", [this](const Json&) { return vfs_method(); }, Blocking::kYes);
    server.handle("logs", [this](const Json& p) { return logs_method(p); });
    server.handle(
        "dataplane", [this](const Json& p) { return dataplane_method(p); }, Blocking::kYes);
}

// The config a plan or apply request is about: its text, {"yaml": TEXT, "source": NAME}, which
// vfgatectl read with the caller's rights (so vfgated never opens a path a client names); or,
// without "yaml", the --config file.
Result<Desired> Daemon::requested(const Json& params) const {
    if (!params.contains("yaml")) return read_config_file();
    if (!params["yaml"].is_string()) {
        return fail(ErrorKind::kInvalidArgument,
                    "params.yaml: expected the config's text (vfgatectl -f FILE sends it)");
    }
    return parse(params["yaml"].get<std::string>(),
                 params.value("source", std::string("<request>")));
}

Result<Json> Daemon::plan_method(const Json& params) {
    Result<Desired> d = requested(params);
    if (!d) return tl::unexpected(d.error());
    HostContext ctx{paths_, tools_, &dataplane_, opts_.force};
    std::vector<std::string> warnings;
    auto observed = observe(d->config, ctx, [&](const std::string& w) { warnings.push_back(w); });
    if (!observed) return tl::unexpected(observed.error());
    auto plan = reconcile(d->config, *observed, {paths_.guest_root, opts_.force});
    if (!plan) return tl::unexpected(plan.error());
    Json out = to_json(*plan);
    out["text"] = describe(*plan);
    out["warnings"] = warnings;
    out["source"] = d->source;
    return out;
}

// An apply runs QEMU and DPDK as root on the config it is given (its disks, devices, vdevs):
// root's to ask. The group vfgate may plan, watch and read (docs/install.md).
Result<Json> Daemon::apply_method(const Json& params, const jsonl::Peer& peer) {
    if (peer.uid != 0) {
        return fail(ErrorKind::kInvalidArgument,
                    "apply: only root may apply (you are uid " + std::to_string(peer.uid) +
                        "): it runs guests and the dataplane as root on the config it is "
                        "given; the group vfgate may plan, watch and read");
    }
    Result<Desired> d = requested(params);
    if (!d) return tl::unexpected(d.error());
    auto id = queue_apply(std::move(*d));
    if (!id) return tl::unexpected(id.error());
    return Json{{"id", *id}};
}

Result<Json> Daemon::progress_method(const Json& params) const {
    const auto id = params.value("id", std::uint64_t{0});
    const auto from = params.value("from", std::size_t{0});
    auto r = record(id);
    if (!r) return fail(ErrorKind::kNotFound, "no apply " + std::to_string(id) + " on record");
    Json out = record_json(*r);
    Json lines = Json::array();
    for (std::size_t i = from; i < r->lines.size(); ++i) lines.push_back(r->lines[i]);
    out["lines"] = lines;
    out["next"] = r->lines.size();
    return out;
}

Result<Json> Daemon::status_method() {
    Desired cur;
    Json applies;
    Json dp{{"running", false}};
    {
        std::lock_guard lock(mu_);
        cur = current_;
        applies = {{"total", applies_},
                   {"failed", apply_failures_},
                   {"last", records_.empty() ? Json(nullptr) : record_json(records_.back())}};
        dp["restarts"] = dataplane_restarts_;
        dp["last_exit"] = last_dataplane_exit_;
        dp["recovering"] = dataplane_down_;
    }
    if (!paths_.dataplane_socket.empty()) {
        dp["socket"] = paths_.dataplane_socket;
        auto st = jsonl::call(paths_.dataplane_socket, "status", Json::object(), 2s);
        if (st) {
            dp["running"] = true;
            dp["pid"] = st->value("pid", 0);
            dp["generation"] = st->value("generation", 0);
            dp["uptime_s"] = st->value("uptime_s", 0);
            dp["ports"] = st->value("ports", 0);
        } else {
            dp["pid"] = dataplane_.pid();
            dp["error"] = st.error().to_string();
        }
    }
    auto guests = guests_method();
    auto vfs = vfs_method();
    return Json{
        {"vfgated", {{"pid", ::getpid()}, {"started", started_at_}, {"version", VFGATE_VERSION}}},
        {"config", opts_.config_path},
        {"applied", cur.source},
        {"host", cur.config.host_name},
        {"run_dir", paths_.run_dir},
        {"dataplane", dp},
        {"guests", guests ? *guests : Json::array()},
        {"vfs", vfs ? (*vfs)["pfs"] : Json::array()},
        {"applies", applies}};
}

Result<Json> Daemon::guests_method() {
    Desired cur;
    {
        std::lock_guard lock(mu_);
        cur = current_;
    }
    Json out = Json::array();
    std::set<std::string> seen;
    for (const auto& g : cur.config.guests) {
        if (!g.boot) continue;
        seen.insert(g.name);
        auto st = vm::status(paths_.guest_root, g.name);
        Json j = st ? guest_json(*st) : Json{{"guest", g.name}, {"state", "absent"}, {"pid", 0}};
        j["declared"] = true;
        out.push_back(j);
    }
    for (const auto& name : vm::list(paths_.guest_root)) {
        if (seen.contains(name)) continue;
        if (auto st = vm::status(paths_.guest_root, name)) {
            Json j = guest_json(*st);
            j["declared"] = false;
            out.push_back(j);
        }
    }
    return out;
}

Result<Json> Daemon::vfs_method() {
    vfmgr::ReconcileOptions o;
    o.paths.sys = tools_.sys;
    o.paths.proc = tools_.proc;
    o.state_file = paths_.vf_state;
    Json warnings = Json::array();
    auto obs = vfmgr::observe(o, [&](const std::string& w) { warnings.push_back(w); });
    if (!obs) return tl::unexpected(obs.error());
    Json pfs = Json::array();
    for (const auto& pf : obs->pfs) {
        Json vfs = Json::array();
        for (const auto& v : pf.vfs) {
            std::string guest;
            for (const auto& a : obs->assignments) {
                if (a.pf_pci == pf.pci && a.vf == v.index) guest = a.guest + "/" + a.nic;
            }
            Json j{{"index", v.index},
                   {"pci", v.pci},
                   {"driver", v.driver},
                   {"guest", guest},
                   {"holder", v.holder}};
            if (v.attrs) {
                j["mac"] = to_string(v.attrs->mac);
                j["vlan"] = v.attrs->vlan.vlan;
                j["spoofchk"] = v.attrs->spoofchk;
                j["trust"] = v.attrs->trust;
                j["max_tx_rate_mbps"] = v.attrs->max_tx_rate_mbps;
            }
            vfs.push_back(j);
        }
        pfs.push_back({{"pci", pf.pci},
                       {"netdev", pf.netdev},
                       {"driver", pf.driver},
                       {"num_vfs", pf.num_vfs},
                       {"total_vfs", pf.total_vfs},
                       {"vfs", vfs}});
    }
    return Json{{"pfs", pfs}, {"warnings", warnings}};
}

Result<Json> Daemon::logs_method(const Json& params) const {
    const std::string guest = params.value("guest", std::string());
    const auto max_lines = params.value("lines", std::size_t{100});
    if (guest.empty() || guest.find('/') != std::string::npos || guest == "." || guest == "..") {
        return fail(ErrorKind::kInvalidArgument, "params.guest: expected a guest's name");
    }
    const auto p = vm::run_paths(paths_.guest_root, guest);
    if (!std::filesystem::exists(p.dir)) {
        return fail(ErrorKind::kNotFound, "no guest " + guest + " on this host");
    }
    auto text = read_regular_file(p.console_log, 2u << 20);
    if (!text) return tl::unexpected(std::move(text.error()).context(p.console_log));
    Json out = last_lines(*text, max_lines);
    return Json{{"guest", guest}, {"file", p.console_log}, {"lines", out}};
}

Result<Json> Daemon::dataplane_method(const Json& params) const {
    const std::string method = params.value("method", std::string());
    if (method.empty()) return fail(ErrorKind::kInvalidArgument, "params.method: expected one");
    if (method == "config.reload") {
        return fail(ErrorKind::kInvalidArgument,
                    "config.reload: the daemon owns the dataplane's config; use "
                    "`vfgatectl apply -f FILE`");
    }
    if (paths_.dataplane_socket.empty()) {
        return fail(ErrorKind::kNotFound, "the config has no dataplane");
    }
    return jsonl::call(paths_.dataplane_socket, method, params.value("params", Json::object()),
                       30s);
}

}  // namespace vfgate::control
