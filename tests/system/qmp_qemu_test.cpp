// QmpClient against the real QEMU (VFGATE_QEMU): `-machine none` where no guest CPU is needed,
// a paused q35 on TCG where vCPU threads are. No root needed; KVM is not used.

#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <spawn.h>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vfgate/vm-launcher/qmp.hpp>

extern char** environ;

namespace vfgate::vm {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::HasSubstr;

const std::vector<std::string> kNoMachine = {"-machine", "none"};
// A q35 PC with two vCPUs, stopped before its first instruction (status "prelaunch").
const std::vector<std::string> kPausedPc = {"-machine", "q35", "-accel", "tcg", "-smp",
                                            "2",        "-m",  "64",     "-S"};

class QmpQemuTest : public testing::Test {
  protected:
    fs::path dir_;
    std::string sock_;
    pid_t pid_ = -1;

    void SetUp() override {
        if (std::string(VFGATE_QEMU).empty()) {
            GTEST_SKIP() << "qemu-system-x86_64 was not found when the build was configured";
        }
        char tmpl[] = "/tmp/vfgate-qmp-qemu-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        sock_ = (dir_ / "qmp.sock").string();
    }
    void TearDown() override {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        fs::remove_all(dir_);
    }

    std::string log() const {
        std::ifstream in(dir_ / "qemu.log");
        return std::string(std::istreambuf_iterator<char>(in), {});
    }

    // Starts QEMU with `machine` and waits for its QMP socket.
    void start(const std::vector<std::string>& machine) {
        std::vector<std::string> argv = {VFGATE_QEMU,
                                         "-nodefaults",
                                         "-no-user-config",
                                         "-display",
                                         "none",
                                         "-qmp",
                                         "unix:" + sock_ + ",server=on,wait=off"};
        argv.insert(argv.end(), machine.begin(), machine.end());
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        const std::string out = (dir_ / "qemu.log").string();
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        const int rc = ::posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        ASSERT_EQ(rc, 0) << "cannot start " << VFGATE_QEMU;
        const auto deadline = std::chrono::steady_clock::now() + seconds(30);
        while (!fs::exists(sock_)) {
            ASSERT_FALSE(exited_within(milliseconds(20))) << "QEMU exited: " << log();
            ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no QMP socket: " << log();
        }
    }

    // True if QEMU exits within `timeout` (it is then reaped).
    bool exited_within(milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
                pid_ = -1;
                return true;
            }
            if (std::chrono::steady_clock::now() >= deadline) return false;
            std::this_thread::sleep_for(milliseconds(10));
        }
    }

    // Connects to the QEMU just started. It binds its socket before it listens on it: in between
    // (seen once in 300 starts) the socket refuses, as a stale one does; so retry that.
    QmpClient connect() {
        const auto deadline = std::chrono::steady_clock::now() + seconds(10);
        for (;;) {
            auto c = QmpClient::connect(sock_, seconds(10));
            if (c) return std::move(*c);
            if (c.error().kind() != ErrorKind::kNotFound ||
                std::chrono::steady_clock::now() >= deadline) {
                throw std::runtime_error(c.error().to_string());
            }
            std::this_thread::sleep_for(milliseconds(10));
        }
    }

    std::string prefix() const { return "QMP " + sock_ + ": "; }
};

TEST_F(QmpQemuTest, GreetsWithItsVersionAndReportsStatusAndAccel) {
    start(kNoMachine);
    auto qmp = connect();
    const Json& version = qmp.greeting()["QMP"]["version"]["qemu"];
    ASSERT_TRUE(version["major"].is_number_integer()) << qmp.greeting();
    EXPECT_GE(version["major"].get<int>(), 10) << qmp.greeting();
    auto status = query_status(qmp);
    ASSERT_TRUE(status) << status.error().to_string();
    EXPECT_EQ(status->status, "running");
    EXPECT_TRUE(status->running);
    auto accel = query_accel(qmp);
    ASSERT_TRUE(accel) << accel.error().to_string();
    EXPECT_EQ(*accel, "tcg");
}

TEST_F(QmpQemuTest, AnUnknownCommandIsRefusedWithItsClass) {
    start(kNoMachine);
    auto qmp = connect();
    auto r = qmp.execute("vfgate-no-such-command");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::kUnsupported);
    EXPECT_THAT(r.error().to_string(),
                HasSubstr(prefix() + "vfgate-no-such-command: CommandNotFound: "));
    // QEMU's own "desc" names the command too.
    EXPECT_THAT(r.error().message(),
                testing::EndsWith("vfgate-no-such-command has not been found"));
    // The session goes on.
    auto status = query_status(qmp);
    EXPECT_TRUE(status) << status.error().to_string();
}

