#!/usr/bin/env python3
"""The firewall on one worker, against dpdk-testpmd io forwarding on the same input; rule
compile times; memory per 1M tracked connections.

Traffic and method are switch_bench.py's (peers.md's): 64-byte UDP frames from memory into the
uplink, a net_null guest NIC as the sink, CPU 1 forwarding. The sink NIC has a firewall of 1000
ingress rules shaped like peers.md's `acl` scenario: rule c (c = 0..999) allows (every 10th
denies) udp from 198.18.0.0/{16,20,24} (c%3) to 198.19.0.(c/4+1) port (53,80,443,8080)[c%4];
the default denies. Flow i meets rule i%1000, so 90% of the traffic is allowed. Modes:
`stateful` (the default firewall: allowed flows are tracked and pass as established; denied
packets meet the rules every time) and `stateless` (every packet meets the rules).

    sudo bench/firewall_bench.py                                # 3 reps x (3 s + 10 s)
    sudo bench/firewall_bench.py --reps 1 --dur 3 --warm 1 --flows 1024 --modes stateful
    sudo bench/firewall_bench.py --only compile                 # compile times and memory only
"""
import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import switch_bench as sb  # noqa: E402


def rule(i):
    """Rule i: the first 1000 as described above; beyond, distinct /32 destinations."""
    prefix = (16, 20, 24)[i % 3]
    if i < 1000:
        dst = f"198.19.0.{i // 4 + 1}"
    else:
        dst = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
    action = "deny" if i % 10 == 0 else "allow"
    port = (53, 80, 443, 8080)[i % 4]
    return (f"            - {{id: r{i}, action: {action}, proto: udp, src: 198.18.0.0/{prefix}, "
            f"dst: {dst}/32, dst_port: {port}}}\n")


def firewall_yaml(rules, stateful):
    return (f"        firewall:\n          stateful: {'true' if stateful else 'false'}\n"
            f"          ingress_default: deny\n          ingress:\n" +
            "".join(rule(i) for i in range(rules)))


def compile_and_memory(rules_list, capacity):
    """Starts the dataplane (net_null ports, no traffic) with each rule count; reads the compile
    time and the connection table's memory from its log."""
    out = []
    for n in rules_list:
        work = tempfile.mkdtemp(prefix="vfgate-fwbench-")
        cfg = Path(work) / "c.yaml"
        cfg.write_text(f"""version: 1
dataplane:
  worker_cores: [1]
  memory_mb: 2048
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
        mac: "{sb.DST_MAC}"
{firewall_yaml(n, True)}""")
        t0 = time.time()
        p = subprocess.Popen([str(sb.ROOT / "build/dataplane/vfgate-dataplane"), "--config",
                              str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        log = ""
        compile_ms = mib = None
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
            sys.exit(f"firewall_bench: no compile time for {n} rules; log:\n{log}")
        out.append({"rules": n, "compile_ms": compile_ms, "startup_s": round(up_s, 2),
                    "conntrack_mib": mib, "conntrack_capacity": capacity})
        print(f"{n:>7} rules: compiled in {compile_ms} ms (process up in {up_s:.1f} s, config "
              f"load included); connection table of {capacity} entries: {mib} MiB", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flows", default="1024,65536")
    ap.add_argument("--modes", default="stateful,stateless")
    ap.add_argument("--rules", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warm", type=float, default=3)
    ap.add_argument("--dur", type=float, default=10)
    ap.add_argument("--compile-rules", default="1000,10000,100000")
    ap.add_argument("--only", choices=["throughput", "compile"])
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args()
    sb.check_env("firewall_bench")
    result = {}
    if args.only != "compile":
        flows = [int(f) for f in args.flows.split(",")]
        for mode in args.modes.split(","):
            print(f"== {mode}, {args.rules} rules")
            nic = firewall_yaml(args.rules, mode == "stateful")
            result[mode] = sb.compare(args, flows,
                                      lambda pcap, work: sb.Vfgate(pcap, work, nic_extra=nic),
                                      f"fw-{mode}")
            print()
    if args.only != "throughput":
        print("== rule compile time, connection table memory")
        result["compile"] = compile_and_memory(
            [int(n) for n in args.compile_rules.split(",")], 1 << 20)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
