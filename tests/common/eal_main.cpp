// main() for tests that call DPDK libraries in-process: a real EAL without hugepages or PCI,
// under a file prefix of its own (other DPDK processes may run on the machine).

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <string>
#include <unistd.h>

#include <gtest/gtest.h>
#include <rte_eal.h>

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    const std::string prefix = "vfgate-" + std::filesystem::path(argv[0]).filename().string() +
                               "-" + std::to_string(::getpid());
    const char* eal[] = {
        argv[0], "--no-huge",     "-m",           "2048",          "--no-pci",      "-l",
        "0",     "--file-prefix", prefix.c_str(), "--log-level=3", "--no-telemetry"};
    if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)) < 0) {
        (void)std::fprintf(stderr, "EAL init failed\n");
        return 1;
    }
    const int r = RUN_ALL_TESTS();
    rte_eal_cleanup();
    std::error_code ec;
    std::filesystem::remove_all("/var/run/dpdk/" + prefix, ec);
    return r;
}
