// vf-manager's apply: actions in order, rollback in reverse on failure; and the state file.
#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <future>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vfgate/vfmgr/apply.hpp>
#include <vfgate/vfmgr/host.hpp>

namespace vfgate::vfmgr {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Records what it ran; fails the action whose description contains `fail_on` (and, if set,
// the undo that contains `fail_undo`).
class FakeExecutor : public Executor {
  public:
    Result<void> run(const Action& a) override {
        const std::string d = describe(a);
        if ((!fail_on.empty() && d.find(fail_on) != std::string::npos) ||
            (!fail_undo.empty() && d.find(fail_undo) != std::string::npos)) {
            return fail(ErrorKind::kSystem, "Operation not supported");
        }
        ran.push_back(d);
        return {};
    }
    std::string fail_on, fail_undo;
    std::vector<std::string> ran;
};

Action action(ActionKind k, Value from, Value to, std::optional<std::uint32_t> vf = {}) {
    Action a;
    a.kind = k;
    a.pf_name = "pf0";
    a.pf_pci = "0000:01:00.0";
    a.vf = vf;
    a.from = std::move(from);
    a.to = std::move(to);
    return a;
}

std::vector<Action> actions() {
    return {action(ActionKind::kNumVfs, std::uint32_t{0}, std::uint32_t{2}),
            action(ActionKind::kVfMac, MacAddr{}, *parse_mac("52:54:00:00:01:01"), 0),
            action(ActionKind::kVfTrust, false, true, 0),
            action(ActionKind::kVfLinkState, LinkState::kAuto, LinkState::kEnable, 0)};
}

TEST(VfApply, RunsEveryActionInOrder) {
    FakeExecutor ex;
    std::vector<std::string> log;
    auto r = apply(actions(), ex, [&](const std::string& l) { log.push_back(l); });
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->done, 4U);
    EXPECT_EQ(ex.ran.size(), 4U);
    EXPECT_EQ(log.front(), "done: pf0 0000:01:00.0: sriov_numvfs 0 -> 2");
}

TEST(VfApply, AFailureUndoesWhatWasDoneNewestFirst) {
    FakeExecutor ex;
    ex.fail_on = "link state auto -> enable";
    std::vector<std::string> log;
    auto r = apply(actions(), ex, [&](const std::string& l) { log.push_back(l); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().to_string(),
              "step 4 of 4 failed; rolled back the 3 done before it: pf0 0000:01:00.0 vf 0: link "
              "state auto -> enable: Operation not supported");
    EXPECT_THAT(ex.ran,
                ElementsAre("pf0 0000:01:00.0: sriov_numvfs 0 -> 2",
                            "pf0 0000:01:00.0 vf 0: mac 00:00:00:00:00:00 -> 52:54:00:00:01:01",
                            "pf0 0000:01:00.0 vf 0: trust off -> on",
                            "pf0 0000:01:00.0 vf 0: trust on -> off",
                            "pf0 0000:01:00.0 vf 0: mac 52:54:00:00:01:01 -> 00:00:00:00:00:00",
                            "pf0 0000:01:00.0: sriov_numvfs 2 -> 0"));
    EXPECT_EQ(log.back(), "undone: pf0 0000:01:00.0: sriov_numvfs 2 -> 0");
}

TEST(VfApply, AFailedUndoStepIsReportedAndTheRestStillRun) {
    FakeExecutor ex;
    ex.fail_on = "link state auto -> enable";
    ex.fail_undo = "trust on -> off";
    auto r = apply(actions(), ex, [](const std::string&) {});
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(),
                HasSubstr("step 4 of 4 failed; rollback incomplete (1 of 3 undo steps failed)"));
    EXPECT_EQ(ex.ran.back(), "pf0 0000:01:00.0: sriov_numvfs 2 -> 0");
}

TEST(VfApply, FirstStepFailingLeavesNothingToUndo) {
    FakeExecutor ex;
    ex.fail_on = "sriov_numvfs";
    auto r = apply(actions(), ex, [](const std::string&) {});
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("step 1 of 4 failed; rolled back the 0"));
    EXPECT_TRUE(ex.ran.empty());
}

TEST(VfApply, UndoingAVfCountRestoresTheEarlierVfs) {
    std::vector<Action> a = actions();
    a[0] = action(ActionKind::kNumVfs, std::uint32_t{2}, std::uint32_t{3});
    a[0].restore = {action(ActionKind::kVfMac, MacAddr{}, *parse_mac("02:00:00:00:00:21"), 1),
                    action(ActionKind::kVfDriver, std::string(), std::string("vfio-pci"), 1)};
    FakeExecutor ex;
    ex.fail_on = "link state";
    std::vector<std::string> log;
    ASSERT_FALSE(apply(a, ex, [&](const std::string& l) { log.push_back(l); }));
    EXPECT_THAT(log, ::testing::Contains("undone: pf0 0000:01:00.0: sriov_numvfs 3 -> 0 -> 2"));
    EXPECT_EQ(log.back(), "restored: pf0 0000:01:00.0 vf 1: driver (none) -> vfio-pci");
    EXPECT_EQ(ex.ran.size(), 3U + 3U + 2U);
}

class StateFile : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("vf_state." + std::to_string(getpid()));
        std::filesystem::remove_all(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path dir_;
};

TEST_F(StateFile, RoundTripsAndMissingMeansEmpty) {
    const std::string path = (dir_ / "run/vfs.json").string();
    auto none = read_state(path);
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
    const std::vector<Assignment> a{{"0000:01:00.0", 2, "web", "eth0"},
                                    {"0000:01:00.0", 0, "db", "eth0"}};
    ASSERT_TRUE(write_state(path, a));
    auto back = read_state(path);
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_EQ(*back, a);
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(getpid())));
}

