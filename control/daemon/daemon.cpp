// vfgated's jobs: applies and dataplane recoveries on the apply thread (daemon.hpp).

#include "daemon.hpp"

#include <algorithm>
#include <array>
#include <csignal>
#include <ctime>

#include <spdlog/spdlog.h>

#include <vfgate/common/file.hpp>
#include <vfgate/config/load.hpp>
#include <vfgate/vm-launcher/supervise.hpp>

namespace vfgate::control {
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kMaxConfigBytes = 64u << 20;
constexpr std::size_t kRecordsKept = 16;
// The dataplane's and vfgated's own logs in the state directory (a tmpfs, /run): each kept under
// this, with one older copy (.1).
constexpr std::int64_t kLogMax = 8 << 20;

std::int64_t now_s() { return static_cast<std::int64_t>(::time(nullptr)); }

}  // namespace

Daemon::Daemon(DaemonOptions opts, Desired initial, Paths paths, Tools tools)
    : opts_(std::move(opts)),
      paths_(std::move(paths)),
      tools_(std::move(tools)),
      dataplane_(paths_, tools_),
      started_at_(now_s()),
      current_(std::move(initial)) {}

Daemon::~Daemon() {
    shutdown();
    metrics_.reset();
}

Result<Desired> Daemon::parse(const std::string& yaml, const std::string& source) const {
    auto loaded = config::load_string(yaml, source);
    if (!loaded.ok()) {
        std::string all;
        for (const auto& d : loaded.errors) all += (all.empty() ? "" : "\n") + d.to_string();
        return fail(ErrorKind::kInvalidArgument,
                    std::to_string(loaded.errors.size()) + " error(s), nothing changed:\n" + all);
    }
    const std::string dir = config::run_dir(*loaded.config);
    if (dir != paths_.run_dir) {
        return fail(ErrorKind::kInvalidArgument,
                    source + ": its run directory is " + dir + " (dataplane.control_socket), " +
                        "this vfgated's is " + paths_.run_dir +
                        "; nothing changed (a new run directory needs vfgated restarted on it)");
    }
    return Desired{*loaded.config, yaml, source};
}

Result<Desired> Daemon::read_config_file() const {
    auto text = read_regular_file(opts_.config_path, kMaxConfigBytes);
    if (!text) return tl::unexpected(std::move(text.error()).context(opts_.config_path));
    return parse(*text, opts_.config_path);
}

Result<std::uint64_t> Daemon::queue_apply(Desired d) {
    std::lock_guard lock(mu_);
    for (const Job& j : queue_) {
        if (j.kind == Job::Kind::kApply) {
            return fail(ErrorKind::kConflict, "apply " + std::to_string(j.id) +
                                                  " is already waiting; try again after it");
        }
    }
    const std::uint64_t id = add_record(d.source).id;
    queue_.push_back(Job{Job::Kind::kApply, id, std::move(d), {}});
    wake_.notify_all();
    return id;
}

ApplyRecord& Daemon::add_record(const std::string& source) {
    ApplyRecord r;
    r.id = next_id_++;
    r.source = source;
    records_.push_back(r);
    while (records_.size() > kRecordsKept) records_.pop_front();
    return records_.back();
}

ApplyRecord* Daemon::find_record(std::uint64_t id) {
    for (auto& r : records_) {
        if (r.id == id) return &r;
    }
    return nullptr;
}

std::optional<ApplyRecord> Daemon::record(std::uint64_t id) const {
    std::lock_guard lock(mu_);
    for (const auto& r : records_) {
        if (r.id == id) return r;
    }
    return std::nullopt;
}

std::optional<ApplyRecord> Daemon::last_finished() const {
    std::lock_guard lock(mu_);
    for (auto it = records_.rbegin(); it != records_.rend(); ++it) {
        if (it->finished == 0) continue;
        ApplyRecord r = *it;
        r.lines.clear();
        return r;
    }
    return std::nullopt;
}

void Daemon::say(std::uint64_t id, const std::string& line) {
    spdlog::info("apply {}: {}", id, line);
    std::lock_guard lock(mu_);
    if (ApplyRecord* r = find_record(id)) r->lines.push_back(line);
}

