#!/usr/bin/env bash
# Builds the packet parser fuzz target with clang (libFuzzer, ASan, UBSan) and runs it for a
# bounded time from a small seed corpus. Exit 0 when no crash was found.
#
#   tests/fuzz/run.sh SOURCE_ROOT BUILD_DIR [SECONDS]
set -euo pipefail
src=$1 build=$2 seconds=${3:-30}
out=$build/fuzz
mkdir -p "$out/corpus"
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I "$src/dataplane/core" -I "$src/config/include" -I "$src/common/include" \
    "$src/tests/fuzz/packet_fuzz.cpp" "$src/dataplane/core/l3l4.cpp" \
    "$src/dataplane/core/antispoof.cpp" "$src/common/core/net_types.cpp" \
    -o "$out/packet_fuzz"
# Seeds: IPv4 TCP/UDP/ICMP, a VLAN-tagged frame, IPv6 with extension headers, fragments.
python3 - "$out/corpus" <<'PY'
import struct, sys, os
d = sys.argv[1]
eth = lambda t: bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + struct.pack('!H', t)
def v4(proto, l4, frag=0):
    return struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), 1, frag, 64, proto, 0, bytes(4), bytes(4)) + l4
def v6(nh, rest):
    return struct.pack('!IHBB', 0x60000000, len(rest), nh, 64) + bytes(32) + rest
tcp = struct.pack('!HHIIBBHHH', 1, 2, 0, 0, 0x50, 2, 0, 0, 0)
udp = struct.pack('!HHHH', 1, 53, 8, 0)
seeds = {
    'v4tcp': eth(0x0800) + v4(6, tcp), 'v4udp': eth(0x0800) + v4(17, udp),
    'v4icmp': eth(0x0800) + v4(1, bytes([8, 0, 0, 0, 0, 1, 0, 1])),
    'vlan': bytes(12) + struct.pack('!HH', 0x8100, 100) + struct.pack('!H', 0x0800) + v4(17, udp),
    'v4frag': eth(0x0800) + v4(17, bytes(16), 0x0002),
    'v6ext': eth(0x86dd) + v6(0, bytes([60, 0]) + bytes(6) + bytes([6, 0]) + bytes(6) + tcp),
    'v6frag': eth(0x86dd) + v6(44, bytes([17, 0, 0, 1, 0, 0, 0, 7]) + udp),
    'na': eth(0x86dd) + v6(58, bytes([136, 0, 0, 0, 0, 0, 0, 0]) + bytes(16) + bytes([2, 1]) + bytes(6)),
    'arp': eth(0x0806) + struct.pack('!HHBBH', 1, 0x0800, 6, 4, 1) + bytes(20),
}
for name, b in seeds.items():
    open(os.path.join(d, name), 'wb').write(b)
PY
"$out/packet_fuzz" -max_total_time="$seconds" -max_len=2048 -print_final_stats=1 \
    -artifact_prefix="$out/" "$out/corpus" 2>&1 | tail -n 15
