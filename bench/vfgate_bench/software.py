"""Software mode: every system reads the same pcap from memory, so the switch is measured alone.

Reps are the outer loop (slow drift on the host hits every system alike); each measurement
starts the system, lets it warm up, and reads its counters over `dur` seconds."""
import statistics
import sys
import tempfile
import time
from pathlib import Path

from . import churn, progress, stages, systems, traffic


def _cached(path, write):
    """`path`, written by `write(tmp)` unless it is there already."""
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        write(tmp)
        tmp.rename(path)
    return str(path)


def pcap_for(scn, cache):
    """The scenario's UDP flows, each once."""
    n = traffic.classes(scn.rules if not scn.rules_from else 1000)
    return _cached(Path(cache) / f"udp{scn.size}_f{scn.flows}_c{n}.pcap",
                   lambda tmp: traffic.gen_pcap(tmp, scn.flows, scn.size, n))


def pcaps_for(scn, cache):
    """(phase, pcap) per measurement of a system: synflood's baseline and flood, else one."""
    if scn.traffic != "synflood":
        return [(None, pcap_for(scn, cache))]
    return [(phase, _cached(Path(cache) / f"synflood{scn.size}_f{scn.flows}_{phase}.pcap",
                            lambda tmp, ph=phase: traffic.write_pcap(tmp, churn.synflood_frames(scn, ph))))
            for phase in churn.phases(scn)]


def systems_for(scn, peers):
    """(name, class) of the systems measured on a scenario: Open vSwitch on steady traffic only
    (its connection tracking has no table of the scenario's size)."""
    out = [("testpmd-io", systems.Testpmd), ("vfgate", systems.Vfgate)]
    if "ovs" in peers and scn.traffic == "steady":
        from . import ovs
        out.append(("ovs-dpdk", ovs.Ovs))
    return out


def measure_one(system, scn, warm, dur, phase=None):
    time.sleep(warm)
    a = system.counters()
    t0 = time.monotonic()
    time.sleep(dur)
    b = system.counters()
    dt = time.monotonic() - t0
    mpps = (b["tx"] - a["tx"]) / dt / 1e6
    row = {"mpps": mpps, "rx_mpps": (b["rx"] - a["rx"]) / dt / 1e6,
           "gbps": mpps * (traffic.mean_size(scn.size) + 20) * 8 / 1000,
           "drops": {k: (b["drops"][k] - a["drops"].get(k, 0)) / dt / 1e6 for k in b["drops"]
                     if b["drops"][k] - a["drops"].get(k, 0)}}
    if b["busy_cycles"] is not None and b["packets"] > a["packets"]:
        row["cycles_per_packet"] = (b["busy_cycles"] - a["busy_cycles"]) / (b["packets"] - a["packets"])
    row.update(churn.rates(scn, phase, a, b, dt))
    return row


def _warn(text):
    print(f"vfgate-bench: {text}", file=sys.stderr)


def run(scenarios, peers, reps, warm, dur, workdir=None, warn=_warn, stage_cycles=True):
    """Raw rows: one per (rep, scenario, system). On steady traffic vfgate's rows also have
    `stage_cycles` (stages.measure), unless `stage_cycles` is false or the stage bench isn't
    built (said once through `warn`). A stage bench that fails leaves its row without them
    (said through `warn`): the throughput measured is not lost for it."""
    steady = any(s.traffic == "steady" for s in scenarios)
    stage_bench = stages.binary() if stage_cycles and steady else None
    if stage_cycles and steady and stage_bench is None:
        warn("vfgate-stage-bench is not built: no cycles per stage in this run")
    work = workdir or tempfile.mkdtemp(prefix="vfgate-bench-")
    cache = Path(work) / "pcaps"
    cache.mkdir(parents=True, exist_ok=True)
    total = reps * sum(len(systems_for(s, peers)) * len(churn.phases(s)) for s in scenarios)
    bar = progress.Progress(total)
    raw = []
    for rep in range(reps):
        for scn in scenarios:
            for phase, pcap in pcaps_for(scn, cache):
                label = f"{scn.key} {phase}" if phase else scn.key
                for name, make in systems_for(scn, peers):
                    bar.step(f"rep {rep + 1}/{reps} {label} {name}")
                    system = make(scn, pcap, work)
                    try:
                        row = measure_one(system, scn, warm, dur, phase)
                    finally:
                        system.close()
                    if name == "vfgate" and stage_bench and scn.traffic == "steady":
                        try:
                            row["stage_cycles"] = stages.measure(stage_bench, system.config, pcap,
                                                                 systems.cpus(1)[0])
                        except systems.BenchError as e:
                            warn(f"{label}: no cycles per stage: {e}")
                    row.update({"rep": rep, "scenario": scn.key, "system": name})
                    if phase:
                        row["phase"] = phase
                    raw.append(row)
                    bar.done(f"{label:<36} {name:<10} {row['mpps']:7.2f} Mpps{churn.note(row)}")
    bar.finish()
    return raw


def summarize(scenarios, raw):
    """Medians over the reps per scenario and system, and each system's ratio to testpmd io
    (synflood: those of the flood, with the baseline's in churn.medians)."""
    out = []
    for scn in scenarios:
        results = {}
        for system in dict.fromkeys(r["system"] for r in raw if r["scenario"] == scn.key):
            mine = [r for r in raw if r["scenario"] == scn.key and r["system"] == system]
            rows = [r for r in mine if r.get("phase") != "baseline"]
            med = {k: statistics.median(r[k] for r in rows)
                   for k in ("mpps", "rx_mpps", "gbps", "cycles_per_packet") if k in rows[0]}
            reasons = sorted({k for r in rows for k in r["drops"]})
            med["drops_mpps"] = {k: statistics.median(r["drops"].get(k, 0) for r in rows) for k in reasons}
            med["reps"] = [r["mpps"] for r in rows]
            staged = [r["stage_cycles"] for r in rows if "stage_cycles" in r]
            if staged:
                med["stage_cycles"] = {k: statistics.median(s[k] for s in staged) for k in stages.KEYS}
            if scn.traffic != "steady":
                med.update(churn.medians(rows, [r for r in mine if r.get("phase") == "baseline"]))
            results[system] = med
        io = results.get("testpmd-io", {}).get("mpps")
        for res in results.values():
            res["ratio"] = res["mpps"] / io if io else None
        out.append({"scenario": scn, "results": results})
    return out
