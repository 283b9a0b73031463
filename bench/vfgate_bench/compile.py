"""Rule compile time and connection-table memory (`vfgate-bench compile`): starts the
dataplane with net_null ports and no traffic, one NIC's ingress of N generated rules, and reads
what it logs: the firewall's compile time and the connection table's size."""
import re
import subprocess
import tempfile
import time
from pathlib import Path

from . import systems, traffic


def measure(rule_counts, capacity=1 << 20, binary=None):
    out = []
    for n in rule_counts:
        work = tempfile.mkdtemp(prefix="vfgate-bench-compile-")
        cfg = Path(work) / "c.yaml"
        cfg.write_text(f"""version: 1
dataplane:
  worker_cores: [1]
  memory_mb: {1024 + n // 50}
  control_socket: {work}/c.sock
  conntrack: {{capacity: {capacity}}}
  uplinks:
    - {{name: up0, device: net_null0}}
guests:
  - name: sink
    nics:
      - name: eth0
        type: dpdk
        devargs: net_null1
        mac: "{traffic.DST_MAC}"
{traffic.firewall_yaml(n, 0.9, True)}""")
        binary = binary or systems.built("dataplane/vfgate-dataplane", "VFGATE_DATAPLANE")
        t0 = time.time()
        p = subprocess.Popen([str(binary), "--config", str(cfg)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        log, compile_ms, mib = "", None, None
        for line in p.stdout:
            log += line
            if m := re.search(r"firewall compiled in (\d+) ms", line):
                compile_ms = int(m.group(1))
            if m := re.search(r"connection table of \d+ entries, (\d+) MiB", line):
                mib = int(m.group(1))
            if "dataplane up" in line or "error" in line.lower():
                break
        up_s = time.time() - t0
        p.terminate()
        p.wait(timeout=60)
        if compile_ms is None:
            raise systems.BenchError(f"no compile time for {n} rules; log:\n{log[-2000:]}")
        out.append({"rules": n, "compile_ms": compile_ms, "startup_s": round(up_s, 2),
                    "conntrack_mib": mib, "conntrack_capacity": capacity})
        print(f"{n:>7} rules: compiled in {compile_ms} ms (dataplane up in {up_s:.1f} s, config "
              f"load included); connection table of {capacity} entries: {mib} MiB", flush=True)
    return out
