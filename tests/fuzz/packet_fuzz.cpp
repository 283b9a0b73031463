// libFuzzer target: arbitrary bytes as an Ethernet frame through the parsers the fast path
// runs on every packet (L2, then IPv4/IPv6 and L4). Built with clang, ASan and UBSan by
// tests/fuzz/run.sh; any read outside the frame, overflow or undefined behaviour is a crash.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "antispoof.hpp"
#include "l3l4.hpp"
#include "packet.hpp"

using namespace vfgate::dataplane;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::span<const std::byte> frame(reinterpret_cast<const std::byte*>(data), size);
    L2Meta m;
    parse_l2(frame, m);
    if (m.runt) return 0;
    std::size_t l3 = kEtherHeaderLen + (m.tagged ? kVlanTagLen : 0);
    static const GuestIdentity id = [] {
        GuestIdentity g;
        g.mac = 0x525400123456ULL;
        g.check_ip = true;
        g.n4 = g.n6 = 1;
        g.v4[0] = {10, 0, 0, 5};
        g.v6[0] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
        return g;
    }();
    if (m.ethertype == kEtherArp) static_cast<void>(check_arp(id, frame.subspan(l3)));
    FlowKey k;
    L3Result r = parse_l3l4(m.ethertype, frame.subspan(l3), k);
    if (r == L3Result::kOk || r == L3Result::kLaterFragment) {
        static_cast<void>(check_ip(id, frame.subspan(l3), k));  // ND options included
    }
    // The inline fast path and the general parser agree on every input.
    FlowKey general;
    if (parse_l3l4_general(m.ethertype, frame.subspan(l3), general) != r || !(general == k)) {
        std::abort();
    }
    // What the parser promises, checked on every input.
    if (k.l4_len > size) std::abort();
    if (r == L3Result::kOk && k.family != 4 && k.family != 6) std::abort();
    if (k.has_ports && k.proto != kIpProtoTcp && k.proto != kIpProtoUdp) std::abort();
    if (r == L3Result::kLaterFragment && !k.fragment) std::abort();
    return 0;
}
