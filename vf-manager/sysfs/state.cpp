// vf-manager's state file: which guest NIC holds which VF.
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <vfgate/vfmgr/host.hpp>

namespace vfgate::vfmgr {

Result<std::vector<Assignment>> read_state(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT) return std::vector<Assignment>{};
        return tl::unexpected(Error::from_errno(errno, "open " + path));
    }
    std::vector<Assignment> out;
    try {
        const nlohmann::json j = nlohmann::json::parse(in);
        for (const auto& a : j.at("assignments")) {
            out.push_back(Assignment{a.at("pf").get<std::string>(), a.at("vf").get<std::uint32_t>(),
                                     a.at("guest").get<std::string>(),
                                     a.at("nic").get<std::string>()});
        }
    } catch (const nlohmann::json::exception& e) {
        return fail(ErrorKind::kInvalidArgument,
                    path + ": not a vfgate-vf state file: " + e.what());
    }
    return out;
}

Result<void> write_state(const std::string& path, const std::vector<Assignment>& assignments) {
    namespace fs = std::filesystem;
    nlohmann::json list = nlohmann::json::array();
    for (const Assignment& a : assignments) {
        list.push_back({{"pf", a.pf_pci}, {"vf", a.vf}, {"guest", a.guest}, {"nic", a.nic}});
    }
    const nlohmann::json j{{"version", 1}, {"assignments", list}};
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    const std::string tmp = path + ".tmp." + std::to_string(getpid());
    {
        std::ofstream out(tmp);
        out << j.dump(2) << "\n";
        out.flush();
        if (!out) return tl::unexpected(Error::from_errno(errno, "write " + tmp));
    }
    fs::rename(tmp, path, ec);
    if (ec) {
        fs::remove(tmp, ec);
        return tl::unexpected(Error::from_errno(ec.value(), "rename " + tmp + " to " + path));
    }
    return {};
}

}  // namespace vfgate::vfmgr
