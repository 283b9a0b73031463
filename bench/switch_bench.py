#!/usr/bin/env python3
"""The switch alone on one worker, against dpdk-testpmd io forwarding on the same input.

Method (as ../shared/peers.md measured the peers on this machine): 64-byte UDP frames replayed
from memory (net_pcap rx_pcap=FILE,infinite_rx=1) into the uplink, forwarded to a guest NIC that
is a net_null sink (no-rx=1). Forwarded Mpps is the sink's TX delta over --dur seconds after
--warm seconds. The forwarding core is CPU 1, everything else CPU 0. Reps are the outer loop;
the table shows medians and the ratio vfgate / testpmd-io measured in the same run.

    sudo bench/switch_bench.py                       # 3 reps x (3 s + 10 s), 1, 1k, 64k flows
    sudo bench/switch_bench.py --reps 1 --dur 3 --warm 1 --flows 1024
"""
import argparse
import json
import os
import select
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DST_MAC = "02:00:00:00:00:02"
SRC_MAC = "02:00:00:00:00:01"


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def csum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


def gen_pcap(path, flows, size=64):
    """peers.md's gen_pcap: flow i: dst 198.19.0.(c/4+1), dport (53,80,443,8080)[c%4],
    src 198.18.0.(i/1000+1), sport 10000+i%20000, c = i%1000. `size` on the wire, FCS excluded."""
    frame_len = size - 4
    payload = frame_len - 14 - 20 - 8
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(flows):
            c = i % 1000
            src = bytes([198, 18, 0, i // 1000 + 1])
            dst = bytes([198, 19, 0, c // 4 + 1])
            dport = (53, 80, 443, 8080)[c % 4]
            sport = 10000 + i % 20000
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + payload, 0, 0, 64, 17, 0, src, dst)
            ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
            udp = struct.pack("!HHHH", sport, dport, 8 + payload, 0)
            frame = mac(DST_MAC) + mac(SRC_MAC) + b"\x08\x00" + ip + udp + bytes(payload)
            f.write(struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame)


class Testpmd:
    """dpdk-testpmd io forwarding, driven through its prompt (stdbuf: see peers.md pitfalls)."""

    def __init__(self, pcap, prefix):
        cmd = ["stdbuf", "-oL", "dpdk-testpmd", "-l", "0,1", "--main-lcore", "0",
               "--file-prefix", prefix, "--in-memory", "-m", "1024", "--no-pci",
               "--vdev", f"net_pcap0,rx_pcap={pcap},infinite_rx=1", "--vdev", "net_null0,no-rx=1",
               "--", "-i", "--forward-mode=io", "--total-num-mbufs=200000", "--nb-cores=1"]
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.out = ""
        self.cmd(None, timeout=60)

    def cmd(self, line, timeout=20):
        if line is not None:
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()
        buf = ""
        deadline = time.time() + timeout
        while not buf.endswith("testpmd> "):
            if time.time() > deadline or self.p.poll() is not None:
                raise RuntimeError("testpmd: no prompt; output:\n" + self.out + buf)
            r, _, _ = select.select([self.p.stdout], [], [], 0.5)
            if r:
                ch = os.read(self.p.stdout.fileno(), 65536).decode(errors="replace")
                buf += ch
        self.out += buf
        return buf

    def counters(self):
        out = self.cmd("show port stats all")
        tx = rx = None
        port = None
        for line in out.splitlines():
            if "NIC statistics for port" in line:
                port = int(line.split("port")[1].split()[0])
            if "TX-packets:" in line and port == 1:
                tx = int(line.split("TX-packets:")[1].split()[0])
            if "RX-packets:" in line and port == 0:
                rx = int(line.split("RX-packets:")[1].split()[0])
        return rx, tx

    def close(self):
        try:
            self.cmd("stop")
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(timeout=30)
        except Exception:
            self.p.kill()
            self.p.wait()


class Vfgate:
    """vfgate-dataplane: the pcap into the uplink, a net_null guest NIC as the sink. `nic_extra`
    is YAML for the NIC's mapping (a firewall), `dataplane_extra` for the dataplane section."""

    def __init__(self, pcap, workdir, nic_extra="", dataplane_extra=""):
        self.sock = f"{workdir}/bench.sock"
        cfg = Path(workdir) / "bench.yaml"
        cfg.write_text(f"""version: 1
host: {{name: bench}}
dataplane:
  main_core: 0
  worker_cores: [1]
  memory_mb: 1024
  hugepages: true
  mbufs: 200000
  control_socket: {self.sock}
{dataplane_extra}  uplinks:
    - {{name: up0, device: "net_pcap0,rx_pcap={pcap},infinite_rx=1"}}
guests:
  - name: sink
    nics:
      - name: eth0
        type: dpdk
        devargs: "net_null0,no-rx=1"
        mac: "{DST_MAC}"
{nic_extra}""")
        self.log = open(Path(workdir) / "vfgate.log", "w")
        self.p = subprocess.Popen([str(ROOT / "build/dataplane/vfgate-dataplane"), "--config",
                                   str(cfg), "--log-level", "warn"], stdout=self.log,
                                  stderr=subprocess.STDOUT)
        for _ in range(600):
            if self.call("status") is not None:
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("vfgate-dataplane did not come up; see " + self.log.name)

    def call(self, method, params=None):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(30)
            s.connect(self.sock)
            s.sendall((json.dumps({"method": method, "params": params or {}}) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                buf += chunk
            s.close()
            reply = json.loads(buf)
            return reply["result"] if reply.get("ok") else None
        except OSError:
            return None

    def counters(self):
        st = self.call("stats")
        ports = {p["name"]: p for p in st["ports"]}
        self.worker = st["workers"][0]
        self.drops = ports["up0"]["drops"]
        return ports["up0"]["rx_packets"], ports["sink/eth0"]["tx_packets"]

    def close(self):
        self.p.terminate()
        self.p.wait(timeout=30)
        self.log.close()


def measure(system, warm, dur):
    time.sleep(warm)
    rx0, tx0 = system.counters()
    t0 = time.time()
    time.sleep(dur)
    rx1, tx1 = system.counters()
    dt = time.time() - t0
    return (rx1 - rx0) / dt / 1e6, (tx1 - tx0) / dt / 1e6


def compare(args, flows, make_vfgate, label):
    """Reps x flows x (testpmd io, vfgate): the raw rows, printed as they come, then a table."""
    work = tempfile.mkdtemp(prefix="vfgate-bench-")
    pcaps = {}
    for f in flows:
        pcaps[f] = f"{work}/udp64_f{f}.pcap"
        gen_pcap(pcaps[f], f)
    raw = []
    for rep in range(args.reps):
        for f in flows:
            for name in ("testpmd-io", label):
                sysm = Testpmd(pcaps[f], f"vfgate-bench-tp-{os.getpid()}") if name == "testpmd-io" \
                    else make_vfgate(pcaps[f], work)
                if name == "testpmd-io":
                    sysm.cmd("start")
                try:
                    rx, tx = measure(sysm, args.warm, args.dur)
                    row = {"rep": rep, "flows": f, "system": name, "rx_mpps": rx, "mpps": tx}
                    if name != "testpmd-io":
                        row["cycles_per_packet"] = sysm.worker["cycles_per_packet"]
                        row["drops"] = {k: v for k, v in sysm.drops.items() if v}
                    raw.append(row)
                    print(f"rep {rep} flows {f:>6} {name:>10}: {tx:6.2f} Mpps forwarded "
                          f"({rx:6.2f} Mpps offered)", flush=True)
                finally:
                    sysm.close()
    print()
    print(f"{'flows':>6}  {'testpmd io Mpps':>15}  {label + ' Mpps':>15}  {'offered':>7}  "
          f"{'ratio':>5}  {'cycles/pkt':>10}")
    for f in flows:
        def med(system, key):
            return statistics.median(r[key] for r in raw if r["flows"] == f and r["system"] == system)
        tp, vf = med("testpmd-io", "mpps"), med(label, "mpps")
        print(f"{f:>6}  {tp:>15.2f}  {vf:>15.2f}  {med(label, 'rx_mpps'):>7.2f}  {vf / tp:>5.2f}  "
              f"{med(label, 'cycles_per_packet'):>10.1f}")
    return raw


def check_env(name):
    if os.geteuid() != 0:
        sys.exit(f"{name}: run as root (hugepages, DPDK)")
    if not (ROOT / "build/dataplane/vfgate-dataplane").exists():
        sys.exit(f"{name}: build first (meson setup build && meson compile -C build)")
    os.sched_setaffinity(0, {0})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flows", default="1,1024,65536")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warm", type=float, default=3)
    ap.add_argument("--dur", type=float, default=10)
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args()
    check_env("switch_bench")
    flows = [int(f) for f in args.flows.split(",")]
    raw = compare(args, flows, lambda pcap, work: Vfgate(pcap, work), "vfgate")
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
