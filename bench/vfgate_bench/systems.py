"""The systems measured in software mode, each started for one scenario and read live:
testpmd io forwarding (the framework's bound), vfgate-dataplane, and Open vSwitch with DPDK
(ovs.py). All read the same pcap from memory (net_pcap infinite_rx) and send to a net_null
sink; the forwarding work runs on CPUs 1..workers, everything else on CPU 0."""
import json
import os
import select
import shutil
import socket
import subprocess
import time
from pathlib import Path

import yaml

from . import churn, scenarios, traffic

ROOT = Path(__file__).resolve().parent.parent.parent
MBUF_KIB = 2.5  # one mbuf of the default 2 KiB data room, with its header and mempool overhead


class BenchError(RuntimeError):
    pass


def mbufs_for(scn):
    """The pcap's frames, held by each source queue, plus room for bursts in flight."""
    return churn.frames(scn) * scn.workers + 65536


def memory_mb_for(scn, rules):
    mb = mbufs_for(scn) * MBUF_KIB / 1024 + 256 + rules // 100
    if scn.stateful and rules:
        mb += 100 * scn.workers * (churn.capacity(scn) or 1 << 20) / (1 << 20)  # 100 MiB per 1M
    return int(mb) + 1


def free_hugepage_mb():
    info = Path("/proc/meminfo").read_text()
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    free = int(fields["HugePages_Free"].split()[0])
    size_kb = int(fields["Hugepagesize"].split()[0])
    return free * size_kb // 1024


def need_memory(mb, what):
    free = free_hugepage_mb()
    if mb > free:
        raise BenchError(f"{what} needs {mb} MiB of hugepages, {free} MiB are free: reserve more "
                         f"(sudo scripts/setup --hugepages {(mb + 1023) // 1024 * 512 + 512}) or "
                         f"measure fewer flows")


def built(path, env):
    """A binary of the build: $ENV if set, else PATH under $VFGATE_BUILD (default: the source
    tree's build/), or a BenchError when it isn't there."""
    binary = Path(os.environ.get(env) or Path(os.environ.get("VFGATE_BUILD") or ROOT / "build") / path)
    if not binary.is_file():
        raise BenchError(f"{binary} not found: build first (meson compile -C build), or set "
                         f"VFGATE_BUILD to the build directory ({env} to the binary)")
    return binary


def cpus(workers):
    return list(range(1, workers + 1))


