"""Scenarios: what to measure. From a YAML file (`--scenarios FILE`) or from flags, expanded to
the product of their lists. Validation names the file, scenario and key at fault.

A scenario file:

    defaults: {sizes: [64], flows: [1024], rules: 1000, allowed: 0.9, stateful: true}
    scenarios:
      - name: firewall            # optional; default: built from the values
        sizes: [64, 512, imix]    # 64..1518 or imix
        flows: [1024, 65536]      # 1..1000000
        rules: 1000               # 0 (no firewall), N generated, or {config: FILE, nic: g/eth0}
        allowed: 0.9              # share of generated rules that allow (and of the traffic)
        stateful: true
        workers: 1
        traffic: steady           # steady, churn (new connections), synflood (a SYN flood)
"""
import dataclasses
import itertools
from pathlib import Path

import yaml

from . import traffic

KEYS = {"name", "sizes", "flows", "rules", "allowed", "stateful", "workers", "traffic"}
TRAFFIC = {"steady": 1024, "churn": 262144, "synflood": 262144}  # each kind's default flow count
MAX_FLOWS = 1_000_000
MAX_RULES = 1_000_000


class ScenarioError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Scenario:
    size: object        # int bytes on the wire (FCS included), or "imix"
    flows: int
    rules: int          # generated rules (0: no firewall); ignored when rules_from is set
    allowed: float
    stateful: bool
    workers: int
    rules_from: tuple = None  # (config file, "guest/nic"): that NIC's firewall
    group: str = ""           # the scenario's name (a line in the plot)
    traffic: str = "steady"   # steady, churn or synflood (bench/README.md)

    @property
    def key(self):
        """Identifies the scenario in JSON and in --compare."""
        if self.rules_from:
            fw = f"config:{Path(self.rules_from[0]).name}:{self.rules_from[1]}"
        elif self.rules == 0:
            fw = "none"
        else:
            fw = f"{self.rules}r/{self.allowed:g}"
        mode = "stateful" if self.stateful and (self.rules or self.rules_from) else "stateless"
        if not (self.rules or self.rules_from):
            mode = "switch"
        size = self.size if self.size == "imix" else f"{self.size}B"
        kind = "" if self.traffic == "steady" else f"/{self.traffic}"
        return f"{size}/{self.flows}f/{fw}/{mode}/{self.workers}w{kind}"