void Daemon::start() {
    Desired first;
    {
        std::lock_guard lock(mu_);
        first = current_;
        first.source = "start-up: " + current_.source;
    }
    static_cast<void>(queue_apply(std::move(first)));
    thread_ = std::thread([this] { worker(); });
}

bool Daemon::first_apply_done() const {
    std::lock_guard lock(mu_);
    return first_done_;
}

void Daemon::worker() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mu_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            job = std::move(queue_.front());
            queue_.pop_front();
            busy_ = true;
        }
        if (job.kind == Job::Kind::kReread) {
            if (auto d = read_config_file()) {
                d->source = "SIGHUP: " + opts_.config_path;
                job.desired = std::move(*d);
                run_apply(job);
            } else {
                spdlog::error("SIGHUP: {}", d.error().to_string());
                std::lock_guard lock(mu_);
                if (ApplyRecord* r = find_record(job.id)) {
                    r->started = r->finished = now_s();
                    r->error = d.error().to_string();
                    r->failed_step = "validate";
                }
                ++applies_;
                ++apply_failures_;
            }
        } else if (job.kind == Job::Kind::kApply) {
            run_apply(job);
        } else if (job.kind == Job::Kind::kOrphans) {
            run_orphans(job.orphans);
        } else {
            run_recover();
        }
        std::lock_guard lock(mu_);
        busy_ = false;
    }
}

void Daemon::run_apply(const Job& job) {
    const Desired& d = *job.desired;
    const std::uint64_t id = job.id;
    auto tell = [&](const std::string& line) { say(id, line); };
    auto finish = [&](bool ok, const std::string& step, const std::string& error) {
        std::lock_guard lock(mu_);
        if (ApplyRecord* r = find_record(id)) {
            r->finished = now_s();
            r->ok = ok;
            r->failed_step = step;
            r->error = error;
        }
        ++applies_;
        last_apply_at_ = now_s();
        if (!ok) ++apply_failures_;
        if (ok) {
            current_ = d;
            dataplane_yaml_.reset();
        }
        first_done_ = true;
        if (ok || step.empty()) return;
        spdlog::error("apply {} failed at \"{}\": {}", id, step, error);
    };
    {
        std::lock_guard lock(mu_);
        if (ApplyRecord* r = find_record(id)) r->started = now_s();
    }
    spdlog::info("apply {}: {}", id, d.source);
    HostContext ctx{paths_, tools_, &dataplane_, opts_.force};
    auto observed = observe(d.config, ctx, tell);
    if (!observed) {
        finish(false, "observe", observed.error().to_string());
        return;
    }
    auto plan = reconcile(d.config, *observed, {paths_.guest_root, opts_.force});
    if (!plan) {
        finish(false, "plan", plan.error().to_string());
        return;
    }
    {
        std::lock_guard lock(mu_);
        if (ApplyRecord* r = find_record(id)) r->steps = plan->steps.size();
    }
    if (plan->empty()) tell("nothing to do: the host is as declared");
    for (std::size_t i = 0; i < plan->steps.size(); ++i) {
        const Step& s = plan->steps[i];
        const std::string head =
            std::to_string(i + 1) + "/" + std::to_string(plan->steps.size()) + " " + describe(s);
        tell(head);
        bool stop = false;
        bool dataplane_down = false;
        {
            std::lock_guard lock(mu_);
            stop = stopping_;
            dataplane_down = dataplane_down_ && d.config.dataplane.has_value();
        }
        // A dataplane that died during the apply is brought back before the next step, not
        // after the whole apply (a guest's stop can take its timeout).
        if (dataplane_down && s.kind != StepKind::kDataplaneStart &&
            s.kind != StepKind::kDataplaneRestart && s.kind != StepKind::kDataplaneStop) {
            run_recover();
        }
        if (stop) {
            finish(false, describe(s), "vfgated is stopping; the rest was not applied");
            return;
        }
        if (auto r = run_step(s, d, ctx, tell); !r) {
            tell("failed: " + r.error().to_string());
            finish(false, describe(s), r.error().to_string());
            return;
        }
        std::lock_guard lock(mu_);
        if (ApplyRecord* r = find_record(id)) r->steps_done = i + 1;
        if (s.kind == StepKind::kDataplaneStart || s.kind == StepKind::kDataplaneReload ||
            s.kind == StepKind::kDataplaneRestart || s.kind == StepKind::kDataplaneStop) {
            dataplane_yaml_ = d.config.dataplane ? d.yaml : std::string();
        }
    }
    tell("applied: " + std::to_string(plan->steps.size()) + " step(s)");
    finish(true, "", "");
}

