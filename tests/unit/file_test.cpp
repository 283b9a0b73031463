// write_file_atomic (common/file): a file is replaced whole or not at all.

#include <csignal>
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

}  // namespace
}  // namespace vfgate
