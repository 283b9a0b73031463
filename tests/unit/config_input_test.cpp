// Hostile or odd input to the config loader: files that aren't regular files. Each must give a
// clear diagnostic, never a hang or a crash.

#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <future>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vfgate/config/load.hpp>

namespace vfgate::config {
namespace {

namespace fs = std::filesystem;

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

}  // namespace
}  // namespace vfgate::config
