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

    // The verdict is written in place: returning a Step by value cost a store-forwarding stall
    // per packet (partial stores, wide reload) and a call.
    static void set(Step& s, Verdict v, DropReason r, TagOp tag, PortIdx out, std::uint16_t domain,
                    std::uint16_t vlan) noexcept {
        s.verdict = v;
        s.reason = r;
        s.tag = tag;
        s.out = out;
        s.domain = domain;
        s.vlan = vlan;
    }
    static void drop(Step& s, DropReason r) noexcept {
        set(s, Verdict::kDrop, r, TagOp::kNone, kNoPort, kNoDomain, 0);
    }

    // The last MAC lookup of a burst: consecutive frames to one guest skip the hash probe and
    // most checks (the common case, first in from_guest and from_uplink). The common case relies
    // on where find() is called: only for a unicast MAC that passed every check before it (so
    // never a group MAC, nor from a guest its own), and from a guest only in its domain.
    struct Memo {
        std::uint16_t domain = kNoDomain;
        MacBits mac = ~MacBits{0};  // no frame's: a MAC has 48 bits
        PortIdx port = kNoPort;

        PortIdx find(const SwitchTable& t, std::uint16_t d, MacBits m) noexcept {
            if (d != domain || m != mac) {
                domain = d;
                mac = m;
                port = t.find(d, m);
            }
            return port;
        }
    };

    template <PortRole kFrom>
    static void run(Burst& b, const SwitchTable& t) noexcept {
        const PortInfo& in = t.port(b.in);
        Memo memo;
        if constexpr (kFrom == PortRole::kGuest) {
            for (std::uint16_t i = 0; i < b.count; ++i) {
                from_guest(b.meta[i], in, t, memo, b.step[i]);
            }
        } else {
            const std::uint16_t untagged = t.domain_of(in, 0);  // once per burst
            for (std::uint16_t i = 0; i < b.count; ++i) {
                from_uplink(b.meta[i], in, untagged, t, memo, b.step[i]);
            }
        }
    }

    [[gnu::always_inline]] static void from_guest(const L2Meta& m, const PortInfo& in,
                                                  const SwitchTable& t, Memo& memo,
                                                  Step& s) noexcept {
        // The common case first, decided with few branches: an untagged IP or ARP frame (so no
        // runt) from the NIC's own MAC, of a size that fits, to the MAC the last lookup was for
        // (in the NIC's domain; neither a group MAC nor the NIC's own).
        if (carries_ip_or_arp(m.outer_type) && m.dst == memo.mac && m.src == in.mac &&
            m.len <= in.max_frame) {
            return to_local_or_uplink(s, memo.port, in);
        }
        if (m.runt) return drop(s, DropReason::kRunt);
        if (is_tag_type(m.outer_type)) return drop(s, DropReason::kGuestTagged);
        if (m.src != in.mac) return drop(s, DropReason::kSpoofedMac);
        if (m.dst == in.mac) return drop(s, DropReason::kToOwnMac);
        if (!carries_ip_or_arp(m.ethertype)) return drop(s, DropReason::kNonIp);
        if (m.len > in.max_frame) return drop(s, DropReason::kOversize);
        if (is_group(m.dst)) {
            return set(s, Verdict::kFlood, DropReason::kCount, to_uplink(in), kNoPort, in.domain,
                       in.vlan);
        }
        to_local_or_uplink(s, memo.find(t, in.domain, m.dst), in);
    }

    // A guest's unicast frame: to the NIC of its domain that has the MAC, untagged, or else
    // (unknown unicast) to the uplink with the NIC's access VLAN pushed.
    static void to_local_or_uplink(Step& s, PortIdx local, const PortInfo& in) noexcept {
        if (local != kNoPort) {
            return set(s, Verdict::kUnicast, DropReason::kCount, TagOp::kNone, local, kNoDomain, 0);
        }
        set(s, Verdict::kUnicast, DropReason::kCount, to_uplink(in), in.uplink, kNoDomain, in.vlan);
    }

    // What a guest's frame toward its uplink needs: its access VLAN pushed, if it has one.
    static TagOp to_uplink(const PortInfo& in) noexcept {
        return in.vlan != 0 ? TagOp::kPush : TagOp::kNone;
    }

    [[gnu::always_inline]] static void from_uplink(const L2Meta& m, const PortInfo& in,
                                                   std::uint16_t untagged, const SwitchTable& t,
                                                   Memo& memo, Step& s) noexcept {
        // The common case first, decided with few branches: an untagged IP or ARP frame (so no
        // runt) of a size that fits, to the guest the last lookup found in the untagged domain
        // (so not a group MAC).
        if (carries_ip_or_arp(m.outer_type) && m.dst == memo.mac && memo.domain == untagged &&
            memo.port != kNoPort && m.len <= in.max_frame) {
            return to_guest(s, memo.port, TagOp::kNone);
        }
        if (m.runt) return drop(s, DropReason::kRunt);
        // Only single 802.1Q tags are VLANs here; S-tags and stacked tags are no VLAN of ours.
        if (is_tag_type(m.outer_type) && (!m.tagged || is_tag_type(m.ethertype))) {
            return drop(s, DropReason::kUnknownVlan);
        }
        std::uint16_t domain = m.tagged ? t.domain_of(in, m.vid) : untagged;
        if (domain == kNoDomain) return drop(s, DropReason::kUnknownVlan);
        if (!carries_ip_or_arp(m.ethertype)) return drop(s, DropReason::kNonIp);
        if (m.len - (m.tagged ? kVlanTagLen : 0) > in.max_frame) {
            return drop(s, DropReason::kOversize);
        }
        TagOp tag = m.tagged ? TagOp::kPop : TagOp::kNone;
        if (is_group(m.dst)) {
            return set(s, Verdict::kFlood, DropReason::kCount, tag, kNoPort, domain, 0);
        }
        PortIdx guest = memo.find(t, domain, m.dst);
        if (guest == kNoPort) return drop(s, DropReason::kUnknownDst);
        to_guest(s, guest, tag);
    }

    // An uplink's unicast frame to the guest NIC that has its MAC.
    static void to_guest(Step& s, PortIdx guest, TagOp tag) noexcept {
        set(s, Verdict::kUnicast, DropReason::kCount, tag, guest, kNoDomain, 0);
    }
};

}  // namespace vfgate::dataplane