void Daemon::run_recover() {
    std::string yaml;
    {
        std::lock_guard lock(mu_);
        yaml = dataplane_yaml_.value_or(current_.config.dataplane ? current_.yaml : "");
    }
    if (yaml.empty()) {  // the config no longer has one: nothing to bring back
        std::lock_guard lock(mu_);
        dataplane_down_ = false;
        return;
    }
    auto tell = [](const std::string& line) { spdlog::info("recover: {}", line); };
    auto pid = dataplane_.start(yaml, tell);
    std::lock_guard lock(mu_);
    if (pid) {
        ++dataplane_restarts_;
        dataplane_down_ = false;
        recover_failures_ = 0;
        spdlog::info("the dataplane runs again (pid {}) with the config it last ran", *pid);
        return;
    }
    ++recover_failures_;
    const auto backoff = std::chrono::seconds(1 << std::min(recover_failures_, 5));
    recover_at_ = std::chrono::steady_clock::now() + backoff;
    spdlog::error("restarting the dataplane failed ({} in a row), next try in {} s: {}",
                  recover_failures_, backoff.count(), pid.error().to_string());
}

std::vector<vm::Unsupervised> Daemon::orphaned_guests() {
    std::vector<vm::Unsupervised> out;
    const auto now = std::chrono::steady_clock::now();
    auto found = vm::unsupervised(paths_.guest_root);
    // A guest that got a supervisor some other way starts afresh if it loses it again.
    std::erase_if(adopt_retry_at_, [&](const auto& r) {
        return std::none_of(found.begin(), found.end(),
                            [&](const vm::Unsupervised& o) { return o.guest == r.first; });
    });
    std::erase_if(adopt_failures_,
                  [&](const auto& f) { return !adopt_retry_at_.contains(f.first); });
    for (auto& o : found) {
        const bool declared =
            std::any_of(current_.config.guests.begin(), current_.config.guests.end(),
                        [&](const config::Guest& g) { return g.name == o.guest && g.boot; });
        const auto retry = adopt_retry_at_.find(o.guest);
        if (declared && (retry == adopt_retry_at_.end() || now >= retry->second)) {
            out.push_back(std::move(o));
        }
    }
    return out;
}

void Daemon::run_orphans(const std::vector<vm::Unsupervised>& orphans) {
    HostContext ctx{paths_, tools_, &dataplane_, opts_.force};
    for (const auto& [name, qemu_runs] : orphans) {
        {
            std::lock_guard lock(mu_);
            if (stopping_ || !queue_.empty()) return;  // the rest at the next tick, after them
        }
        if (qemu_runs) {
            spdlog::warn("guest {}: its QEMU runs without a supervisor; starting one to adopt it",
                         name);
        } else {
            spdlog::warn(
                "guest {}: its QEMU and its supervisor are gone while it should run; "
                "starting it again, as its restart policy would",
                name);
        }
        auto say = [&](const std::string& line) { spdlog::info("guest {}: {}", name, line); };
        const Step step{qemu_runs ? StepKind::kGuestAdopt : StepKind::kGuestStart, name, "", {}};
        auto r = run_step(step, current_, ctx, say);
        std::lock_guard lock(mu_);
        if (r) {
            adopt_retry_at_.erase(name);
            adopt_failures_.erase(name);
            continue;
        }
        const ErrorKind kind = r.error().kind();
        if (qemu_runs && (kind == ErrorKind::kNotFound || kind == ErrorKind::kConflict)) {
            // QEMU ended, or a supervisor came, since the tick looked: nothing to adopt.
            spdlog::info("guest {}: not adopted: {}", name, r.error().to_string());
            continue;
        }
        // A QEMU that doesn't answer, or one that can't start: tried again after 1, 2, 4 ...
        // up to 15 minutes.
        const int n = adopt_failures_[name]++;
        const auto delay = std::chrono::minutes(std::min(1 << std::min(n, 4), 15));
        adopt_retry_at_[name] = std::chrono::steady_clock::now() + delay;
        spdlog::error("guest {}: {} failed, next try in {} min: {}", name,
                      qemu_runs ? "adoption" : "starting it again", delay.count(),
                      r.error().to_string());
    }
}

