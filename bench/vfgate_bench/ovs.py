"""Open vSwitch with the DPDK datapath as a peer (`--peers ovs`), run as ../shared/peers.md
runs it: ovsdb-server and Debian's ovs-vswitchd-dpdk started by the benchmark as its own
children, in the run's work directory (nothing on the host's own OVS is touched), one PMD on
CPU 1 and every other thread on CPU 0, the same pcap source and net_null sink. Flows equivalent
to the scenario: an L2 forward (no rules), peers.md's `acl` (stateless) or `acl_ct` (stateful:
the rules apply to new connections, established ones go straight out)."""
import os
import re
import subprocess
import time
from pathlib import Path

from . import systems, traffic

VSWITCHD = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


def flows(scn):
    """The OpenFlow table of a scenario, as ovs-ofctl reads it."""
    if scn.rules_from:
        raise systems.BenchError("the ovs peer measures generated rules only, not a user's config")
    out = "table=0,priority=0,actions=drop\n"
    if scn.rules == 0:
        return out + f"table=0,priority=10,in_port=1,dl_dst={traffic.DST_MAC},actions=output:2\n"
    table = 1 if scn.stateful else 0
    if scn.stateful:
        out += ("table=0,priority=10,ip,ct_state=-trk,actions=ct(table=1)\n"
                "table=1,priority=0,actions=drop\n"
                f"table=1,priority={scn.rules + 10},ct_state=+trk+est,actions=output:2\n")
    allow = "ct(commit),output:2" if scn.stateful else "output:2"
    new = ",ct_state=+trk+new" if scn.stateful else ""
    for c in range(scn.rules):
        r = traffic.rule(c, scn.allowed)
        action = allow if r["action"] == "allow" else "drop"
        out += (f"table={table},priority={scn.rules - c + 1}{new},in_port=1,udp,nw_src={r['src']},"
                f"nw_dst={r['dst']},tp_dst={r['dst_port']},actions={action}\n")
    return out


class Ovs:
    name = "ovs-dpdk"

    def __init__(self, scn, pcap, workdir):
        for tool in (VSWITCHD, SCHEMA):
            if not Path(tool).exists():
                raise systems.BenchError(f"{tool} not found: the ovs peer needs Debian's "
                                         "openvswitch-switch-dpdk (scripts/setup --peers installs it)")
        if scn.workers != 1:
            raise systems.BenchError("the ovs peer runs one PMD (workers: 1)")
        frames = traffic.frames_needed(scn.flows, scn.size)
        mem = max(1024, 900 + frames * 3 // 1024)
        systems.need_memory(mem, "ovs-vswitchd")
        self.dir = Path(workdir) / f"ovs-{os.getpid()}-{time.monotonic_ns()}"
        self.dir.mkdir(parents=True)
        self.env = {**os.environ, "OVS_RUNDIR": str(self.dir), "OVS_LOGDIR": str(self.dir),
                    "OVS_DBDIR": str(self.dir), "OVS_SYSCONFDIR": str(self.dir)}
        self.db = f"unix:{self.dir}/db.sock"
        self.procs = []
        try:
            self._run(["ovsdb-tool", "create", f"{self.dir}/conf.db", SCHEMA])
            self._spawn(["ovsdb-server", f"{self.dir}/conf.db", f"--remote=punix:{self.dir}/db.sock",
                         f"--unixctl={self.dir}/ovsdb.ctl", f"--log-file={self.dir}/ovsdb.log"])
            self._wait_for(Path(self.dir) / "db.sock")
            self.vsctl("--no-wait", "init")
            self.vsctl("--no-wait", "set", "Open_vSwitch", ".", "other_config:dpdk-init=true",
                       "other_config:dpdk-lcore-mask=0x1", "other_config:pmd-cpu-mask=0x2",
                       f"other_config:dpdk-socket-mem={mem}",
                       f'other_config:dpdk-extra="--no-pci --file-prefix=vfgate-bench-ovs-{os.getpid()}"')
            self.vswitchd = self._spawn([VSWITCHD, self.db, f"--unixctl={self.dir}/vswitchd.ctl",
                                         f"--log-file={self.dir}/vswitchd.log"])
            self.vsctl("--timeout=120", "add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev")
            self.vsctl("--timeout=120", "add-port", "br0", "p0", "--", "set", "Interface", "p0", "type=dpdk",
                       f"options:dpdk-devargs=net_pcap_src0,rx_pcap={pcap},infinite_rx=1", "ofport_request=1")
            self.vsctl("--timeout=60", "add-port", "br0", "p1", "--", "set", "Interface", "p1", "type=dpdk",
                       "options:dpdk-devargs=net_null_sink0,no-rx=1", "ofport_request=2")
            (self.dir / "flows.txt").write_text(flows(scn))
            self.ofctl("replace-flows", str(self.dir / "flows.txt"), opts=("--bundle",))
            self._pin()
        except BaseException:
            self.close()
            raise

    def _run(self, argv, timeout=180):
        r = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise systems.BenchError(f"ovs peer: {' '.join(argv[:3])}...: {r.stderr.strip()[-400:]} "
                                     f"(logs in {self.dir})")
        return r.stdout

    def _spawn(self, argv):
        log = open(self.dir / (Path(argv[0]).name + ".out"), "w")
        p = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((p, log))
        return p

    def _wait_for(self, path, timeout=30):
        deadline = time.time() + timeout
        while not path.exists():
            if time.time() > deadline:
                raise systems.BenchError(f"ovs peer: {path} did not appear")
            time.sleep(0.1)

    def vsctl(self, *args):
        return self._run(["ovs-vsctl", f"--db={self.db}", *args])

    def ofctl(self, cmd, *args, opts=()):
        """ovs-ofctl COMMAND on br0 (through its management socket in the work directory)."""
        return self._run(["ovs-ofctl", "-O", "OpenFlow14", *opts, cmd, f"unix:{self.dir}/br0.mgmt", *args])

    def _pin(self):
        """peers.md: the PMD alone on CPU 1; the main, handler, revalidator and DPDK control
        threads (which DPDK puts outside the lcore mask, i.e. on CPU 1) on CPU 0."""
        for task in Path(f"/proc/{self.vswitchd.pid}/task").iterdir():
            name = (task / "comm").read_text().strip()
            if not name.startswith("pmd"):
                try:
                    os.sched_setaffinity(int(task.name), {0})
                except OSError:
                    pass

    def counters(self):
        out = self.ofctl("dump-ports")
        rx = tx = None
        for m in re.finditer(r"port\s+(\d+): rx pkts=(\d+).*?tx pkts=(\d+)", out, re.S):
            if m.group(1) == "1":
                rx = int(m.group(2))
            if m.group(1) == "2":
                tx = int(m.group(3))
        if rx is None or tx is None:
            raise systems.BenchError(f"ovs peer: no port counters in: {out[:300]}")
        return {"rx": rx, "tx": tx, "drops": {}, "busy_cycles": None}

    def close(self):
        for p, log in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            log.close()
        self.procs = []
