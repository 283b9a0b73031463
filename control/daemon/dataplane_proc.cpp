#include "dataplane_proc.hpp"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include <spdlog/spdlog.h>

#include <vfgate/common/file.hpp>
#include <vfgate/common/jsonl.hpp>
#include <vfgate/common/text.hpp>
#include <vfgate/config/load.hpp>

namespace vfgate::control {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kMaxConfig = 64u << 20;

bool is_dataplane(int pid) {
    auto argv = proc::cmdline(pid);
    return !argv.empty() && fs::path(argv[0]).filename() == "vfgate-dataplane";
}

}  // namespace

int DataplaneProc::pid() const {
    std::lock_guard lock(mu_);
    return watch_ ? watch_->pid() : 0;
}

void DataplaneProc::watch(int pid) {
    std::lock_guard lock(mu_);
    if (watch_ && watch_->pid() == pid) return;
    auto w = proc::Watch::open(pid);
    if (w) {
        watch_ = std::move(*w);
    } else {
        spdlog::warn("dataplane pid {}: {}", pid, w.error().to_string());
    }
}

std::optional<std::string> DataplaneProc::exited() {
    std::unique_lock lock(mu_, std::try_to_lock);  // busy: a start or stop is under way
    if (!lock.owns_lock() || !watch_ || stopping_ || starting_ || !watch_->wait_exit(0ms)) {
        return std::nullopt;
    }
    const int pid = watch_->pid();
    watch_.reset();
    auto how = proc::reap(pid);
    return "pid " + std::to_string(pid) + " " + (how ? how->text : "exited");
}

DataplaneSeen DataplaneProc::observe() {
    DataplaneSeen seen;
    if (paths_.dataplane_socket.empty()) return seen;
    auto status = jsonl::call(paths_.dataplane_socket, "status", jsonl::Json::object(), 3s);
    if (status && status->contains("pid")) {
        seen.running = seen.answering = true;
        seen.pid = status->at("pid").get<int>();
        watch(seen.pid);
        if (status->value("config", "") == paths_.dataplane_config) {
            if (auto cfg = config::load_file(paths_.dataplane_config); cfg.ok()) {
                seen.config = *cfg.config;
            }
        }
        return seen;
    }
    const std::string why = status ? "no pid in its status reply" : status.error().to_string();
    if (auto pid = proc::read_pidfile(paths_.dataplane_pidfile);
        pid && proc::alive(*pid) && is_dataplane(*pid)) {
        seen.running = true;
        seen.pid = *pid;
        seen.problem = why;
        watch(*pid);
    }
    return seen;
}

std::string DataplaneProc::log_tail() const {
    auto text = read_regular_file(paths_.dataplane_log, 16u << 20);
    if (!text) return "";
    std::string out;
    for (const auto& line : last_lines(*text, 8)) out += "\n  " + line;
    return out;
}

Result<int> DataplaneProc::start(const std::string& yaml, const Say& say) {
    if (auto w = write_file_atomic(paths_.dataplane_config, yaml); !w) {
        return tl::unexpected(w.error());
    }
    const std::vector<std::string> argv{tools_.dataplane, "--config", paths_.dataplane_config};
    say("starting " + argv[0] + " --config " + paths_.dataplane_config);
    auto pid = proc::spawn(argv, {paths_.dataplane_log, true});
    if (!pid) return tl::unexpected(pid.error());
    if (auto w = write_file_atomic(paths_.dataplane_pidfile, std::to_string(*pid) + "\n"); !w) {
        spdlog::warn("{}", w.error().to_string());
    }
    watch(*pid);
    // Until start() returns, its process's exit is start()'s to report (with its log), not the
    // daemon's tick, which would reap it and leave this loop waiting out its 60 s.
    {
        std::lock_guard lock(mu_);
        starting_ = true;
    }
    struct Started {
        DataplaneProc& p;
        ~Started() {
            std::lock_guard lock(p.mu_);
            p.starting_ = false;
        }
    } started{*this};
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto status = jsonl::call(paths_.dataplane_socket, "status", jsonl::Json::object(), 2s);
        if (status && status->value("pid", 0) == *pid) {
            say("dataplane runs (pid " + std::to_string(*pid) + "), answering on " +
                paths_.dataplane_socket);
            return *pid;
        }
        {
            std::lock_guard lock(mu_);
            if (watch_ && watch_->pid() == *pid && watch_->wait_exit(0ms)) {
                watch_.reset();
                auto how = proc::reap(*pid);
                return fail(ErrorKind::kSystem, "the dataplane " + (how ? how->text : "exited") +
                                                    " while starting; its log " +
                                                    paths_.dataplane_log + " ends:" + log_tail());
            }
        }
        std::this_thread::sleep_for(100ms);
    }
    static_cast<void>(stop(say));
    return fail(ErrorKind::kSystem, "the dataplane did not answer on " + paths_.dataplane_socket +
                                        " within 60 s; its log ends:" + log_tail());
}

Result<void> DataplaneProc::reload(const std::string& yaml, const Say& say) {
    auto before = read_regular_file(paths_.dataplane_config, kMaxConfig);
    if (auto w = write_file_atomic(paths_.dataplane_config, yaml); !w) {
        return tl::unexpected(w.error());
    }
    auto r = jsonl::call(paths_.dataplane_socket, "config.reload", jsonl::Json::object(), 120s);
    if (!r) {
        if (before) static_cast<void>(write_file_atomic(paths_.dataplane_config, *before));
        return tl::unexpected(std::move(r.error()).context("dataplane refused the reload"));
    }
    say("dataplane reloaded: generation " + std::to_string(r->value("generation", 0)));
    return {};
}

Result<void> DataplaneProc::stop(const Say& say) {
    std::lock_guard lock(mu_);
    if (!watch_) {
        if (auto pid = proc::read_pidfile(paths_.dataplane_pidfile);
            pid && proc::alive(*pid) && is_dataplane(*pid)) {
            if (auto w = proc::Watch::open(*pid)) watch_ = std::move(*w);
        }
    }
    if (!watch_) return {};
    stopping_ = true;
    const int pid = watch_->pid();
    say("stopping the dataplane (pid " + std::to_string(pid) + "): SIGTERM");
    ::kill(pid, SIGTERM);
    if (!watch_->wait_exit(10s)) {
        say("the dataplane did not stop within 10 s: SIGKILL");
        ::kill(pid, SIGKILL);
        watch_->wait_exit(5s);
    }
    auto how = proc::reap(pid);
    say("dataplane stopped (" + (how ? how->text : std::string("exited")) + ")");
    watch_.reset();
    stopping_ = false;
    std::error_code ec;
    fs::remove(paths_.dataplane_pidfile, ec);
    return {};
}

}  // namespace vfgate::control
