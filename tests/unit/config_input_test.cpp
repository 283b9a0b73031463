// Hostile or odd input to the config loader: files that aren't regular files, NUL bytes,
// control characters that must not reach a terminal raw, nesting deep enough to exhaust a
// recursive reader. Each must give a clear diagnostic, never a hang or a crash.

#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <future>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vfgate/config/describe.hpp>
#include <vfgate/config/load.hpp>

namespace vfgate::config {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;
using testing::Not;

class ConfigFiles : public testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("config_input_test." + std::to_string(getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

// load_file on a FIFO nobody writes to. A blocking open would wait forever: the test then
// opens the write end itself so that the loader returns, and fails.
TEST_F(ConfigFiles, AFifoIsRefusedWithoutBlocking) {
    const std::string fifo = (dir_ / "fifo.yaml").string();
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    auto pending = std::async(std::launch::async, [&] { return load_file(fifo); });
    if (pending.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
        int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
        if (fd >= 0) ::close(fd);
        pending.wait();
        FAIL() << "load_file blocked on a FIFO";
    }
    auto r = pending.get();
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].to_string(), fifo + ": cannot read: not a regular file (a FIFO)");
}

TEST_F(ConfigFiles, ADirectoryIsRefused) {
    auto r = load_file(dir_.string());
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].to_string(), dir_.string() +
                                           ": cannot read: not a regular file (a "
                                           "directory)");
}

TEST_F(ConfigFiles, ARegularFileStillLoads) {
    std::ofstream(dir_ / "ok.yaml") << "version: 1\n";
    auto r = load_file((dir_ / "ok.yaml").string());
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].to_string());
}

// Any string value with a NUL byte: the C APIs these strings reach would cut it short.
TEST(ConfigText, ANulByteInAStringIsAnError) {
    auto r = load_string(
        "version: 1\ndataplane:\n  control_socket: \"/run/vfgate/a\\0b.sock\"\n"
        "  uplinks:\n    - {name: up0, device: net_null0}\n",
        "t.yaml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].to_string(),
              "t.yaml:3:19: dataplane.control_socket: found \"/run/vfgate/a\\x00b.sock\" (a NUL "
              "byte inside); expected text without NUL bytes");
}

// Control characters a hostile file could use to drive a terminal are escaped wherever the
// loader prints what it found: in the key path as well as the message.
TEST(ConfigText, ControlCharactersInDiagnosticsAreEscaped) {
    auto r = load_string("version: 1\n\"\\e]0;owned\\a\\e[2J\": 1\n", "t.yaml");
    ASSERT_EQ(r.errors.size(), 1u);
    const std::string line = r.errors[0].to_string();
    EXPECT_THAT(line, Not(HasSubstr("\x1b")));
    EXPECT_THAT(line, Not(HasSubstr("\a")));
    EXPECT_THAT(line, testing::StartsWith("t.yaml:2:1: \\x1b]0;owned\\x07\\x1b[2J: found unknown "
                                          "key '\\x1b]0;owned\\x07\\x1b[2J'"));
}

TEST(ConfigText, ANewlineInAValueCantFakeADiagnosticLine) {
    auto r = load_string("version: 1\ndataplane:\n  control_socket: \"x\\nt.yaml:1:1: fake\"\n",
                         "t.yaml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_THAT(r.errors[0].to_string(), Not(HasSubstr("\n")));
    EXPECT_THAT(r.errors[0].to_string(), HasSubstr("x\\x0at.yaml:1:1: fake"));
}

TEST(ConfigText, DescribeEscapesControlCharacters) {
    auto r = load_string(
        "version: 1\ndataplane:\n  uplinks:\n    - {name: up0, device: \"net_null0,x=\\e[31m\"}\n"
        "pfs:\n  - {name: pf0, device: \"eth\\e[2J\", num_vfs: 1}\n",
        "t.yaml");
    ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
    const std::string text = describe(*r.config);
    EXPECT_THAT(text, Not(HasSubstr("\x1b")));
    EXPECT_THAT(text, HasSubstr("uplink up0: net_null0,x=\\x1b[31m,"));
    EXPECT_THAT(text, HasSubstr("pf pf0: eth\\x1b[2J,"));
}

// Nesting far beyond any config is refused where it starts to be too deep, with its location
// (yaml-cpp's own guard, much deeper, reported "bad file" at the end of the input).
TEST(ConfigText, DeepNestingIsRefusedWithItsLocation) {
    const std::string deep = std::string(100000, '[') + "x" + std::string(100000, ']');
    auto r = load_string("version: 1\nhost: " + deep + "\n", "deep.yaml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].to_string(),
              "deep.yaml:2:70: found values nested deeper than 64 levels; expected a config "
              "nested at most 64 levels deep");
}

TEST(ConfigText, NestingOfBlockMappingsIsLimitedToo) {
    std::string text = "version: 1\nhost:\n";
    for (int i = 0; i < 100; ++i) text += std::string(2 * (i + 1), ' ') + "k:\n";
    auto r = load_string(text, "deep.yaml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_THAT(r.errors[0].to_string(),
                testing::StartsWith("deep.yaml:66:129: found values nested deeper than 64"));
}

TEST(ConfigText, SixtyFourLevelsAreStillRead) {
    // 64 levels in all: the top mapping and 63 lists; the reader, not the parser, objects.
    auto r = load_string("version: 1\nhost: " + std::string(63, '[') + std::string(63, ']') + "\n",
                         "t.yaml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_THAT(r.errors[0].to_string(), HasSubstr("host: found a list; expected a mapping"));
}

// Aliases copy their anchor's tree: a chain of them can't build what nesting may not.
TEST(ConfigText, AliasesCantNestDeeperEither) {
    std::string text = "version: 1\n";
    for (int i = 0; i < 4; ++i) {
        text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " " + std::string(30, '[') +
                (i == 0 ? "x" : "*a" + std::to_string(i - 1)) + std::string(30, ']') + "\n";
    }
    auto r = load_string(text, "deep.yaml");
    ASSERT_EQ(r.errors.size(), 1u);
    // a2's alias to a1 (60 levels, at column 39) would sit 31 levels down.
    EXPECT_EQ(r.errors[0].to_string(),
              "deep.yaml:4:39: found values nested deeper than 64 levels; expected a config "
              "nested at most 64 levels deep");
}

}  // namespace
}  // namespace vfgate::config