def user_firewall(config, nic, where="rules"):
    """The firewall mapping of NIC `GUEST/NIC` in a vfgate config, or a ScenarioError."""
    try:
        cfg = yaml.safe_load(Path(config).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ScenarioError(f"{where}.config: {config}: {e}") from None
    guest, name = nic.split("/")
    for g in (cfg or {}).get("guests") or []:
        if g.get("name") != guest:
            continue
        for n in g.get("nics") or []:
            if n.get("name") == name and n.get("firewall"):
                return n["firewall"]
    raise ScenarioError(f"{where}.nic: {config} has no NIC {nic} with a firewall")


def _fail(where, msg):
    raise ScenarioError(f"{where}: {msg}")


def _list(v):
    return v if isinstance(v, list) else [v]


def _size(v, where):
    if v == "imix":
        return v
    if isinstance(v, bool) or not isinstance(v, int) or not traffic.MIN_SIZE <= v <= traffic.MAX_SIZE:
        _fail(where, f"frame size {v!r}: want {traffic.MIN_SIZE}..{traffic.MAX_SIZE} or imix")
    return v


def _int(v, where, lo, hi, what):
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        _fail(where, f"{what} {v!r}: want an integer in {lo}..{hi}")
    return v


def _traffic(v, where):
    if not isinstance(v, str) or v not in TRAFFIC:
        _fail(where, f"{v!r}: want one of {', '.join(TRAFFIC)}")
    return v


CHURN_MIN_FLOWS = 4096  # four times the smallest connection table: every packet a new one


def _check_churn(kind, flows, rules, rules_from, allowed, stateful, where):
    """Churn and SYN flood measure the connection table: a stateful firewall of generated rules,
    and for churn every flow allowed (each packet a new connection)."""
    if rules_from or rules == 0:
        _fail(f"{where}.rules", f"{kind} traffic needs generated rules (a count of 1 or more) "
              f"for its stateful firewall")
    if not stateful:
        _fail(f"{where}.stateful", f"{kind} traffic needs a stateful firewall")
    if kind == "churn" and allowed != 1:
        _fail(f"{where}.allowed", f"{allowed!r}: churn traffic is allowed in full: want 1 (its default)")
    small = [f for f in flows if kind == "churn" and f < CHURN_MIN_FLOWS]
    if small:
        _fail(f"{where}.flows", f"flow count {small[0]}: churn needs at least {CHURN_MIN_FLOWS} "
              f"(four times the smallest connection table), or the table holds every flow")


def expand(spec, where, cpus):
    """The scenarios of one spec (a dict of KEYS), in order: sizes, then flows."""
    unknown = set(spec) - KEYS
    if unknown:
        _fail(where, f"unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(KEYS))})")
    kind = _traffic(spec.get("traffic", "steady"), f"{where}.traffic")
    sizes = [_size(v, f"{where}.sizes") for v in _list(spec.get("sizes", [64]))]
    flows = [_int(v, f"{where}.flows", 1, MAX_FLOWS, "flow count")
             for v in _list(spec.get("flows", [TRAFFIC[kind]]))]
    rules, rules_from = spec.get("rules", 0), None
    if isinstance(rules, dict):
        if set(rules) != {"config", "nic"}:
            _fail(f"{where}.rules", "a user's rules are {config: FILE, nic: GUEST/NIC}")
        if not Path(rules["config"]).is_file():
            _fail(f"{where}.rules.config", f"no such file: {rules['config']}")
        if str(rules["nic"]).count("/") != 1:
            _fail(f"{where}.rules.nic", f"{rules['nic']!r}: want GUEST/NIC")
        user_firewall(rules["config"], str(rules["nic"]), f"{where}.rules")
        rules_from, rules = (str(rules["config"]), str(rules["nic"])), 0
    else:
        rules = _int(rules, f"{where}.rules", 0, MAX_RULES, "rule count")
    allowed = spec.get("allowed", 1.0 if kind == "churn" else 0.9)
    if isinstance(allowed, bool) or not isinstance(allowed, (int, float)) or not 0 <= allowed <= 1:
        _fail(f"{where}.allowed", f"{allowed!r}: want a share in 0..1")
    stateful = spec.get("stateful", True)
    if not isinstance(stateful, bool):
        _fail(f"{where}.stateful", f"{stateful!r}: want true or false")
    workers = _int(spec.get("workers", 1), f"{where}.workers", 1, 64, "worker count")
    if workers > cpus - 1:
        _fail(f"{where}.workers", f"{workers} worker(s) need {workers + 1} CPUs (one for the main "
              f"thread); this host has {cpus}")
    if kind != "steady":
        _check_churn(kind, flows, rules, rules_from, allowed, stateful, where)
    name = spec.get("name", "")
    return [Scenario(size=s, flows=f, rules=rules, allowed=float(allowed), stateful=stateful,
                     workers=workers, rules_from=rules_from, group=name, traffic=kind)
            for s, f in itertools.product(sizes, flows)]


def from_file(path, cpus):
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ScenarioError(f"{path}: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("scenarios"), list) or not doc["scenarios"]:
        raise ScenarioError(f"{path}: want a mapping with a non-empty list `scenarios`")
    unknown = set(doc) - {"defaults", "scenarios"}
    if unknown:
        raise ScenarioError(f"{path}: unknown key(s) {', '.join(sorted(unknown))} (known: defaults, scenarios)")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ScenarioError(f"{path}: defaults: want a mapping")
    out = []
    for i, s in enumerate(doc["scenarios"]):
        if not isinstance(s, dict):
            raise ScenarioError(f"{path}: scenarios[{i}]: want a mapping")
        out += expand({**defaults, **s}, f"{path}: scenarios[{i}]", cpus)
    return dedupe(out)


def dedupe(scenarios):
    seen, out = set(), []
    for s in scenarios:
        if s.key not in seen:
            seen.add(s.key)
            out.append(s)
    return out