TEST_F(StateFile, ACorruptFileIsAnErrorNamingIt) {
    std::filesystem::create_directories(dir_);
    const std::string path = (dir_ / "vfs.json").string();
    std::ofstream(path) << R"({"assignments": [{"pf": "x"}]})";
    auto r = read_state(path);
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr(path + ": not a vfgate-vf state file"));
}

// A FIFO at the state file's path: a blocking open would wait for a writer forever. If it
// blocks, the test opens the write end itself so that read_state returns, and fails.
TEST_F(StateFile, AFifoIsAnErrorNotAHang) {
    std::filesystem::create_directories(dir_);
    const std::string path = (dir_ / "vfs.json").string();
    ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
    auto pending = std::async(std::launch::async, [&] { return read_state(path); });
    if (pending.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
        int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK);
        if (fd >= 0) ::close(fd);
        pending.wait();
        FAIL() << "read_state blocked on a FIFO";
    }
    auto r = pending.get();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().to_string(), path + ": cannot read: not a regular file (a FIFO)");
    EXPECT_NE(r.error().kind(), ErrorKind::kInvalidArgument);  // not the caller's input
}

TEST_F(StateFile, ADirectoryIsAnErrorNotAnException) {
    std::filesystem::create_directories(dir_ / "vfs.json");
    const std::string path = (dir_ / "vfs.json").string();
    auto r = read_state(path);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().to_string(), path + ": cannot read: not a regular file (a directory)");
}

struct BadState {
    std::string text;
    std::string error;  // what follows "PATH: "
};

void PrintTo(const BadState& b, std::ostream* os) { *os << b.text; }

// A state file with one assignment whose "vf" is `vf` (JSON text).
std::string one(const std::string& vf) {
    return R"({"version": 1, "assignments": [{"pf": "0000:01:00.0", "vf": )" + vf +
           R"(, "guest": "web", "nic": "eth0"}]})";
}

class MalformedState : public StateFile, public ::testing::WithParamInterface<BadState> {};

TEST_P(MalformedState, IsRefusedSayingWhatIsWrong) {
    std::filesystem::create_directories(dir_);
    const std::string path = (dir_ / "vfs.json").string();
    std::ofstream(path) << GetParam().text;
    auto r = read_state(path);
    ASSERT_FALSE(r) << "accepted: " << GetParam().text;
    EXPECT_EQ(r.error().to_string(), path + ": " + GetParam().error);
    EXPECT_NE(r.error().kind(), ErrorKind::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(
    StateFile, MalformedState,
    ::testing::Values(
        BadState{R"({"version": 999, "assignments": []})",
                 "not a vfgate-vf state file: version: found 999; expected 1"},
        BadState{R"({"assignments": []})",
                 "not a vfgate-vf state file: found no 'version'; expected version and "
                 "assignments"},
        BadState{R"({"version": "1", "assignments": []})",
                 "not a vfgate-vf state file: version: found \"1\"; expected 1"},
        BadState{one("-1"),
                 "not a vfgate-vf state file: assignments[0].vf: found -1; expected a "
                 "VF index from 0 to 65534"},
        BadState{one("1.7"),
                 "not a vfgate-vf state file: assignments[0].vf: found 1.7; expected "
                 "a VF index from 0 to 65534"},
        BadState{one("65535"),
                 "not a vfgate-vf state file: assignments[0].vf: found 65535; "
                 "expected a VF index from 0 to 65534"},
        BadState{one("\"2\""),
                 "not a vfgate-vf state file: assignments[0].vf: found \"2\"; "
                 "expected a VF index from 0 to 65534"},
        BadState{R"({"version": 1, "assignments": [{"pf": "eth0", "vf": 1, "guest": "web",)"
                 R"( "nic": "eth0"}]})",
                 "not a vfgate-vf state file: assignments[0].pf: found \"eth0\"; expected a "
                 "PCI address like 0000:01:00.0"},
        BadState{
            R"({"version": 1, "assignments": [{"pf": "0000:01:00.0", "vf": 1, "guest": )"
            R"("w\u001b[2J", "nic": "eth0"}]})",
            "not a vfgate-vf state file: assignments[0].guest: found \"w\\u001b[2J\"; expected "
            "a name of 1-32 letters, digits, '_', '-' or '.'"},
        BadState{R"({"version": 1, "assignments": [{"pf": "0000:01:00.0", "vf": 1}]})",
                 "not a vfgate-vf state file: assignments[0]: found no 'guest'; expected "
                 "pf, vf, guest and nic"},
        BadState{R"({"version": 1, "assignments": {}})",
                 "not a vfgate-vf state file: assignments: found an object; expected a list"},
        BadState{R"({"version": 1, "assignments": [], "extra": 1})",
                 "not a vfgate-vf state file: found key 'extra'; expected version and "
                 "assignments"},
        BadState{R"({"version": 1, "assignments": [{"pf": "0000:01:00.0", "vf": 1, "guest": )"
                 R"("a", "nic": "n"}, {"pf": "0000:01:00.0", "vf": 1, "guest": "b", "nic": )"
                 R"("n"}]})",
                 "not a vfgate-vf state file: assignments[1]: found VF 1 of 0000:01:00.0 "
                 "again (assignments[0]); expected each VF once"},
        BadState{"[1, 2",
                 "not a vfgate-vf state file: [json.exception.parse_error.101] parse "
                 "error at line 1, column 6: syntax error while parsing array - "
                 "unexpected end of input; expected ']'"},
        BadState{"", "not a vfgate-vf state file: found an empty file; expected JSON"}));

}  // namespace
}  // namespace vfgate::vfmgr
