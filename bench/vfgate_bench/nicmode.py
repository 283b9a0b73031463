"""NIC mode: vfgate-trafgen sends stamped frames into the appliance and receives them back;
the RFC 2544 search (ndr.py) finds the zero-loss rate (NDR) and the rate within a loss
tolerance (PDR); latency percentiles are those of the last passing NDR trial (RFC 2544
measures latency at the throughput rate).

On a host with DPDK ports cabled to the appliance, --tx and --rx name them (devargs or PCI
addresses). Without them it runs end to end here: vfgate-dataplane starts with memif ports
(uplink and the sink NIC) and the generator joins them as memif clients. Those numbers measure
memif copies on a shared CPU, not a NIC; they prove the tool works."""
import json
import os
import select
import subprocess
import tempfile
import time
from pathlib import Path

from . import ndr, progress, report, software, systems, traffic


class Trafgen:
    def __init__(self, pcap, ports, workdir):
        binary = systems.built("bench/vfgate-trafgen", "VFGATE_TRAFGEN")
        cmd = [str(binary), "-l", "0", "--file-prefix", f"vfgate-trafgen-{os.getpid()}",
               "--in-memory", "-m", "256", "--log-level", "*:warning"]
        # Virtual devices by devargs, PCI ports by address (and no PCI scan unless one is used).
        pci = [p for p in ports if not p.startswith("net_")]
        cmd += [a for p in pci for a in ("-a", p)] if pci else ["--no-pci"]
        cmd += [a for p in ports if p.startswith("net_") for a in ("--vdev", p)]
        cmd += ["--", "--pcap", pcap, "--tx", "0", "--rx", "1" if len(ports) > 1 else "0"]
        self.log = open(Path(workdir) / "trafgen.log", "a")
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.log, text=True, bufsize=1)
        hello = self._reply(120)
        if not hello.get("ready"):
            raise systems.BenchError(f"vfgate-trafgen did not start: {systems.tail(self.log.name)}")

    def _reply(self, timeout):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        line = self.p.stdout.readline() if r else ""
        if not line:
            self.log.flush()
            raise systems.BenchError(f"vfgate-trafgen stopped answering: {systems.tail(self.log.name)}")
        reply = json.loads(line)
        if "error" in reply:
            raise systems.BenchError(f"vfgate-trafgen: {reply['error']}")
        return reply

    def trial(self, rate, seconds):
        cmd = f"trial {rate:.6f} {seconds}" if rate else f"max {seconds}"
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self._reply(seconds + 60)

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()
        self.log.close()


class MemifVfgate(systems.Vfgate):
    """vfgate-dataplane with memif ports: the uplink and the sink NIC are memif servers."""

    def __init__(self, scn, workdir):
        self.up_sock, self.sink_sock = f"{workdir}/memif-up.sock", f"{workdir}/memif-sink.sock"
        super().__init__(scn, None, workdir, uplink=f"net_memif0,role=server,socket={self.up_sock},id=0,rsize=14",
                         sink=f"net_memif1,role=server,socket={self.sink_sock},id=0,rsize=14")


def expected_share(scn):
    """The share of the frames the scenario's rules allow (generated rules; else all)."""
    if scn.rules == 0 or scn.rules_from:
        return 1.0
    n = traffic.classes(scn.rules)
    return sum(not traffic.is_denied(c, scn.allowed) for c in range(n)) / n


def measure(scn, args, work, bar):
    pcap = software.pcap_for(scn, Path(work) / "pcaps")
    appliance = None
    if args.tx:
        ports = [args.tx] + ([args.rx] if args.rx else [])
    else:
        appliance = MemifVfgate(scn, work)
        ports = [f"net_memif0,role=client,socket={appliance.up_sock},id=0,rsize=14",
                 f"net_memif1,role=client,socket={appliance.sink_sock},id=0,rsize=14"]
    gen = Trafgen(pcap, ports, work)
    try:
        time.sleep(1)  # memif connects
        probe = gen.trial(0, args.trial)
        max_rate = args.max_rate or probe["offered_mpps"]
        last = {}

        def run_trial(rate, kind):
            """(sent, received) of a trial, the frames the rules denied (intended drops) left
            out: read from vfgate's counters when it runs here, else from the allowed share."""
            bar.step(f"{scn.key} {kind} trial at {rate:.3f} Mpps")
            before = appliance.counters()["drops"] if appliance else None
            r = gen.trial(rate, args.trial)
            if appliance:
                after = appliance.counters()["drops"]
                intended = after.get("firewall", 0) - before.get("firewall", 0)
                last.setdefault("drops", []).append(
                    {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)})
                sent = r["sent"] - intended
            else:
                sent = round(r["sent"] * expected_share(scn))
            if kind == "NDR" and r["received"] >= sent:
                last["ndr"] = r
            return sent, min(r["received"], sent)
        found = ndr.search(lambda rate: run_trial(rate, "NDR"), max_rate, 0.0, args.resolution)
        pdr = ndr.search(lambda rate: run_trial(rate, "PDR"), max_rate, args.pdr, args.resolution,
                         floor=found.rate)
    finally:
        gen.close()
        if appliance:
            appliance.close()
    lat = last.get("ndr", {}).get("latency_ns", {})
    return {"ndr_mpps": found.rate, "pdr_mpps": pdr.rate, "pdr_tolerance": args.pdr,
            "max_offered_mpps": max_rate,
            "gbps": found.rate * (traffic.mean_size(scn.size) + 20) * 8 / 1000,
            "latency_us": {k: v / 1000 for k, v in lat.items()},
            "trials": [{"rate_mpps": t.rate, "loss": t.loss} for t in found.trials + pdr.trials],
            "appliance_drops": last.get("drops", [])}


def run(scenarios, args):
    work = args.workdir or tempfile.mkdtemp(prefix="vfgate-bench-nic-")
    (Path(work) / "pcaps").mkdir(parents=True, exist_ok=True)
    bar = progress.Progress(len(scenarios) * args.reps)
    summary, raw = [], []
    for scn in scenarios:
        reps = []
        for rep in range(args.reps):
            r = measure(scn, args, work, bar)
            raw.append({"rep": rep, "scenario": scn.key, "system": "vfgate", **r})
            reps.append(r)
            bar.done(f"{scn.key:<36} NDR {r['ndr_mpps']:.3f} Mpps, PDR {r['pdr_mpps']:.3f} Mpps")
        best = sorted(reps, key=lambda r: r["ndr_mpps"])[len(reps) // 2]  # the median rep
        summary.append({"scenario": scn, "results": {"vfgate": {k: v for k, v in best.items() if k != "trials"}}})
    return report.document("nic", summary, raw, {"reps": args.reps, "trial_s": args.trial,
                                                 "pdr_tolerance": args.pdr, "resolution": args.resolution,
                                                 "ports": "external" if args.tx else "memif"})
