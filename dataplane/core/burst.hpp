#pragma once
// A burst of packets from one port, as the stages see it: the parsed metadata of each packet,
// its bytes, and the step each stage decided for it. The DPDK adapter keeps the mbufs alongside, at
// the same indexes; stages never touch mbufs, never free and never send.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "drop_reason.hpp"
#include "packet.hpp"
#include "switch_table.hpp"

namespace vfgate::dataplane {

inline constexpr std::uint16_t kBurstSize = 32;

enum class Verdict : std::uint8_t { kDrop, kUnicast, kFlood };
enum class TagOp : std::uint8_t { kNone, kPush, kPop };

struct Step {
    Verdict verdict = Verdict::kDrop;
    DropReason reason = DropReason::kCount;  // kDrop
    TagOp tag = TagOp::kNone;                // unicast; for a flood, how the frame arrived
    PortIdx out = kNoPort;                   // kUnicast
    std::uint16_t domain = kNoDomain;        // kFlood
    std::uint16_t vlan = 0;                  // the VLAN to push (kPush)
};

struct Burst {
    PortIdx in = kNoPort;
    std::uint16_t count = 0;
    std::array<L2Meta, kBurstSize> meta;
    std::array<Step, kBurstSize> step;
    // Each packet's bytes from its Ethernet header (the first segment): what the firewall
    // parses past L2.
    std::array<std::span<const std::byte>, kBurstSize> frame;
};

}  // namespace vfgate::dataplane
