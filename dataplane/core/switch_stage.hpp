#pragma once
// The L2 switch stage: decides, for every packet of a burst, where it goes (config-v1,
// "Forwarding"): access VLAN push toward the uplink and pop from it, local switching within a
// broadcast domain, unknown unicast from a guest to its uplink, flooding of broadcast and
// multicast, and the counted drops (runts, tags from guests, spoofed or self-addressed frames,
// non-IP, unknown VLANs and destinations, oversize).
//
// Hot path: noexcept, no allocation; reads the table, writes Burst::step.

#include "burst.hpp"

namespace vfgate::dataplane {

class SwitchStage {
  public:
    void process(Burst& b, const SwitchTable& t) const noexcept {
        if (t.port(b.in).role == PortRole::kUplink) {
            run<PortRole::kUplink>(b, t);
        } else {
            run<PortRole::kGuest>(b, t);
        }
    }

  private:
    static bool carries_ip_or_arp(std::uint16_t type) {
        return type == kEtherIpv4 || type == kEtherIpv6 || type == kEtherArp;
    }

    static Step drop(DropReason r) { return Step{Verdict::kDrop, r}; }

    template <PortRole kFrom>
    static void run(Burst& b, const SwitchTable& t) noexcept {
        const PortInfo& in = t.port(b.in);
        for (std::uint16_t i = 0; i < b.count; ++i) {
            b.step[i] = kFrom == PortRole::kGuest ? from_guest(b.meta[i], in, t)
                                                  : from_uplink(b.meta[i], in, t);
        }
    }

    static Step from_guest(const L2Meta& m, const PortInfo& in, const SwitchTable& t) noexcept {
        if (m.runt) return drop(DropReason::kRunt);
        if (is_tag_type(m.outer_type)) return drop(DropReason::kGuestTagged);
        if (m.src != in.mac) return drop(DropReason::kSpoofedMac);
        if (m.dst == in.mac) return drop(DropReason::kToOwnMac);
        if (!carries_ip_or_arp(m.ethertype)) return drop(DropReason::kNonIp);
        if (m.len > in.max_frame) return drop(DropReason::kOversize);
        TagOp to_uplink = in.vlan != 0 ? TagOp::kPush : TagOp::kNone;
        if (is_group(m.dst)) {
            return Step{Verdict::kFlood, DropReason::kCount, to_uplink,
                        kNoPort,         in.domain,          in.vlan};
        }
        PortIdx local = t.find(in.domain, m.dst);
        if (local != kNoPort)
            return Step{Verdict::kUnicast, DropReason::kCount, TagOp::kNone, local};
        return Step{Verdict::kUnicast, DropReason::kCount, to_uplink,
                    in.uplink,         kNoDomain,          in.vlan};
    }

    static Step from_uplink(const L2Meta& m, const PortInfo& in, const SwitchTable& t) noexcept {
        if (m.runt) return drop(DropReason::kRunt);
        // Only single 802.1Q tags are VLANs here; S-tags and stacked tags are no VLAN of ours.
        if (is_tag_type(m.outer_type) && (!m.tagged || is_tag_type(m.ethertype))) {
            return drop(DropReason::kUnknownVlan);
        }
        std::uint16_t domain = t.domain_of(in, m.tagged ? m.vid : 0);
        if (domain == kNoDomain) return drop(DropReason::kUnknownVlan);
        if (!carries_ip_or_arp(m.ethertype)) return drop(DropReason::kNonIp);
        if (m.len - (m.tagged ? kVlanTagLen : 0) > in.max_frame) {
            return drop(DropReason::kOversize);
        }
        TagOp tag = m.tagged ? TagOp::kPop : TagOp::kNone;
        if (is_group(m.dst)) return Step{Verdict::kFlood, DropReason::kCount, tag, kNoPort, domain};
        PortIdx guest = t.find(domain, m.dst);
        if (guest == kNoPort) return drop(DropReason::kUnknownDst);
        return Step{Verdict::kUnicast, DropReason::kCount, tag, guest};
    }
};

}  // namespace vfgate::dataplane
