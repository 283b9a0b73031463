// TEMPORARY STUB (branch offload only): the offload reply's JSON until proto/control.cpp has it
// on main (another change); drop this file and its meson line when merging main.
#include <nlohmann/json.hpp>

#include <vfgate/dataplane/control.hpp>

namespace vfgate::dataplane {

void to_json(nlohmann::json& j, const OffloadPort& v) {
    j = {{"name", v.name},
         {"driver", v.driver},
         {"state", v.state},
         {"flows", v.flows},
         {"refused", v.refused}};
    if (!v.note.empty()) j["note"] = v.note;
}

void to_json(nlohmann::json& j, const OffloadEntry& v) {
    j = {{"kind", v.kind}, {"port", v.port}, {"where", v.where}, {"flows", v.flows}};
    for (auto [k, s] : {std::pair{"nic", &v.nic},
                        {"direction", &v.direction},
                        {"rule", &v.rule},
                        {"action", &v.action},
                        {"why_not", &v.why_not}}) {
        if (!s->empty()) j[k] = *s;
    }
    if (v.nic_packets) j["nic_packets"] = *v.nic_packets;
}

void to_json(nlohmann::json& j, const OffloadUpdate& v) {
    j = {{"generation", v.generation},
         {"added", v.added},
         {"removed", v.removed},
         {"kept", v.kept},
         {"refused", v.refused},
         {"ms", v.ms},
         {"swap_in_software", v.swap_in_software}};
    if (!v.note.empty()) j["note"] = v.note;
}

void to_json(nlohmann::json& j, const OffloadReply& v) {
    j = {{"ports", v.ports}, {"entries", v.entries}};
    if (v.last_update) j["last_update"] = *v.last_update;
}

}  // namespace vfgate::dataplane