class Testpmd:
    """dpdk-testpmd io forwarding, driven through its prompt (stdbuf: see peers.md)."""
    name = "testpmd-io"

    def __init__(self, scn, pcap, workdir):
        mb = memory_mb_for(scn, 0)
        need_memory(mb, "testpmd")
        lcores = ",".join(str(c) for c in [0] + cpus(scn.workers))
        rx = ",".join([f"rx_pcap={pcap}"] * scn.workers)
        cmd = ["stdbuf", "-oL", "dpdk-testpmd", "-l", lcores, "--main-lcore", "0",
               "--file-prefix", f"vfgate-bench-tp-{os.getpid()}", "--in-memory", "-m", str(mb),
               "--no-pci", "--vdev", f"net_pcap0,{rx},infinite_rx=1", "--vdev", "net_null0,no-rx=1",
               "--", "-i", "--forward-mode=io", f"--total-num-mbufs={mbufs_for(scn)}",
               f"--nb-cores={scn.workers}", f"--rxq={scn.workers}", f"--txq={scn.workers}"]
        self.log = open(Path(workdir) / "testpmd.log", "a")
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.cmd(None, timeout=120)
        self.cmd("start")

    def cmd(self, line, timeout=30):
        if line is not None:
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()
        buf = ""
        deadline = time.time() + timeout
        while not buf.endswith("testpmd> "):
            if time.time() > deadline or self.p.poll() is not None:
                self.log.write(buf)
                raise BenchError(f"testpmd: no prompt (see {self.log.name})")
            r, _, _ = select.select([self.p.stdout], [], [], 0.5)
            if r:
                buf += os.read(self.p.stdout.fileno(), 65536).decode(errors="replace")
        self.log.write(buf)
        return buf

    def counters(self):
        """(source packets received, sink packets sent), drops by reason, cycles per packet."""
        out = self.cmd("show port stats all")
        rx = tx = port = None
        for line in out.splitlines():
            if "NIC statistics for port" in line:
                port = int(line.split("port")[1].split()[0])
            if "TX-packets:" in line and port == 1:
                tx = int(line.split("TX-packets:")[1].split()[0])
            if "RX-packets:" in line and port == 0:
                rx = int(line.split("RX-packets:")[1].split()[0])
        if rx is None or tx is None:
            raise BenchError("testpmd: no port counters in its output")
        return {"rx": rx, "tx": tx, "drops": {}, "busy_cycles": None}

    def close(self):
        try:
            self.cmd("stop")
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(timeout=30)
        except (BenchError, OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()
        self.log.close()


def firewall_for(scn):
    """The sink NIC's firewall YAML (indented for its place), and the rule count."""
    if scn.rules_from:
        fw = scenarios.user_firewall(*scn.rules_from)
        text = yaml.safe_dump({"firewall": fw}, default_flow_style=False)
        rules = sum(len(fw.get(d) or []) for d in ("ingress", "egress"))
        return "".join("        " + line + "\n" for line in text.splitlines()), rules
    if scn.rules == 0:
        return "", 0
    return traffic.firewall_yaml(scn.rules, scn.allowed, scn.stateful), scn.rules


def sink_yaml(sink, fw):
    """The guest of the sink NIC (the `guests` list's entry), `fw` its firewall."""
    return f"""  - name: sink
    nics:
      - name: eth0
        type: dpdk
        devargs: "{sink}"
        mac: "{traffic.DST_MAC}"
{fw}"""


class Vfgate:
    """vfgate-dataplane: the pcap into the uplink, a net_null guest NIC as the sink (synflood:
    two, churn.guests_yaml)."""
    name = "vfgate"

    def __init__(self, scn, pcap, workdir, binary=None, uplink=None, sink=None):
        if scn.traffic == "synflood":
            guests, rules, self.sinks = churn.guests_yaml(scn), 2 * scn.rules, churn.SINKS
        else:
            fw, rules = firewall_for(scn)
            guests, self.sinks = sink_yaml(sink or "net_null0,no-rx=1", fw), ("sink/eth0",)
        mb = memory_mb_for(scn, rules)
        need_memory(mb, "vfgate-dataplane")
        self.sock = f"{workdir}/vfgate.sock"
        self.workers = scn.workers
        self.conntrack = scn.traffic != "steady"
        rx = ",".join([f"rx_pcap={pcap}"] * scn.workers)
        uplink = uplink or f"net_pcap0,{rx},infinite_rx=1"
        capacity = churn.capacity(scn)
        conntrack = f"  conntrack: {{capacity: {capacity}}}\n" if capacity else ""
        cfg = self.config = Path(workdir) / "vfgate.yaml"
        cfg.write_text(f"""version: 1
host: {{name: vfgate-bench}}
dataplane:
  main_core: 0
  worker_cores: {cpus(scn.workers)}
  memory_mb: {mb}
  hugepages: true
  mbufs: {mbufs_for(scn)}
  control_socket: {self.sock}
{conntrack}  uplinks:
    - {{name: up0, device: "{uplink}", rx_queues: {scn.workers}}}
guests:
{guests}""")
        binary = binary or built("dataplane/vfgate-dataplane", "VFGATE_DATAPLANE")
        self.log = open(Path(workdir) / "vfgate.log", "a")
        self.p = subprocess.Popen([str(binary), "--config", str(cfg), "--log-level", "warn"],
                                  stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120 + rules / 1000
        while time.time() < deadline:
            if self.call("status") is not None:
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.1)
        self.close()
        raise BenchError(f"vfgate-dataplane did not come up: {tail(self.log.name)}")

    def call(self, method):
        """A control method's result (no params), or None when it fails."""
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(30)
                s.connect(self.sock)
                s.sendall((json.dumps({"method": method, "params": {}}) + "\n").encode())
                buf = b""
                while not buf.endswith(b"\n"):
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        break
                    buf += chunk
            reply = json.loads(buf)
            return reply["result"] if reply.get("ok") else None
        except (OSError, ValueError):
            return None

    def counters(self):
        """The source's RX, the sinks' TX (summed and each), drops by reason, the workers' busy
        cycles and packets; for churn and synflood, the connection tables' counters."""
        st = self.call("stats")
        if st is None:
            raise BenchError(f"vfgate-dataplane: no stats ({tail(self.log.name)})")
        ports = {p["name"]: p for p in st["ports"]}
        drops = {}
        for p in st["ports"]:
            for reason, n in p["drops"].items():
                drops[reason] = drops.get(reason, 0) + n
        out = {"rx": ports["up0"]["rx_packets"], "tx": sum(ports[p]["tx_packets"] for p in self.sinks),
               "port_tx": {p: ports[p]["tx_packets"] for p in self.sinks},
               "drops": drops, "busy_cycles": sum(w["busy_cycles"] for w in st["workers"]),
               "packets": sum(w["packets"] for w in st["workers"])}
        if self.conntrack:
            ct = self.call("firewall.conntrack")
            if ct is None:
                raise BenchError(f"vfgate-dataplane: no conntrack counters ({tail(self.log.name)})")
            out["conntrack"] = churn.conntrack_totals(ct)
        return out

    def close(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def tail(path, lines=5):
    try:
        return " | ".join(Path(path).read_text().strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def have(tool):
    return shutil.which(tool) is not None
