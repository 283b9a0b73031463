// common/file: write_file_atomic replaces a file whole or not at all; rotate_log keeps an
// appended log under its limit.

#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sys/resource.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vfgate/common/file.hpp>

namespace vfgate {
namespace {

namespace fs = std::filesystem;

std::string contents(const fs::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class WriteFileAtomic : public testing::Test {
  protected:
    fs::path dir_ = fs::temp_directory_path() / ("vfgate-file-" + std::to_string(::getpid()));
    void SetUp() override { fs::create_directories(dir_); }
    void TearDown() override { fs::remove_all(dir_); }
};

TEST_F(WriteFileAtomic, ReplacesTheFileAndMakesItsDirectory) {
    const fs::path p = dir_ / "sub" / "state.json";
    ASSERT_TRUE(write_file_atomic(p.string(), "one\n"));
    ASSERT_TRUE(write_file_atomic(p.string(), "two\n"));
    EXPECT_EQ(contents(p), "two\n");
    EXPECT_EQ(std::distance(fs::directory_iterator(p.parent_path()), fs::directory_iterator()), 1);
}

// A write that can't finish (here the file size limit; a full filesystem alike) leaves the old
// file whole, no temporary file behind, and says which file and why.
TEST_F(WriteFileAtomic, AFailedWriteLeavesTheOldFileWhole) {
    const fs::path p = dir_ / "state.json";
    ASSERT_TRUE(write_file_atomic(p.string(), "old\n"));
    rlimit was{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &was), 0);
    const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit small = was;
    small.rlim_cur = 4096;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    auto r = write_file_atomic(p.string(), std::string(1u << 20, 'x'));
    ::setrlimit(RLIMIT_FSIZE, &was);
    std::signal(SIGXFSZ, old_handler);
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), testing::HasSubstr(p.string()));
    EXPECT_THAT(r.error().to_string(), testing::HasSubstr("EFBIG"));
    EXPECT_EQ(contents(p), "old\n");
    EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

// Sets the file size limit of this process for its lifetime (SIGXFSZ ignored: writes fail EFBIG).
class FileSizeLimit {
  public:
    explicit FileSizeLimit(rlim_t bytes) : handler_(std::signal(SIGXFSZ, SIG_IGN)) {
        ::getrlimit(RLIMIT_FSIZE, &was_);
        rlimit small = was_;
        small.rlim_cur = bytes;
        ::setrlimit(RLIMIT_FSIZE, &small);
    }
    FileSizeLimit(const FileSizeLimit&) = delete;
    FileSizeLimit& operator=(const FileSizeLimit&) = delete;
    ~FileSizeLimit() {
        ::setrlimit(RLIMIT_FSIZE, &was_);
        std::signal(SIGXFSZ, handler_);
    }

  private:
    rlimit was_{};
    decltype(SIG_IGN) handler_;
};

using RotateLog = WriteFileAtomic;

TEST_F(RotateLog, ALogUnderItsLimitOrMissingIsLeftAlone) {
    const fs::path p = dir_ / "dataplane.log";
    EXPECT_EQ(rotate_log(p.string(), 100).value_or(true), false);
    std::ofstream(p) << std::string(100, 'x');
    EXPECT_EQ(rotate_log(p.string(), 100).value_or(true), false);
    EXPECT_EQ(contents(p).size(), 100U);
    EXPECT_FALSE(fs::exists(p.string() + ".1"));
}

// Over its limit, the log moves to .1 and its writer (O_APPEND) goes on at the start of the
// emptied file, not at its old offset.
TEST_F(RotateLog, ALogOverItsLimitIsKeptAsDot1AndItsWriterGoesOnAtTheStart) {
    const fs::path p = dir_ / "dataplane.log";
    std::ofstream(p.string() + ".1") << "older\n";
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    ASSERT_GE(fd, 0);
    const std::string first(150, 'a');
    ASSERT_EQ(::write(fd, first.data(), first.size()), 150);
    EXPECT_EQ(rotate_log(p.string(), 100).value_or(false), true);
    EXPECT_EQ(contents(p.string() + ".1"), first);
    ASSERT_EQ(::write(fd, "next\n", 5), 5);
    ::close(fd);
    EXPECT_EQ(contents(p), "next\n");
}

// A copy that can't be made (here the file size limit; a full /run alike) still empties the
// log, leaves no half copy, and says so.
TEST_F(RotateLog, ACopyThatFailsStillEmptiesTheLogAndSaysSo) {
    const fs::path p = dir_ / "vfgated.log";
    std::ofstream(p) << std::string(64 << 10, 'x');
    Result<bool> r = false;
    {
        const FileSizeLimit limit(4096);
        r = rotate_log(p.string(), 1024);
    }
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), testing::HasSubstr(p.string() + ".1; emptied it anyway"));
    EXPECT_EQ(fs::file_size(p), 0U);
    EXPECT_FALSE(fs::exists(p.string() + ".1"));
}

}  // namespace
}  // namespace vfgate
