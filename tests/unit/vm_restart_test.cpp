// The restart policy: which exits restart a guest, the backoff, and the crash loop.
#include <gtest/gtest.h>

#include <vfgate/vm-launcher/restart.hpp>

namespace vfgate::vm {
namespace {

using Kind = RestartDecision::Kind;
using config::RestartPolicy;
using namespace std::chrono_literals;
const auto t0 = std::chrono::steady_clock::time_point{} + 1000s;

TEST(VmRestart, WhichExitsRestart) {
    EXPECT_EQ(vm::RestartPolicy(RestartPolicy::kAlways).on_exit(true, 5s, t0).kind, Kind::kRestart);
    EXPECT_EQ(vm::RestartPolicy(RestartPolicy::kAlways).on_exit(false, 5s, t0).kind,
              Kind::kRestart);
    EXPECT_EQ(vm::RestartPolicy(RestartPolicy::kOnFailure).on_exit(true, 5s, t0).kind,
              Kind::kShutdown);
    EXPECT_EQ(vm::RestartPolicy(RestartPolicy::kOnFailure).on_exit(false, 5s, t0).kind,
              Kind::kRestart);
    EXPECT_EQ(vm::RestartPolicy(RestartPolicy::kNever).on_exit(true, 5s, t0).kind, Kind::kShutdown);
    EXPECT_EQ(vm::RestartPolicy(RestartPolicy::kNever).on_exit(false, 5s, t0).kind, Kind::kCrashed);
}

TEST(VmRestart, BackoffDoublesUpToItsCapAndResetsAfterAStableRun) {
    vm::RestartPolicy p(RestartPolicy::kAlways);
    auto now = t0;
    std::vector<long> delays;
    for (int i = 0; i < 8; ++i) {
        // Crashes far enough apart not to be a loop, each after a short run.
        auto d = p.on_exit(false, 2s, now);
        ASSERT_EQ(d.kind, Kind::kRestart) << i;
        delays.push_back(static_cast<long>(d.delay.count()));
        now += kCrashLoopWindow + 1s;
    }
    EXPECT_EQ(delays, (std::vector<long>{1, 2, 4, 8, 16, 30, 30, 30}));
    EXPECT_EQ(p.on_exit(false, kStableRun + 1s, now).delay, 1s);
}

TEST(VmRestart, ACrashLoopGivesUp) {
    vm::RestartPolicy p(RestartPolicy::kOnFailure);
    auto now = t0;
    for (int i = 0; i < kCrashLoopRestarts; ++i) {
        auto d = p.on_exit(false, 1s, now);
        ASSERT_EQ(d.kind, Kind::kRestart) << i;
        EXPECT_EQ(d.recent_restarts, i + 1);
        now += 10s;
    }
    auto d = p.on_exit(false, 1s, now);
    EXPECT_EQ(d.kind, Kind::kGiveUp);
    EXPECT_EQ(d.recent_restarts, kCrashLoopRestarts);
    // The same number of crashes spread wider than the window is no loop.
    vm::RestartPolicy q(RestartPolicy::kOnFailure);
    now = t0;
    for (int i = 0; i < 3 * kCrashLoopRestarts; ++i) {
        EXPECT_EQ(q.on_exit(false, 1s, now).kind, Kind::kRestart) << i;
        now += kCrashLoopWindow / kCrashLoopRestarts + 1s;
    }
}

}  // namespace
}  // namespace vfgate::vm
