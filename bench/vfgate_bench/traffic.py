"""Traffic and rule sets, shaped as ../shared/peers.md's so that results compare with its peers.

Flow i (c = i mod M, M = the number of rule-matching flow classes, 1000 by default) runs
UDP from 198.18.0.h:p to 198.19.0.(c/4+1):(53, 80, 443, 8080)[c%4], MACs 02:00:00:00:00:01 ->
02:00:00:00:00:02, where
  - i < 250,000: h = i/1000+1, p = 10000+i%20000 (exactly peers.md's gen_pcap.py);
  - beyond, j = i-250,000: h = j%250+1, p = 30000+j/250 (distinct from the above and each
    other up to 1M flows, and still in 198.18.0.0/24, which every generated rule's source
    prefix covers: the allowed share holds at any flow count).
Generated rule c matches flow class c (so M = min(rules, 1000)); rules past 1000 have
destinations no flow uses (they make the classifier big without being hit).
"""
import struct

SRC_MAC = "02:00:00:00:00:01"
DST_MAC = "02:00:00:00:00:02"
PORTS = (53, 80, 443, 8080)
IMIX = (64,) * 7 + (570,) * 4 + (1518,)  # the simple IMIX: 7:4:1 (sizes on the wire)
MIN_SIZE, MAX_SIZE = 64, 1518


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def csum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


def classes(rules):
    """How many flow classes the traffic cycles through for a rule count (0: no rules)."""
    return min(rules, 1000) if rules > 0 else 1000


def dst_of(c):
    return bytes([198, 19, 0, c // 4 + 1])  # c < 1000


def source(i):
    """Flow i's source address and port."""
    if i < 250_000:
        host, sport = i // 1000 + 1, 10000 + i % 20000
    else:
        host, sport = (i - 250_000) % 250 + 1, 30000 + (i - 250_000) // 250
    return bytes([198, 18, 0, host]), sport


def ipv4(proto, src, dst, length):
    """An IPv4 header (no options, checksum set) before `length` bytes of `proto`."""
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, 0, 0, 64, proto, 0, src, dst)
    return ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]


def frame(i, size, n_classes):
    """Flow i's frame of `size` bytes on the wire (FCS excluded from what is stored)."""
    c = i % n_classes
    src, sport = source(i)
    payload = size - 4 - 14 - 20 - 8
    udp = struct.pack("!HHHH", sport, PORTS[c % 4], 8 + payload, 0)
    return (mac(DST_MAC) + mac(SRC_MAC) + b"\x08\x00" + ipv4(17, src, dst_of(c), 8 + payload) + udp +
            bytes(payload))


def tcp_frame(dst_mac, src, sport, dst, dport, flags, size):
    """A TCP segment without data, `flags` set (checksums too), from SRC_MAC to `dst_mac`,
    padded to `size` bytes on the wire as a short frame is."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 65535, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    eth = mac(dst_mac) + mac(SRC_MAC) + b"\x08\x00" + ipv4(6, src, dst, len(tcp)) + tcp
    return eth + bytes(size - 4 - len(eth))


def sizes_of(size):
    """The frame sizes a scenario's `size` stands for: one size, or IMIX's cycle."""
    return IMIX if size == "imix" else (int(size),)


def frames_needed(flows, size):
    """Frames in the pcap: every flow once; for IMIX, at least one full 7:4:1 cycle."""
    return max(flows, len(sizes_of(size)))


def write_pcap(path, frames):
    """A pcap of `frames` (each the bytes of one Ethernet frame, FCS excluded)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for fr in frames:
            f.write(struct.pack("<IIII", 0, 0, len(fr), len(fr)) + fr)


def gen_pcap(path, flows, size, n_classes):
    """A pcap of every flow once (IMIX: frame k has IMIX[k % 12] bytes, flow k % flows)."""
    sizes = sizes_of(size)
    write_pcap(path, (frame(k % flows, sizes[k % len(sizes)], n_classes)
                      for k in range(frames_needed(flows, size))))


def mean_size(size):
    s = sizes_of(size)
    return sum(s) / len(s)


def is_denied(c, allowed_share):
    """Generated rule c denies when the allowed share leaves it out: denials spread evenly, so
    that any count of consecutive classes has the share (0.9: every 10th denies)."""
    deny = 1.0 - allowed_share
    return int((c + 1) * deny + 1e-9) > int(c * deny + 1e-9)


def rule(c, allowed_share):
    """Generated rule c (a dict in config-v1's rule shape)."""
    prefix = (16, 20, 24)[c % 3]
    dst = dst_of(c) if c < 1000 else bytes([10, (c >> 16) & 255, (c >> 8) & 255, c & 255])
    return {"id": f"r{c}", "action": "deny" if is_denied(c, allowed_share) else "allow",
            "proto": "udp", "src": f"198.18.0.0/{prefix}", "dst": ".".join(map(str, dst)) + "/32",
            "dst_port": PORTS[c % 4]}


def rule_yaml(r):
    return ("            - {" + ", ".join(f"{k}: {v}" for k, v in r.items()) + "}\n")


def firewall_yaml(rules, allowed_share, stateful, first=()):
    """The sink NIC's firewall: the rules `first`, then `rules` generated ingress rules,
    default deny."""
    return (f"        firewall:\n          stateful: {'true' if stateful else 'false'}\n"
            f"          ingress_default: deny\n          ingress:\n" +
            "".join(rule_yaml(r) for r in first) +
            "".join(rule_yaml(rule(c, allowed_share)) for c in range(rules)))
