"""Software mode: every system reads the same pcap from memory, so the switch is measured alone.

Reps are the outer loop (slow drift on the host hits every system alike); each measurement
starts the system, lets it warm up, and reads its counters over `dur` seconds."""
import statistics
import tempfile
import time
from pathlib import Path

from . import progress, systems, traffic


def pcap_for(scn, cache):
    rules = scn.rules if not scn.rules_from else 1000
    path = Path(cache) / f"udp{scn.size}_f{scn.flows}_c{traffic.classes(rules)}.pcap"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        traffic.gen_pcap(tmp, scn.flows, scn.size, traffic.classes(rules))
        tmp.rename(path)
    return str(path)


def measure_one(system, scn, warm, dur):
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
    return row


def run(scenarios, peers, reps, warm, dur, workdir=None, log=print):
    """Raw rows: one per (rep, scenario, system)."""
    work = workdir or tempfile.mkdtemp(prefix="vfgate-bench-")
    cache = Path(work) / "pcaps"
    cache.mkdir(parents=True, exist_ok=True)
    makers = [("testpmd-io", systems.Testpmd), ("vfgate", systems.Vfgate)]
    if "ovs" in peers:
        from . import ovs
        makers.append(("ovs-dpdk", ovs.Ovs))
    total = reps * len(scenarios) * len(makers)
    bar = progress.Progress(total)
    raw = []
    for rep in range(reps):
        for scn in scenarios:
            pcap = pcap_for(scn, cache)
            for name, make in makers:
                bar.step(f"rep {rep + 1}/{reps} {scn.key} {name}")
                system = make(scn, pcap, work)
                try:
                    row = measure_one(system, scn, warm, dur)
                finally:
                    system.close()
                row.update({"rep": rep, "scenario": scn.key, "system": name})
                raw.append(row)
                bar.done(f"{scn.key:<36} {name:<10} {row['mpps']:7.2f} Mpps")
    bar.finish()
    return raw


def summarize(scenarios, raw):
    """Medians over the reps per scenario and system, and each system's ratio to testpmd io."""
    out = []
    for scn in scenarios:
        results = {}
        for system in dict.fromkeys(r["system"] for r in raw if r["scenario"] == scn.key):
            rows = [r for r in raw if r["scenario"] == scn.key and r["system"] == system]
            med = {k: statistics.median(r[k] for r in rows)
                   for k in ("mpps", "rx_mpps", "gbps", "cycles_per_packet") if k in rows[0]}
            reasons = sorted({k for r in rows for k in r["drops"]})
            med["drops_mpps"] = {k: statistics.median(r["drops"].get(k, 0) for r in rows) for k in reasons}
            med["reps"] = [r["mpps"] for r in rows]
            results[system] = med
        io = results.get("testpmd-io", {}).get("mpps")
        for res in results.values():
            res["ratio"] = res["mpps"] / io if io else None
        out.append({"scenario": scn, "results": results})
    return out
