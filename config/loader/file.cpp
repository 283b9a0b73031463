// Reading a config file from disk (the file system adapter of config).

#include <vfgate/common/file.hpp>
#include <vfgate/config/load.hpp>

namespace vfgate::config {

LoadResult load_file(const std::string& path) {
    auto text = read_regular_file(path, kMaxConfigBytes);
    if (!text) {
        LoadResult r;
        r.errors.push_back({path, {}, "", text.error().to_string()});
        return r;
    }
    return load_string(*text, path);
}

}  // namespace vfgate::config
