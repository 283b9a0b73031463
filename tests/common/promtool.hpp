#pragma once
// Runs `promtool check metrics` (Debian package prometheus) on a Prometheus text exposition.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <utility>

namespace vfgate::testing {

// promtool's exit status (as pclose gives it; 0 when clean) and everything it printed.
inline std::pair<int, std::string> promtool_check_metrics(const std::string& promtool,
                                                          const std::string& text) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("vfgate-metrics-" + std::to_string(::getpid()) + ".txt");
    std::ofstream(path) << text;
    const std::string cmd = promtool + " check metrics < " + path.string() + " 2>&1";
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return {-1, "popen failed"};
    char buf[4096];
    for (std::size_t n = 0; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    const int status = ::pclose(p);
    std::filesystem::remove(path);
    return {status, out};
}

}  // namespace vfgate::testing
