// The VFs vf-manager gave guest NICs, for the dataplane's `vf: auto` NICs (dataplane.hpp).
#include <spdlog/spdlog.h>

#include <vfgate/vfmgr/host.hpp>

#include "dataplane.hpp"

namespace vfgate::dataplane {

void pin_vfs_from_state(config::Config& cfg) {
    const std::string file = config::run_dir(cfg) + "/vfs.json";
    auto given = vfmgr::read_state(file);  // a missing file: none given
    if (!given) {
        spdlog::warn("{}; `vf: auto` NICs take VFs in config order", given.error().to_string());
        return;
    }
    config::pin_auto_vfs(cfg, vfmgr::given_vfs(*given));
}

}  // namespace vfgate::dataplane
