// proc::spawn (common/process): what a child gets as its standard streams.

#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>

#include <gtest/gtest.h>

#include <vfgate/common/process.hpp>

namespace vfgate::proc {
namespace {

// The output file is the child's stdout and stderr both, and its stdin is /dev/null.
TEST(Spawn, TheOutputFileIsTheChildsStdoutAndStderr) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("vfgate-spawn-" + std::to_string(::getpid()) + ".log");
    std::filesystem::remove(path);
    auto pid = spawn({"/bin/sh", "-c", "echo out; echo err >&2; cat; echo done"},
                     SpawnOptions{.output = path.string()});
    ASSERT_TRUE(pid.has_value()) << pid.error().to_string();
    auto w = Watch::open(*pid);
    ASSERT_TRUE(w.has_value());
    ASSERT_TRUE(w->wait_exit(std::chrono::seconds(10)));
    const auto exit = reap(*pid);
    ASSERT_TRUE(exit.has_value());
    std::ifstream in(path);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text, "out\nerr\ndone\n");
    std::filesystem::remove(path);
}

// A descriptor the parent opened without O_CLOEXEC (another thread's, a library's, the pipe a
// daemon reports readiness on) does not pass to the child: QEMU would hold it for its life.
TEST(Spawn, TheChildGetsNoDescriptorButItsStdio) {
    const int leaky = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC
    ASSERT_GE(leaky, 3);
    const auto path = std::filesystem::temp_directory_path() /
                      ("vfgate-spawn-fd-" + std::to_string(::getpid()) + ".log");
    std::filesystem::remove(path);
    const std::string fd = std::to_string(leaky);
    auto pid =
        spawn({"/bin/sh", "-c", "test -e /proc/self/fd/" + fd + " && echo open || echo closed"},
              SpawnOptions{.output = path.string()});
    ::close(leaky);
    ASSERT_TRUE(pid.has_value()) << pid.error().to_string();
    auto w = Watch::open(*pid);
    ASSERT_TRUE(w.has_value());
    ASSERT_TRUE(w->wait_exit(std::chrono::seconds(10)));
    ASSERT_TRUE(reap(*pid).has_value());
    std::ifstream in(path);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(text, "closed\n") << "fd " << fd;
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace vfgate::proc
