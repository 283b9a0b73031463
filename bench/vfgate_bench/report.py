"""Results: the table on stdout, the JSON document (stable: same results, same bytes), the
comparison with an earlier JSON, and the plot (gnuplot, PNG)."""
import datetime
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path

from . import churn

FORMAT = "vfgate-bench/1"
METRICS = {"software": ("ratio", "mpps"), "nic": ("ndr_mpps", "pdr_mpps")}
# Software mode's columns for churn and SYN flood (key, title, divisor), shown when a result has them.
EXTRA_COLUMNS = (("new_conn_per_s", "new M/s", 1e6), ("evicted_per_s", "evict M/s", 1e6),
                 ("table_full_per_s", "full M/s", 1e6), ("b_mpps_baseline", "B base", 1),
                 ("b_mpps_flood", "B flood", 1), ("b_delivered", "B deliv", 1), ("a_mpps", "A Mpps", 1))


def _round(v):
    if isinstance(v, float):
        return round(v, 4)
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_round(x) for x in v]
    return v


def scenario_fields(scn):
    d = {"key": scn.key, "size": scn.size, "flows": scn.flows, "rules": scn.rules,
         "allowed": scn.allowed, "stateful": scn.stateful, "workers": scn.workers,
         "group": scn.group}
    if scn.rules_from:
        d["rules_from"] = {"config": scn.rules_from[0], "nic": scn.rules_from[1]}
    if scn.traffic != "steady":
        d.update(traffic=scn.traffic, conntrack_capacity=churn.capacity(scn))
    return d


def host_info():
    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "kernel": platform.release()}


def revision():
    try:
        return subprocess.run(["git", "-C", str(Path(__file__).parent), "describe", "--always",
                               "--dirty"], capture_output=True, text=True, timeout=5).stdout.strip()
    except OSError:
        return ""


def document(mode, summary, raw, method, when=None, host=None, rev=None):
    """The JSON document of a run (a dict; `dumps` gives its stable text)."""
    return _round({
        "format": FORMAT,
        "mode": mode,
        "date": when or datetime.datetime.now().isoformat(timespec="seconds"),
        "host": host if host is not None else host_info(),
        "revision": rev if rev is not None else revision(),
        "method": method,
        "scenarios": [{**scenario_fields(s["scenario"]), "results": s["results"]} for s in summary],
        "raw": raw,
    })


def dumps(doc):
    return json.dumps(doc, sort_keys=True, indent=1) + "\n"


def load(path):
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} result (format: {doc.get('format') if isinstance(doc, dict) else None!r})")
    return doc


def _fmt(v, width, prec=2):
    return f"{v:>{width}.{prec}f}" if isinstance(v, (int, float)) else f"{'-':>{width}}"


def _key_width(doc):
    """The scenario column's width: 36, or the longest key."""
    return max([36] + [len(s["key"]) for s in doc["scenarios"]])


def _extra_columns(doc):
    """The EXTRA_COLUMNS some result of the document has."""
    have = {k for s in doc["scenarios"] for r in s["results"].values() for k in r}
    return [c for c in EXTRA_COLUMNS if c[0] in have]


def table(doc):
    """The results as a text table, one line per scenario and system."""
    nic = doc["mode"] == "nic"
    extra = [] if nic else _extra_columns(doc)
    w = _key_width(doc)
    if nic:
        head = (f"{'scenario':<{w}} {'system':<10} {'NDR Mpps':>9} {'PDR Mpps':>9} {'Gbps':>7} "
                f"{'p50 us':>8} {'p99 us':>8} {'p99.9 us':>9} {'max us':>8}")
    else:
        head = (f"{'scenario':<{w}} {'system':<10} {'Mpps':>7} {'offered':>7} {'Gbps':>7} "
                f"{'ratio':>6} {'cyc/pkt':>8}" + "".join(f" {title:>9}" for _, title, _ in extra) +
                "  drops (Mpps)")
    lines = [head, "-" * len(head)]
    for s in doc["scenarios"]:
        for system, r in s["results"].items():
            if nic:
                lat = r.get("latency_us", {})
                lines.append(f"{s['key']:<{w}} {system:<10} {_fmt(r.get('ndr_mpps'), 9)} "
                             f"{_fmt(r.get('pdr_mpps'), 9)} {_fmt(r.get('gbps'), 7)} "
                             f"{_fmt(lat.get('p50'), 8, 1)} {_fmt(lat.get('p99'), 8, 1)} "
                             f"{_fmt(lat.get('p99.9'), 9, 1)} {_fmt(lat.get('max'), 8, 1)}")
            else:
                drops = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r.get("drops_mpps", {}).items()))
                more = "".join(f" {_fmt(r[k] / div if k in r else None, 9, 3)}" for k, _, div in extra)
                lines.append(f"{s['key']:<{w}} {system:<10} {_fmt(r['mpps'], 7)} "
                             f"{_fmt(r.get('rx_mpps'), 7)} {_fmt(r.get('gbps'), 7)} "
                             f"{_fmt(r.get('ratio'), 6)} {_fmt(r.get('cycles_per_packet'), 8, 0)}"
                             f"{more}  {drops}")
    return "\n".join(lines) + "\n" + _stage_table(doc, w)