void Daemon::tick() {
    // Supervisors of guests that stopped or were given up on: not left as zombies.
    if (const std::size_t n = vm::reap_supervisors(); n != 0) {
        spdlog::info("{} guest supervisor(s) exited", n);
    }
    if (auto how = dataplane_.exited()) {
        spdlog::error("the dataplane died ({}); restarting it with the current config", *how);
        std::lock_guard lock(mu_);
        last_dataplane_exit_ = *how;
        dataplane_down_ = true;
        recover_at_ = std::chrono::steady_clock::now();
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= rotate_at_) {
        rotate_at_ = now + 1s;
        const std::array<std::string, 2> logs{paths_.dataplane_log,
                                              paths_.state_dir + "/vfgated.log"};
        for (std::size_t i = 0; i < logs.size(); ++i) {
            auto r = rotate_log(logs[i], kLogMax);
            if (!r && !rotate_failing_[i]) spdlog::error("rotate: {}", r.error().to_string());
            if (r && *r) spdlog::info("rotated {}: the older part is {}.1", logs[i], logs[i]);
            rotate_failing_[i] = !r;  // said once, until it works again
        }
    }
    std::lock_guard lock(mu_);
    if (busy_ || !queue_.empty() || stopping_) return;
    if (dataplane_down_) {
        if (now < recover_at_) return;
        queue_.push_back(Job{Job::Kind::kRecover, 0, std::nullopt, {}});
        wake_.notify_all();
        return;
    }
    // A guest's supervisor that died (killed, crashed) leaves its QEMU running with no restart
    // policy: a new supervisor adopts it. Looked for only between jobs (an apply's own starts
    // and stops pass through this state).
    if (!first_done_ || now < adopt_check_at_) return;
    adopt_check_at_ = now + 1s;
    if (auto orphans = orphaned_guests(); !orphans.empty()) {
        queue_.push_back(Job{Job::Kind::kOrphans, 0, std::nullopt, std::move(orphans)});
        wake_.notify_all();
    }
}

bool Daemon::on_signal(int signo) {
    if (signo == SIGHUP) {
        // The file is read when the apply starts: SIGHUPs while it waits last in the queue are
        // one apply, of the file as it is then, never dropped (behind a client's apply, a new
        // one: the file comes last, as the SIGHUP did).
        std::lock_guard lock(mu_);
        if (!queue_.empty() && queue_.back().kind == Job::Kind::kReread) {
            spdlog::info("SIGHUP: apply {} waits to re-read {}; it reads it as it is then",
                         queue_.back().id, opts_.config_path);
            return false;
        }
        const std::uint64_t id = add_record("SIGHUP: " + opts_.config_path).id;
        spdlog::info("SIGHUP: apply {} re-reads {}{}", id, opts_.config_path,
                     busy_ ? " after the running job" : "");
        queue_.push_back(Job{Job::Kind::kReread, id, std::nullopt, {}});
        wake_.notify_all();
        return false;
    }
    spdlog::info("signal {}: stopping vfgated; the dataplane and guests keep running", signo);
    // No job starts from now on (the apply thread ends after the running one, which stops
    // between steps), and the tick queues none.
    std::lock_guard lock(mu_);
    stopping_ = true;
    wake_.notify_all();
    return true;
}

void Daemon::shutdown() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
        wake_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
}

}  // namespace vfgate::control
