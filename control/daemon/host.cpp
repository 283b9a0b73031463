#include "host.hpp"

#include <filesystem>
#include <set>

#include <vfgate/common/file.hpp>
#include <vfgate/common/jsonl.hpp>
#include <vfgate/vfmgr/reconcile.hpp>
#include <vfgate/vm-launcher/host.hpp>
#include <vfgate/vm-launcher/supervise.hpp>

namespace vfgate::control {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

vfmgr::ReconcileOptions vf_options(const HostContext& ctx) {
    vfmgr::ReconcileOptions o;
    o.paths.sys = ctx.tools.sys;
    o.paths.proc = ctx.tools.proc;
    o.state_file = ctx.paths.vf_state;
    o.force = ctx.force;
    return o;
}

vm::HostOptions vm_options(const HostContext& ctx) {
    vm::HostOptions o;
    o.sys = ctx.tools.sys;
    o.proc = ctx.tools.proc;
    o.qemu = ctx.tools.qemu;
    o.vf_state_file = ctx.paths.vf_state;
    o.kvm_memo = ctx.paths.kvm_memo;
    return o;
}

std::vector<std::string> running_argv(const std::string& dir) {
    auto text = read_regular_file(dir + "/plan.json", 16u << 20);
    if (!text) return {};
    auto j = jsonl::parse(*text);
    if (!j || !j->contains("argv") || !(*j)["argv"].is_array()) return {};
    std::vector<std::string> out;
    for (const auto& a : (*j)["argv"]) {
        if (a.is_string()) out.push_back(a.get<std::string>());
    }
    return out;
}

bool alive(const std::string& state) {
    return state == "running" || state == "paused" || state == "starting" || state == "restarting";
}

// The dataplane's ports are the config's: uplinks and software-switched guest NICs.
Result<void> verify_ports(const config::Config& cfg, const Paths& paths) {
    std::set<std::string> want;
    for (const auto& u : cfg.dataplane->uplinks) want.insert(u.name);
    for (const auto& g : cfg.guests) {
        for (const auto& n : g.nics) {
            if (config::is_software_switched(cfg, n)) want.insert(g.name + "/" + n.name);
        }
    }
    auto ports = jsonl::call(paths.dataplane_socket, "ports", jsonl::Json::object(), 5s);
    if (!ports) return tl::unexpected(std::move(ports.error()).context("verify"));
    std::set<std::string> have;
    for (const auto& p : *ports) have.insert(p.value("name", ""));
    if (have == want) return {};
    std::string diff;
    for (const auto& w : want) {
        if (!have.contains(w)) diff += " missing " + w + ";";
    }
    for (const auto& h : have) {
        if (!want.contains(h)) diff += " unexpected " + h + ";";
    }
    return fail(ErrorKind::kConflict,
                "verify: the dataplane's ports differ from the config:" + diff);
}

Result<void> start_guest(const Desired& d, const std::string& name, HostContext& ctx,
                         const Say& say) {
    auto facts = vm::observe_host(d.config, name, vm_options(ctx));
    if (!facts) return tl::unexpected(facts.error());
    auto plan = vm::plan_guest(d.config, name, *facts, ctx.paths.guest_root);
    if (!plan) return tl::unexpected(plan.error());
    for (const auto& w : plan->warnings) say(w);  // each names the guest
    vm::StartOptions so;
    so.supervisor_exe = ctx.tools.vm;
    so.timeout = 180s;
    auto st = vm::start(*plan, so);
    if (!st) return tl::unexpected(st.error());
    auto check = vm::status(ctx.paths.guest_root, name);
    if (!check) return tl::unexpected(std::move(check.error()).context("verify"));
    if (!alive(check->state)) {
        return fail(ErrorKind::kConflict,
                    "verify: guest " + name + " is " + check->state +
                        (check->message.empty() ? "" : ": " + check->message));
    }
    say("guest " + name + " runs (QEMU pid " + std::to_string(check->pid) + ", " + check->accel +
        ")");
    return {};
}

Result<void> adopt_guest(const std::string& name, HostContext& ctx, const Say& say) {
    vm::StartOptions so;
    so.supervisor_exe = ctx.tools.vm;
    so.timeout = 30s;  // a QEMU that answers QMP is adopted in well under a second
    auto st = vm::adopt(ctx.paths.guest_root, name, so);
    if (!st) return tl::unexpected(st.error());
    say("guest " + name + ": supervisor pid " + std::to_string(st->supervisor_pid) +
        " adopted QEMU pid " + std::to_string(st->pid));
    return {};
}

Result<void> stop_guest(const Desired& d, const std::string& name, HostContext& ctx,
                        const Say& say) {
    auto st = vm::stop(ctx.paths.guest_root, name, 30s, say);
    if (!st) return tl::unexpected(st.error());
    auto check = vm::status(ctx.paths.guest_root, name);
    if (check && alive(check->state)) {
        return fail(ErrorKind::kConflict, "verify: guest " + name + " is still " + check->state);
    }
    const bool declared = std::any_of(d.config.guests.begin(), d.config.guests.end(),
                                      [&](const config::Guest& g) { return g.name == name; });
    if (!declared) {
        std::error_code ec;
        fs::remove_all(vm::run_paths(ctx.paths.guest_root, name).dir, ec);
    }
    return {};
}

}  // namespace

