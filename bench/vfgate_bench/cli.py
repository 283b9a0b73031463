"""The vfgate-bench command line (bench/README.md has the method)."""
import argparse
import json
import os
import sys
from pathlib import Path

from . import report, scenarios, systems

EPILOG = """examples:
  sudo vfgate-bench run                                   # 64 B, 1k flows, 1000 rules, stateful
  sudo vfgate-bench run --sizes 64,512,1518,imix --flows 1024 --rules 0 --plot sizes.png
  sudo vfgate-bench run --flows 1,1024,65536 --rules 1000 --json now.json --compare old.json
  sudo vfgate-bench run --scenarios bench/scenarios/firewall.yaml --peers ovs
  sudo vfgate-bench run --traffic churn                   # new connections per second
  sudo vfgate-bench run --traffic synflood                # a SYN flood beside established traffic
  sudo vfgate-bench nic --sizes 64 --flows 1024 --rules 1000 --pdr 0.001
  sudo vfgate-bench compile --rules 1000,10000,100000
  vfgate-bench compare old.json new.json --threshold 5
  vfgate-bench plot new.json -o new.png
"""


def _csv(kind):
    def parse(text):
        out = []
        for v in text.split(","):
            v = v.strip()
            try:
                out.append(v if kind is str or v == "imix" else kind(v))
            except ValueError:
                raise argparse.ArgumentTypeError(f"{v!r} is not a valid value in {text!r}") from None
        return out
    return parse


def _add_scenario_flags(p):
    g = p.add_argument_group("scenario (ignored with --scenarios)")
    g.add_argument("--sizes", type=_csv(int), default=[64], help="frame sizes, 64..1518 or imix (default 64)")
    g.add_argument("--flows", type=_csv(int),
                   help="flow counts, 1..1000000 (default 1024; churn and synflood: 262144)")
    g.add_argument("--rules", default="1000",
                   help="N generated rules (0: no firewall), or CONFIG:GUEST/NIC for that NIC's firewall")
    g.add_argument("--allowed", type=float,
                   help="share of generated rules that allow (default 0.9; churn: 1, its only value)")
    g.add_argument("--stateless", action="store_true", help="a stateless firewall (default stateful)")
    g.add_argument("--workers", type=int, default=1, help="forwarding cores (default 1)")
    g.add_argument("--traffic", help="steady (default), churn (every packet a new connection) or "
                   "synflood (a SYN flood beside established traffic); software mode only")
    p.add_argument("--scenarios", metavar="FILE", help="scenarios from a YAML file")
    p.add_argument("--reps", type=int, default=3, help="repetitions, the outer loop (default 3)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--plot", metavar="PNG", help="write a plot")
    p.add_argument("--compare", metavar="OLD.json", help="compare with an earlier run; exit 1 on a regression")
    p.add_argument("--threshold", type=float, default=5.0, help="regression threshold in percent (default 5)")
    p.add_argument("--workdir", help="keep pcaps, configs and logs here (default: a new temp dir)")


