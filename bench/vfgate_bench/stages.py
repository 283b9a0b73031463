"""Cycles per stage: vfgate-stage-bench (bench/stages) on a scenario's vfgate config and pcap,
run on the worker's core after vfgate's measurement. It drives the dataplane's stages (L2
parse, switch, firewall) without PMDs, mbufs or the worker loop, so that a result says where
vfgate's own cycles go beside what the whole worker spent (bench/README.md, "Stage cycles")."""
import json
import os
import subprocess

from . import systems

PACKETS = 10_000_000
KEYS = ("parse", "switch", "firewall", "total")


def binary():
    """The stage bench of the build, or None when it isn't built (it isn't installed). A
    VFGATE_STAGE_BENCH that names no file is an error (BenchError), not a silent skip."""
    try:
        return systems.built("bench/vfgate-stage-bench", "VFGATE_STAGE_BENCH")
    except systems.BenchError:
        if os.environ.get("VFGATE_STAGE_BENCH"):
            raise
        return None


def measure(exe, config, pcap, core, packets=PACKETS):
    """{parse, switch, firewall, total}: TSC cycles per packet of each stage; BenchError when
    the stage bench fails."""
    try:
        p = subprocess.run([str(exe), "--json", "--core", str(core), str(config), str(pcap), "up0",
                            str(packets)], capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise systems.BenchError(f"vfgate-stage-bench: {e}") from e
    if p.returncode != 0:
        raise systems.BenchError(f"vfgate-stage-bench failed: {(p.stderr or p.stdout).strip()[-400:]}")
    try:
        cycles = json.loads(p.stdout)["cycles_per_packet"]
        return {k: float(cycles[k]) for k in KEYS}
    except (ValueError, KeyError, TypeError) as e:
        raise systems.BenchError(f"vfgate-stage-bench: unexpected output {p.stdout[:200]!r}") from e
