#include "switch_table.hpp"

#include <bit>
#include <map>

namespace vfgate::dataplane {

MacBits to_bits(const MacAddr& mac) {
    MacBits m = 0;
    for (auto b : mac.bytes) m = (m << 8) | b;
    return m;
}

MacAddr to_mac(MacBits bits) {
    MacAddr mac;
    for (int i = 5; i >= 0; --i) {
        mac.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(bits & 0xff);
        bits >>= 8;
    }
    return mac;
}

void MacTable::build(std::span<const std::pair<std::uint64_t, PortIdx>> entries) {
    std::size_t cap = std::bit_ceil(std::max<std::size_t>(64, entries.size() * 2));
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(cap));
    for (const auto& [key, port] : entries) {
        std::size_t i = slot_of(key);
        while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask_;
        slots_[i] = Slot{key, port};
    }
}

Result<SwitchTable> SwitchTable::build(const config::Config& cfg) {
    SwitchTable t;
    if (!cfg.dataplane) return t;
    std::map<std::string, PortIdx> uplink_by_name;
    for (const auto& up : cfg.dataplane->uplinks) {
        PortInfo p;
        p.name = up.name;
        p.role = PortRole::kUplink;
        p.max_frame = static_cast<std::uint32_t>(up.mtu) + kEtherHeaderLen;
        p.uplink_slot = static_cast<std::uint16_t>(t.vlan_map_.size());
        uplink_by_name[up.name] = PortIdx{static_cast<std::uint16_t>(t.ports_.size())};
        t.ports_.push_back(p);
        t.vlan_map_.emplace_back();
        t.vlan_map_.back().fill(kNoDomain);
    }
    std::map<std::pair<std::string, std::uint16_t>, std::uint16_t> domain_ids;
    std::vector<std::pair<std::uint64_t, PortIdx>> macs;
    for (const auto& g : cfg.guests) {
        for (const auto& nic : g.nics) {
            if (!config::is_software_switched(cfg, nic)) continue;
            auto up = uplink_by_name.find(nic.uplink);
            if (up == uplink_by_name.end()) {
                return fail(ErrorKind::kInvalidArgument,
                            "NIC " + g.name + "/" + nic.name + " has no uplink");
            }
            if (t.ports_.size() >= kMaxPorts) {
                return fail(ErrorKind::kInvalidArgument,
                            "more than " + std::to_string(kMaxPorts) + " switched ports");
            }
            auto vlan = static_cast<std::uint16_t>(nic.vlan.value_or(0));
            auto [it, fresh] = domain_ids.try_emplace(
                {nic.uplink, vlan}, static_cast<std::uint16_t>(t.domains_.size()));
            if (fresh) {
                t.domains_.push_back(Domain{up->second, vlan, {}});
                t.vlan_map_[t.port(up->second).uplink_slot][vlan] = it->second;
            }
            PortIdx self{static_cast<std::uint16_t>(t.ports_.size())};
            PortInfo p;
            p.name = g.name + "/" + nic.name;
            p.role = PortRole::kGuest;
            p.domain = it->second;
            p.vlan = vlan;
            p.uplink = up->second;
            p.mac = to_bits(nic.mac);
            p.max_frame = t.port(up->second).max_frame;
            t.ports_.push_back(p);
            t.domains_[it->second].members.push_back(self);
            macs.emplace_back(MacTable::make_key(it->second, p.mac), self);
        }
    }
    t.fdb_.build(macs);
    return t;
}

PortIdx SwitchTable::by_name(std::string_view name) const {
    for (std::size_t i = 0; i < ports_.size(); ++i) {
        if (ports_[i].name == name) return PortIdx{static_cast<std::uint16_t>(i)};
    }
    return kNoPort;
}

}  // namespace vfgate::dataplane
