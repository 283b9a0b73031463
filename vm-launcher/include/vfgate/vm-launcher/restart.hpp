#pragma once
// The restart policy as a decision on each QEMU exit (pure; the supervisor acts on it).
//
//   policy       clean power-off (status 0)   anything else (crash, signal, adopted QEMU)
//   always       restart                      restart
//   on-failure   shutdown                     restart
//   never        shutdown                     crashed
//
// Restarts wait 1, 2, 4 ... kMaxBackoff seconds, back to 1 after a run longer than
// kStableRun. More than kCrashLoopRestarts restarts within kCrashLoopWindow is a crash loop:
// give up.

#include <chrono>
#include <deque>

#include <vfgate/config/config.hpp>

namespace vfgate::vm {

inline constexpr int kCrashLoopRestarts = 5;
inline constexpr std::chrono::seconds kCrashLoopWindow{120};
inline constexpr std::chrono::seconds kStableRun{60};
inline constexpr std::chrono::seconds kMaxBackoff{30};

struct RestartDecision {
    enum class Kind { kRestart, kShutdown, kCrashed, kGiveUp } kind = Kind::kShutdown;
    std::chrono::seconds delay{0};  // kRestart: wait this long first
    int recent_restarts = 0;        // within the crash-loop window, this one included
};

class RestartPolicy {
  public:
    explicit RestartPolicy(config::RestartPolicy policy) : policy_(policy) {}

    // QEMU exited at `now` after running for `ran`; `clean`: it exited with status 0.
    RestartDecision on_exit(bool clean, std::chrono::steady_clock::duration ran,
                            std::chrono::steady_clock::time_point now);

  private:
    config::RestartPolicy policy_;
    std::deque<std::chrono::steady_clock::time_point> recent_;
    std::chrono::seconds backoff_{1};
};

}  // namespace vfgate::vm
