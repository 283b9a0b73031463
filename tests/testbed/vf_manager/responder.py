#!/usr/bin/env python3
"""The host end of VLAN 100 on the testbed's tap, where the kernel has no 802.1Q devices:
answers ARP for 10.0.100.1 and ICMP echo to it, tagged with VLAN 100 only when asked tagged,
and logs the VLAN of every frame from the MACs it watches ("frame SRC vlan N|none").

    responder.py LOG MAC...     (tests/testbed/vm_launcher uses it too, through a symlink)

The kernel moves a received 802.1Q tag out of the frame into packet metadata, so the tag is
read from PACKET_AUXDATA (as libpcap does), not from the bytes."""
import socket
import struct
import sys

IFACE, HOST_IP, VID = "tbtap0", socket.inet_aton("10.0.100.1"), 100
SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID = 263, 8, 0x10
WATCH = {bytes.fromhex(m.replace(":", "")) for m in sys.argv[2:]}


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


def main():
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind((IFACE, 0))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    mac = s.getsockname()[4]
    log = open(sys.argv[1], "a", buffering=1)
    while True:
        f, anc, _, _ = s.recvmsg(2048, socket.CMSG_SPACE(32))
        src, etype = f[6:12], struct.unpack("!H", f[12:14])[0]
        vid, off = None, 14
        for level, kind, data in anc:
            if level == SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= 20:
                status, _, _, _, _, tci = struct.unpack("=IIIHHH", data[:18])
                if status & TP_STATUS_VLAN_VALID:
                    vid = tci & 0x0FFF
        if vid is None and etype == 0x8100:
            vid = struct.unpack("!H", f[14:16])[0] & 0x0FFF
            etype = struct.unpack("!H", f[16:18])[0]
            off = 18
        if src in WATCH:
            log.write(f"frame {src.hex(':')} vlan {vid if vid is not None else 'none'}\n")
        if vid != VID:
            continue
        tag = struct.pack("!HH", 0x8100, VID)
        body = f[off:]
        if etype == 0x0806 and body[6:8] == b"\0\1" and body[24:28] == HOST_IP:
            arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, mac, HOST_IP, body[8:14], body[14:18])
            s.send(src + mac + tag + b"\x08\x06" + arp)
            log.write("arp reply\n")
        elif etype == 0x0800 and body[9] == 1 and body[16:20] == HOST_IP:
            ihl = (body[0] & 0x0F) * 4
            icmp = body[ihl:]
            if icmp[0] != 8:
                continue
            reply = b"\0\0\0\0" + icmp[4:]
            reply = reply[:2] + struct.pack("!H", checksum(reply)) + reply[4:]
            ip = bytearray(body[:ihl])
            ip[12:16], ip[16:20] = body[16:20], body[12:16]
            ip[10:12] = b"\0\0"
            ip[10:12] = struct.pack("!H", checksum(bytes(ip)))
            s.send(src + mac + tag + b"\x08\x00" + bytes(ip) + reply)
            log.write("echo reply\n")


main()
