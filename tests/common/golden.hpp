#pragma once
// Golden files for the unit tests: `text` must equal the file's contents; with
// VFGATE_UPDATE_GOLDEN=1 in the environment the file is written instead (review the diff).
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace vfgate::testing {

inline void expect_golden(const std::string& path, const std::string& text) {
    if (std::getenv("VFGATE_UPDATE_GOLDEN") != nullptr) {
        std::ofstream(path) << text;
        return;
    }
    std::ifstream in(path);
    ASSERT_TRUE(in) << "no golden file " << path << " (VFGATE_UPDATE_GOLDEN=1 writes it)";
    std::stringstream want;
    want << in.rdbuf();
    EXPECT_EQ(text, want.str()) << "golden " << path;
}

}  // namespace vfgate::testing