def _stage_table(doc, w):
    """vfgate's cycles per packet by stage (vfgate-stage-bench: no PMD, no mbuf), beside the
    whole worker's, for the scenarios that have them; empty if none has."""
    rows = [(s["key"], s["results"]["vfgate"]) for s in doc["scenarios"]
            if "stage_cycles" in s["results"].get("vfgate", {})]
    if not rows:
        return ""
    head = (f"{'vfgate cycles per packet':<{w}} {'worker':>7} {'parse':>7} {'switch':>7} "
            f"{'firewall':>8} {'stages':>7}")
    lines = ["", head, "-" * len(head)]
    for key, r in rows:
        st = r["stage_cycles"]
        lines.append(f"{key:<{w}} {_fmt(r.get('cycles_per_packet'), 7, 0)} {_fmt(st['parse'], 7, 1)} "
                     f"{_fmt(st['switch'], 7, 1)} {_fmt(st['firewall'], 8, 1)} {_fmt(st['total'], 7, 1)}")
    return "\n".join(lines) + "\n"


def compare(old, new, threshold_pct, system="vfgate"):
    """Per scenario present in both: `system`'s metric before and after. Returns (text, regressed):
    regressed when a metric fell by more than threshold_pct percent. The software metric is the
    ratio to testpmd io (absolute Mpps drift with the host's load); NIC mode's is the NDR."""
    if old["mode"] != new["mode"]:
        raise ValueError(f"cannot compare a {old['mode']} run with a {new['mode']} run")
    metric = METRICS[new["mode"]][0]
    before = {s["key"]: s["results"].get(system, {}).get(metric) for s in old["scenarios"]}
    w = _key_width(new)
    lines = [f"{'scenario':<{w}} {metric + ' before':>14} {'after':>8} {'change':>8}"]
    regressed, matched = False, 0
    for s in new["scenarios"]:
        a, b = before.get(s["key"]), s["results"].get(system, {}).get(metric)
        if a is None or b is None:
            continue
        matched += 1
        change = (b - a) / a * 100 if a else 0.0
        bad = change < -threshold_pct
        regressed |= bad
        lines.append(f"{s['key']:<{w}} {a:>14.3f} {b:>8.3f} {change:>+7.1f}%"
                     f"{'  REGRESSION' if bad else ''}")
    if matched == 0:
        raise ValueError("no scenario of the new run is in the old one")
    lines.append(f"{matched} scenario(s) compared, threshold {threshold_pct:g}%: "
                 f"{'regression' if regressed else 'no regression'}")
    return "\n".join(lines) + "\n", regressed


def _panels(doc, metric):
    """Scenario groups (their name, else what they share besides size and flows), each with
    its x axis (flows when they vary, else frame size) and one series per system."""
    groups = {}
    for s in doc["scenarios"]:
        groups.setdefault(s.get("group") or s["key"].split("/", 2)[2], []).append(s)
    panels = []
    for name, scns in groups.items():
        sizes = sorted({s["size"] for s in scns}, key=lambda v: (isinstance(v, str), v))
        by_flows = len({s["flows"] for s in scns}) > 1 or len(sizes) == 1
        series = {}
        for s in scns:
            x = s["flows"] if by_flows else sizes.index(s["size"])
            label_extra = "" if (by_flows and len(sizes) == 1) or not by_flows else f" {s['size']}"
            for system, r in s["results"].items():
                if r.get(metric) is not None:
                    series.setdefault(system + label_extra, []).append((x, r[metric]))
        if series:
            panels.append((name, by_flows, sizes, series))
    return panels


def plot(doc, out_png):
    """One panel per scenario group: Mpps (NIC mode: NDR) against flow count (log scale) or
    frame size, one line per system. Written with gnuplot."""
    metric = "ndr_mpps" if doc["mode"] == "nic" else "mpps"
    panels = _panels(doc, metric)
    if not panels:
        raise ValueError("nothing to plot")
    cols = min(2, len(panels))
    rows = (len(panels) + cols - 1) // cols
    ylabel = "NDR Mpps" if metric == "ndr_mpps" else "Mpps forwarded"
    with tempfile.TemporaryDirectory() as tmp:
        script = (f"set terminal pngcairo size {600 * cols},{420 * rows} noenhanced font ',10'\n"
                  f"set output '{out_png}'\n"
                  f"set multiplot layout {rows},{cols} title 'vfgate-bench {doc['mode']} mode, "
                  f"{doc['date']}, {doc.get('host', {}).get('cpus', '?')} CPUs'\n"
                  f"set grid\nset key top right\nset yrange [0:*]\nset ylabel '{ylabel}'\n")
        for p, (name, by_flows, sizes, series) in enumerate(panels):
            plots = []
            for i, (label, pts) in enumerate(series.items()):
                data = Path(tmp) / f"p{p}s{i}.dat"
                data.write_text("".join(f"{x} {y}\n" for x, y in sorted(pts)))
                plots.append(f"'{data}' using 1:2 with linespoints lw 2 title '{label}'")
            if by_flows:
                axis = "set logscale x 10\nset xtics auto\nset xlabel 'flows'\nset xrange [*:*]\n"
            else:
                axis = ("unset logscale x\nset xlabel 'frame size (bytes)'\nset xrange [-0.3:"
                        f"{len(sizes) - 0.7}]\nset xtics (" +
                        ", ".join(f"'{v}' {i}" for i, v in enumerate(sizes)) + ")\n")
            script += f"set title '{name}'\n{axis}plot " + ", ".join(plots) + "\n"
        script += "unset multiplot\n"
        r = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"gnuplot failed: {r.stderr.strip()}")
