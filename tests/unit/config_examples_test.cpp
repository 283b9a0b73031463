#include <gtest/gtest.h>

#include <vfgate/config/describe.hpp>
#include <vfgate/config/load.hpp>

namespace vfgate::config {
namespace {

std::string example(const char* name) {
    return std::string(VFGATE_SOURCE_ROOT) + "/config/examples/" + name;
}

std::string errors_of(const LoadResult& r) {
    std::string s;
    for (const auto& d : r.errors) s += d.to_string() + "\n";
    return s;
}

TEST(Examples, DemoLoads) {
    auto r = load_file(example("demo.yaml"));
    ASSERT_TRUE(r.ok()) << errors_of(r);
}

}  // namespace
}  // namespace vfgate::config
