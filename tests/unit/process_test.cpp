// proc::spawn (common/process): what a child gets as its standard streams.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>

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

}  // namespace
}  // namespace vfgate::proc
