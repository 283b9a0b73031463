#include <algorithm>

#include <vfgate/vm-launcher/restart.hpp>

namespace vfgate::vm {

RestartDecision RestartPolicy::on_exit(bool clean, std::chrono::steady_clock::duration ran,
                                       std::chrono::steady_clock::time_point now) {
    using Kind = RestartDecision::Kind;
    RestartDecision d;
    if (policy_ == config::RestartPolicy::kNever ||
        (policy_ == config::RestartPolicy::kOnFailure && clean)) {
        d.kind = clean ? Kind::kShutdown : Kind::kCrashed;
        return d;
    }
    if (ran > kStableRun) backoff_ = std::chrono::seconds(1);
    while (!recent_.empty() && now - recent_.front() > kCrashLoopWindow) recent_.pop_front();
    if (static_cast<int>(recent_.size()) >= kCrashLoopRestarts) {
        d.kind = Kind::kGiveUp;
        d.recent_restarts = static_cast<int>(recent_.size());
        return d;
    }
    recent_.push_back(now);
    d.kind = Kind::kRestart;
    d.delay = backoff_;
    d.recent_restarts = static_cast<int>(recent_.size());
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
    return d;
}

}  // namespace vfgate::vm