Result<Observed> observe(const config::Config& desired, HostContext& ctx, const Say& say) {
    Observed o;
    auto vfs = vfmgr::observe(vf_options(ctx), say);
    if (!vfs) return tl::unexpected(std::move(vfs.error()).context("observe VFs"));
    o.vfs = std::move(*vfs);
    o.dataplane = ctx.dataplane->observe();
    for (const auto& name : vm::list(ctx.paths.guest_root)) {
        auto st = vm::status(ctx.paths.guest_root, name);
        if (!st) continue;
        o.guests[name] = GuestSeen{st->state, st->pid,
                                   running_argv(vm::run_paths(ctx.paths.guest_root, name).dir),
                                   st->pid == 0 || st->supervisor_pid != 0};
    }
    for (const auto& g : desired.guests) {
        if (!g.boot) continue;
        if (auto f = vm::observe_host(desired, g.name, vm_options(ctx)); f) {
            o.facts[g.name] = std::move(*f);
        } else {
            o.fact_errors[g.name] = f.error().to_string();
        }
    }
    return o;
}

Result<void> run_step(const Step& step, const Desired& desired, HostContext& ctx, const Say& say) {
    DataplaneProc& dp = *ctx.dataplane;
    switch (step.kind) {
        case StepKind::kGuestStop:
            return stop_guest(desired, step.target, ctx, say);
        case StepKind::kGuestStart:
            return start_guest(desired, step.target, ctx, say);
        case StepKind::kGuestAdopt:
            return adopt_guest(step.target, ctx, say);
        case StepKind::kVfs: {
            auto r = vfmgr::reconcile(desired.config, vf_options(ctx), say);
            if (!r) return tl::unexpected(r.error());
            return {};
        }
        case StepKind::kDataplaneStop:
            return dp.stop(say);
        case StepKind::kDataplaneRestart:
            if (auto r = dp.stop(say); !r) return r;
            [[fallthrough]];
        case StepKind::kDataplaneStart: {
            auto pid = dp.start(desired.yaml, say);
            if (!pid) return tl::unexpected(pid.error());
            return verify_ports(desired.config, ctx.paths);
        }
        case StepKind::kDataplaneReload:
            if (auto r = dp.reload(desired.yaml, say); !r) return r;
            return verify_ports(desired.config, ctx.paths);
    }
    return fail(ErrorKind::kInternal, "unknown step");
}

}  // namespace vfgate::control