def build_parser():
    ap = argparse.ArgumentParser(prog="vfgate-bench", description="vfgate's throughput and latency benchmark.",
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="software mode: traffic from memory, vfgate and peers in one run",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_scenario_flags(run)
    run.add_argument("--warm", type=float, default=3, help="warm-up seconds (default 3)")
    run.add_argument("--dur", type=float, default=10, help="measured seconds (default 10)")
    run.add_argument("--peers", type=_csv(str), default=[], help="more peers: ovs (testpmd io always runs)")
    run.add_argument("--no-stages", action="store_true",
                     help="skip vfgate-stage-bench (cycles per stage, after each vfgate measurement)")
    nic = sub.add_parser("nic", help="NIC mode: generator and receiver, RFC 2544 NDR/PDR and latency")
    _add_scenario_flags(nic)
    nic.add_argument("--trial", type=float, default=2, help="seconds per trial (default 2)")
    nic.add_argument("--max-rate", type=float, default=None, help="highest rate tried, Mpps (default: the generator's)")
    nic.add_argument("--pdr", type=float, default=0.001, help="PDR loss tolerance as a share (default 0.001)")
    nic.add_argument("--resolution", type=float, default=0.01, help="search resolution, share of max rate (default 0.01)")
    nic.add_argument("--tx", help="generator's port devargs (default: memif to a vfgate started here)")
    nic.add_argument("--rx", help="receiver's port devargs (with --tx: ports cabled to an appliance)")
    cmp_ = sub.add_parser("compare", help="compare two result files; exit 1 on a regression")
    cmp_.add_argument("old")
    cmp_.add_argument("new")
    cmp_.add_argument("--threshold", type=float, default=5.0, help="percent (default 5)")
    cmp_.add_argument("--system", default="vfgate", help="whose numbers to compare (default vfgate)")
    pl = sub.add_parser("plot", help="plot a result file")
    pl.add_argument("result")
    pl.add_argument("-o", "--output", required=True, metavar="PNG")
    co = sub.add_parser("compile", help="rule compile times and connection-table memory")
    co.add_argument("--rules", type=_csv(int), default=[1000, 10000, 100000],
                    help="rule counts (default 1000,10000,100000)")
    co.add_argument("--json", metavar="FILE", help="write the results as JSON")
    tb = sub.add_parser("table", help="print a result file's table")
    tb.add_argument("result")
    return ap


def scenario_list(args):
    cpus = os.cpu_count() or 1
    if args.scenarios:
        return scenarios.from_file(args.scenarios, cpus)
    rules = args.rules
    if ":" in rules:
        cfg, nic = rules.rsplit(":", 1)
        rules = {"config": cfg, "nic": nic}
    else:
        try:
            rules = int(rules)
        except ValueError:
            raise scenarios.ScenarioError(f"--rules: {rules!r}: want a count or CONFIG:GUEST/NIC") from None
    spec = {"sizes": args.sizes, "flows": args.flows, "rules": rules, "allowed": args.allowed,
            "stateful": not args.stateless, "workers": args.workers, "traffic": args.traffic}
    return scenarios.expand({k: v for k, v in spec.items() if v is not None}, "flags", cpus)


def check_nic_mode(scns):
    for s in scns:
        if s.traffic != "steady":
            raise scenarios.ScenarioError(f"{s.key}: traffic {s.traffic} is measured in software "
                                          f"mode (run), not in nic mode")


def check_run_env():
    if os.geteuid() != 0:
        raise systems.BenchError("run as root (hugepages, DPDK)")
    if not systems.have("dpdk-testpmd"):
        raise systems.BenchError("dpdk-testpmd not found (Debian package dpdk; scripts/setup installs it)")
    os.sched_setaffinity(0, {0})  # the forwarding cores are 1..workers


def finish(args, doc):
    sys.stdout.write(report.table(doc))
    if args.json:
        Path(args.json).write_text(report.dumps(doc))
        print(f"results: {args.json}")
    if args.plot:
        report.plot(doc, args.plot)
        print(f"plot: {args.plot}")
    if args.compare:
        text, regressed = report.compare(report.load(args.compare), doc, args.threshold)
        sys.stdout.write(text)
        return 1 if regressed else 0
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.command == "compare":
            text, regressed = report.compare(report.load(args.old), report.load(args.new),
                                             args.threshold, args.system)
            sys.stdout.write(text)
            return 1 if regressed else 0
        if args.command == "plot":
            report.plot(report.load(args.result), args.output)
            return 0
        if args.command == "table":
            sys.stdout.write(report.table(report.load(args.result)))
            return 0
        if args.command == "compile":
            check_run_env()
            from . import compile as compile_
            rows = compile_.measure(args.rules)
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
            return 0
        if args.reps < 1:
            raise scenarios.ScenarioError("--reps: want at least 1")
        for flag in ("dur", "trial"):
            if getattr(args, flag, 1) <= 0:
                raise scenarios.ScenarioError(f"--{flag}: want a positive number of seconds")
        if getattr(args, "warm", 0) < 0:
            raise scenarios.ScenarioError("--warm: want 0 or more seconds")
        scns = scenario_list(args)
        if args.command == "nic":
            check_nic_mode(scns)
        check_run_env()
        if args.command == "run":
            from . import software
            raw = software.run(scns, args.peers, args.reps, args.warm, args.dur, args.workdir,
                               stage_cycles=not args.no_stages)
            doc = report.document("software", software.summarize(scns, raw), raw,
                                  {"reps": args.reps, "warm_s": args.warm, "dur_s": args.dur,
                                   "peers": ["testpmd-io"] + args.peers})
        else:
            from . import nicmode
            doc = nicmode.run(scns, args)
        return finish(args, doc)
    except (scenarios.ScenarioError, systems.BenchError, ValueError, RuntimeError) as e:
        print(f"vfgate-bench: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vfgate-bench: interrupted", file=sys.stderr)
        return 130