TEST_F(QmpQemuTest, BadArgumentsAreAGenericError) {
    start(kNoMachine);
    auto qmp = connect();
    auto r = qmp.execute("stop", Json{{"vfgate-bogus", 1}});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidArgument);
    EXPECT_THAT(r.error().to_string(), HasSubstr(prefix() + "stop: GenericError: "));
    EXPECT_THAT(r.error().to_string(), HasSubstr("vfgate-bogus"));
}

TEST_F(QmpQemuTest, VcpuThreadsAreThreadsOfQemu) {
    start(kPausedPc);
    auto qmp = connect();
    auto threads = query_vcpu_threads(qmp);
    ASSERT_TRUE(threads) << threads.error().to_string();
    ASSERT_EQ(threads->size(), 2u);
    std::set<int> indexes;
    std::set<int> tids;
    for (const auto& t : *threads) {
        indexes.insert(t.cpu_index);
        tids.insert(t.thread_id);
        EXPECT_NE(t.thread_id, pid_) << "a vCPU runs on its own thread, not QEMU's main one";
        EXPECT_TRUE(
            fs::exists("/proc/" + std::to_string(pid_) + "/task/" + std::to_string(t.thread_id)))
            << "vCPU " << t.cpu_index << " thread " << t.thread_id;
    }
    EXPECT_EQ(indexes, (std::set<int>{0, 1}));
    EXPECT_EQ(tids.size(), 2u);
}

TEST_F(QmpQemuTest, StopAndContChangeTheStatusAndAreSeenAsEvents) {
    start(kPausedPc);
    auto qmp = connect();
    auto status = query_status(qmp);
    ASSERT_TRUE(status) << status.error().to_string();
    EXPECT_EQ(status->status, "prelaunch");
    EXPECT_FALSE(status->running);

    auto cont = qmp.execute("cont");
    ASSERT_TRUE(cont) << cont.error().to_string();
    auto resume = qmp.wait_event("RESUME", seconds(10));
    ASSERT_TRUE(resume) << resume.error().to_string();
    EXPECT_EQ((*resume)["event"], "RESUME");
    status = query_status(qmp);
    ASSERT_TRUE(status) << status.error().to_string();
    EXPECT_EQ(status->status, "running");
    EXPECT_TRUE(status->running);

    auto stop = qmp.execute("stop");
    ASSERT_TRUE(stop) << stop.error().to_string();
    auto stopped = qmp.wait_event("STOP", seconds(10));
    ASSERT_TRUE(stopped) << stopped.error().to_string();
    EXPECT_TRUE((*stopped)["timestamp"].contains("seconds"));
    status = query_status(qmp);
    ASSERT_TRUE(status) << status.error().to_string();
    EXPECT_EQ(status->status, "paused");
    EXPECT_FALSE(status->running);
}

TEST_F(QmpQemuTest, QuitEndsQemuAndTheNextCallSaysTheConnectionClosed) {
    start(kNoMachine);
    auto qmp = connect();
    auto quit = qmp.execute("quit");
    ASSERT_TRUE(quit) << quit.error().to_string();
    auto shutdown = qmp.wait_event("SHUTDOWN", seconds(10));
    ASSERT_TRUE(shutdown) << shutdown.error().to_string();
    EXPECT_EQ((*shutdown)["data"]["reason"], "host-qmp-quit");
    EXPECT_TRUE(exited_within(seconds(10)));
    auto r = qmp.execute("query-status", nullptr, seconds(5));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::kSystem);
    EXPECT_EQ(r.error().to_string(), prefix() + "query-status: QEMU closed the connection");
    // QEMU removed its socket on the way out.
    auto again = QmpClient::connect(sock_, seconds(1));
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().kind(), ErrorKind::kNotFound);
}

TEST_F(QmpQemuTest, KilledQemuLeavesAStaleSocket) {
    start(kNoMachine);
    ::kill(pid_, SIGKILL);
    ASSERT_TRUE(exited_within(seconds(10)));
    ASSERT_TRUE(fs::exists(sock_));
    auto c = QmpClient::connect(sock_, seconds(1));
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind(), ErrorKind::kNotFound);
    EXPECT_EQ(c.error().to_string(),
              prefix() + "connection refused (stale socket: is QEMU running?)");
}

TEST_F(QmpQemuTest, ASecondClientIsBusyUntilTheFirstLeaves) {
    start(kNoMachine);
    std::optional<QmpClient> first = connect();
    auto second = QmpClient::connect(sock_, milliseconds(500));
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().kind(), ErrorKind::kConflict);
    EXPECT_THAT(second.error().to_string(),
                HasSubstr(prefix() + "no greeting within 500 ms (busy"));
    // The first is still served.
    auto status = query_status(*first);
    EXPECT_TRUE(status) << status.error().to_string();
    first.reset();  // closes: QEMU takes its next client
    auto third = QmpClient::connect(sock_, seconds(10));
    ASSERT_TRUE(third) << third.error().to_string();
    status = query_status(*third);
    EXPECT_TRUE(status) << status.error().to_string();
}

}  // namespace
}  // namespace vfgate::vm
