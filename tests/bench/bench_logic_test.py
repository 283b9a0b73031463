"""vfgate-bench's own logic (suite unit): the NDR search, the JSON document, compare, scenarios.

    python3 bench_logic_test.py SOURCE_ROOT
"""
import copy
import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import yaml

ROOT = Path(sys.argv.pop(1)) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from vfgate_bench import churn, cli, ndr, report, scenarios, software, systems, traffic  # noqa: E402


def lossy_above(limit, noise=0.0, seed=1):
    """A system that forwards up to `limit` Mpps and loses the excess; `noise` adds a random
    loss share below it (a PDR tolerance must absorb it, NDR must not)."""
    rng = random.Random(seed)

    def trial(rate):
        sent = int(rate * 1e6)
        kept = min(rate, limit) / rate * (1 - rng.uniform(0, noise))
        return sent, int(sent * kept)
    return trial


class NdrSearch(unittest.TestCase):
    def test_converges_on_the_knee(self):
        for limit in (0.37, 3.0, 7.3, 9.99):
            s = ndr.search(lossy_above(limit), 10.0, resolution=0.001)
            self.assertLessEqual(s.rate, limit)
            self.assertGreater(s.rate, limit - 0.02, (limit, s.rate))
            self.assertTrue(all(t.loss == 0 for t in s.trials if t.rate <= limit))
            self.assertLess(len(s.trials), 16)

    def test_all_pass_is_one_trial(self):
        s = ndr.search(lossy_above(20), 10.0)
        self.assertEqual(s.rate, 10.0)
        self.assertEqual(len(s.trials), 1)

    def test_nothing_passes(self):
        s = ndr.search(lambda r: (int(r * 1e6), 0), 10.0)
        self.assertEqual(s.rate, 0.0)

    def test_pdr_tolerates_its_share_and_ndr_does_not(self):
        noisy = lossy_above(6.0, noise=0.0005)
        self.assertGreater(ndr.search(noisy, 10.0, tolerance=0.001, resolution=0.001).rate, 5.98)
        self.assertLess(ndr.search(lossy_above(6.0, noise=0.0005), 10.0, resolution=0.001).rate, 0.1)

    def test_pdr_from_the_ndr_never_falls_below_it(self):
        # A PDR trial that happens to lose more than the tolerance (noise) can't put the PDR
        # under a rate that already passed with no loss at all.
        flaky = iter([(100, 90)] * 30)
        s = ndr.search(lambda r: next(flaky), 10.0, tolerance=0.001, floor=4.0)
        self.assertEqual(s.rate, 4.0)
        self.assertTrue(all(t.rate > 4.0 for t in s.trials))

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            ndr.search(lossy_above(1), 0)
        with self.assertRaises(ValueError):
            ndr.search(lossy_above(1), 1, tolerance=1)
        with self.assertRaises(ValueError):
            ndr.search(lossy_above(1), 1, floor=2)


def sample_doc(ratio=0.25, mpps=6.0):
    scn = scenarios.expand({"sizes": [64], "flows": [1024, 65536], "rules": 1000}, "t", 2)
    summary = [{"scenario": s, "results": {
        "testpmd-io": {"mpps": mpps / ratio, "ratio": 1.0, "drops_mpps": {}, "reps": [mpps / ratio]},
        "vfgate": {"mpps": mpps, "ratio": ratio, "rx_mpps": mpps / 0.9, "gbps": mpps * 0.672,
                   "cycles_per_packet": 350.0, "drops_mpps": {"firewall": mpps / 9}, "reps": [mpps]}}}
        for s in scn]
    return report.document("software", summary, [], {"reps": 1}, when="2026-11-22T00:00:00",
                           host={"cpus": 2}, rev="abc")


class Json(unittest.TestCase):
    def test_stable(self):
        a, b = report.dumps(sample_doc()), report.dumps(sample_doc())
        self.assertEqual(a, b)
        doc = json.loads(a)
        self.assertEqual(doc["format"], report.FORMAT)
        self.assertEqual(report.dumps(doc), a)  # loading and writing again changes nothing
        self.assertEqual([s["key"] for s in doc["scenarios"]],
                         ["64B/1024f/1000r/0.9/stateful/1w", "64B/65536f/1000r/0.9/stateful/1w"])
        self.assertEqual(doc["scenarios"][0]["results"]["vfgate"]["ratio"], 0.25)

    def test_load_rejects_other_files(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            f.write('{"format": "other"}')
            f.flush()
            with self.assertRaisesRegex(ValueError, "not a vfgate-bench/1 result"):
                report.load(f.name)


class Compare(unittest.TestCase):
    def test_flags_a_regression_beyond_the_threshold(self):
        text, bad = report.compare(sample_doc(0.25), sample_doc(0.22), 5)
        self.assertTrue(bad)
        self.assertIn("REGRESSION", text)
        self.assertIn("-12.0%", text)

    def test_within_threshold_or_better_passes(self):
        self.assertFalse(report.compare(sample_doc(0.25), sample_doc(0.24), 5)[1])
        self.assertFalse(report.compare(sample_doc(0.25), sample_doc(0.30), 5)[1])

    def test_absolute_drift_alone_is_no_regression(self):
        # The host got slower for everyone: Mpps fell, the ratio held.
        self.assertFalse(report.compare(sample_doc(0.25, 6.0), sample_doc(0.25, 4.0), 5)[1])

    def test_disjoint_runs_are_an_error(self):
        other = sample_doc()
        for s in other["scenarios"]:
            s["key"] = "x" + s["key"]
        with self.assertRaisesRegex(ValueError, "no scenario"):
            report.compare(sample_doc(), other, 5)

    def test_cli_exit_codes(self):
        with tempfile.TemporaryDirectory() as d:
            old, new, same = Path(d) / "old.json", Path(d) / "new.json", Path(d) / "same.json"
            old.write_text(report.dumps(sample_doc(0.25)))
            new.write_text(report.dumps(sample_doc(0.20)))
            same.write_text(report.dumps(sample_doc(0.25)))
            tool = [sys.executable, str(ROOT / "bench/vfgate-bench"), "compare"]
            self.assertEqual(subprocess.run(tool + [str(old), str(new)], capture_output=True).returncode, 1)
            self.assertEqual(subprocess.run(tool + [str(old), str(same)], capture_output=True).returncode, 0)
            r = subprocess.run(tool + [str(old), str(Path(d) / "missing.json")], capture_output=True, text=True)
            self.assertEqual(r.returncode, 2)
            self.assertIn("missing.json", r.stderr)


class Scenarios(unittest.TestCase):
    def write(self, text):
        f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        self.addCleanup(os.unlink, f.name)
        f.write(text)
        f.close()
        return f.name

    def test_file_expands_the_product_with_defaults(self):
        path = self.write("defaults: {rules: 10, allowed: 0.5}\nscenarios:\n"
                          "  - {name: a, sizes: [64, imix], flows: [1, 1000]}\n  - {rules: 0}\n")
        keys = [s.key for s in scenarios.from_file(path, 2)]
        self.assertEqual(keys, ["64B/1f/10r/0.5/stateful/1w", "64B/1000f/10r/0.5/stateful/1w",
                                "imix/1f/10r/0.5/stateful/1w", "imix/1000f/10r/0.5/stateful/1w",
                                "64B/1024f/none/switch/1w"])

    def test_a_users_firewall(self):
        demo = ROOT / "config/examples/demo.yaml"
        [scn] = scenarios.expand({"rules": {"config": str(demo), "nic": "web/eth0"}}, "t", 2)
        self.assertEqual(scn.key, "64B/1024f/config:demo.yaml:web/eth0/stateful/1w")
        self.assertIn("ingress", scenarios.user_firewall(str(demo), "web/eth0"))
        with self.assertRaisesRegex(scenarios.ScenarioError, "t.rules.nic: .* has no NIC web/eth9"):
            scenarios.expand({"rules": {"config": str(demo), "nic": "web/eth9"}}, "t", 2)

    def test_errors_name_the_place(self):
        cases = {
            "scenarios:\n  - {sizes: [63]}\n": r"scenarios\[0\]\.sizes: frame size 63",
            "scenarios:\n  - {flows: [0]}\n": r"scenarios\[0\]\.flows: flow count 0",
            "scenarios:\n  - {}\n  - {flow: [1]}\n": r"scenarios\[1\]: unknown key\(s\) flow",
            "scenarios:\n  - {allowed: 2}\n": r"scenarios\[0\]\.allowed",
            "scenarios:\n  - {workers: 2}\n": r"2 worker\(s\) need 3 CPUs",
            "scenarios: []\n": r"non-empty list",
            "scenarios: [\n": r"yaml|expected|flow",
        }
        for text, pattern in cases.items():
            with self.subTest(text=text):
                path = self.write(text)
                with self.assertRaisesRegex(scenarios.ScenarioError, pattern):
                    scenarios.from_file(path, 2)


class Traffic(unittest.TestCase):
    def test_flows_are_distinct_and_inside_every_rule_prefix(self):
        seen = set()
        for i in list(range(0, 1_000_000, 997)) + [249_999, 250_000, 250_250, 999_999]:
            f = traffic.frame(i, 64, 1000)
            src, sport = f[26:30], f[34:36]
            self.assertEqual(src[:3], bytes([198, 18, 0]), i)  # in 198.18.0.0/24 (and /20, /16)
            self.assertNotIn((src, sport), seen, i)
            seen.add((src, sport))

    def test_shares_and_frames(self):
        self.assertEqual(sum(traffic.is_denied(c, 0.9) for c in range(1000)), 100)
        self.assertEqual(sum(traffic.is_denied(c, 1.0) for c in range(1000)), 0)
        self.assertEqual(len(traffic.frame(5, 64, 1000)), 60)
        self.assertEqual(len(traffic.frame(5, 1518, 1000)), 1514)
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "x.pcap"
            traffic.gen_pcap(p, 3, "imix", 1000)
            data = p.read_bytes()
            lens, off = [], 24
            while off < len(data):
                n = int.from_bytes(data[off + 8:off + 12], "little")
                lens.append(n)
                off += 16 + n
            self.assertEqual(lens, [60] * 7 + [566] * 4 + [1514])


class TrafficKey(unittest.TestCase):
    """The scenario key `traffic` (bench/README.md, "Connection churn and SYN flood")."""
    def write(self, text):
        f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        self.addCleanup(os.unlink, f.name)
        f.write(text)
        f.close()
        return f.name

    def test_values_accepted_and_refused(self):
        for kind in ("steady", "churn", "synflood"):
            with self.subTest(kind=kind):
                [scn] = scenarios.expand({"rules": 1000, "traffic": kind}, "t", 2)
                self.assertEqual(scn.traffic, kind)
        self.assertEqual(scenarios.expand({"rules": 1000}, "t", 2)[0].traffic, "steady")
        for bad in ("Churn", "flood", "", "steady ", 1, True, None, ["churn"]):
            with self.subTest(bad=bad):
                with self.assertRaisesRegex(scenarios.ScenarioError,
                                            r"^t\.traffic: .*want one of steady, churn, synflood$"):
                    scenarios.expand({"rules": 1000, "traffic": bad}, "t", 2)

    def test_file_errors_name_the_file_scenario_and_key(self):
        path = self.write("scenarios:\n  - {rules: 10}\n  - {rules: 10, traffic: flood}\n")
        with self.assertRaisesRegex(scenarios.ScenarioError,
                                    rf"^{path}: scenarios\[1\]\.traffic: 'flood': want one of"):
            scenarios.from_file(path, 2)
        cases = {
            "{traffic: churn}": r"scenarios\[0\]\.rules: churn traffic needs generated rules",
            "{traffic: synflood, rules: 0}": r"scenarios\[0\]\.rules: synflood traffic needs generated",
            "{traffic: churn, rules: 10, stateful: false}":
                r"scenarios\[0\]\.stateful: churn traffic needs a stateful firewall",
            "{traffic: churn, rules: 10, allowed: 0.9}":
                r"scenarios\[0\]\.allowed: 0\.9: churn traffic is allowed in full: want 1",
        }
        for spec, pattern in cases.items():
            with self.subTest(spec=spec):
                path = self.write(f"scenarios:\n  - {spec}\n")
                with self.assertRaisesRegex(scenarios.ScenarioError, rf"^{path}: {pattern}"):
                    scenarios.from_file(path, 2)

    def test_churn_and_synflood_need_a_stateful_firewall_of_generated_rules(self):
        demo = str(ROOT / "config/examples/demo.yaml")
        for kind in ("churn", "synflood"):
            refused = {
                "rules 0": ({"rules": 0}, rf"^t\.rules: {kind} traffic needs generated rules"),
                "no rules given": ({}, rf"^t\.rules: {kind} traffic needs generated rules"),
                "a config's firewall": ({"rules": {"config": demo, "nic": "web/eth0"}},
                                        rf"^t\.rules: {kind} traffic needs generated rules"),
                "stateless": ({"rules": 10, "stateful": False},
                              rf"^t\.stateful: {kind} traffic needs a stateful firewall"),
            }
            for what, (spec, pattern) in refused.items():
                with self.subTest(kind=kind, what=what):
                    with self.assertRaisesRegex(scenarios.ScenarioError, pattern):
                        scenarios.expand({**spec, "traffic": kind}, "t", 2)
            # The same specs are fine as steady traffic.
            for what, (spec, _) in refused.items():
                with self.subTest(kind="steady", what=what):
                    scenarios.expand(spec, "t", 2)

    def test_churn_allows_every_flow_and_synflood_any_share(self):
        for allowed in (0, 0.5, 0.9, 0.999):
            with self.subTest(allowed=allowed):
                with self.assertRaisesRegex(scenarios.ScenarioError,
                                            rf"^t\.allowed: {allowed!r}: churn traffic is allowed in "
                                            r"full: want 1 \(its default\)$"):
                    scenarios.expand({"rules": 10, "traffic": "churn", "allowed": allowed}, "t", 2)
                [scn] = scenarios.expand({"rules": 10, "traffic": "synflood", "allowed": allowed}, "t", 2)
                self.assertEqual(scn.allowed, allowed)
        for allowed in (1, 1.0):
            [scn] = scenarios.expand({"rules": 10, "traffic": "churn", "allowed": allowed}, "t", 2)
            self.assertEqual(scn.allowed, 1.0)
        self.assertEqual(scenarios.expand({"rules": 10, "traffic": "churn"}, "t", 2)[0].allowed, 1.0)
        self.assertEqual(scenarios.expand({"rules": 10, "traffic": "synflood"}, "t", 2)[0].allowed, 0.9)
        self.assertEqual(scenarios.expand({"rules": 10}, "t", 2)[0].allowed, 0.9)
        # A share out of range is refused as such, whatever the traffic.
        with self.assertRaisesRegex(scenarios.ScenarioError, r"^t\.allowed: 2: want a share in 0\.\.1"):
            scenarios.expand({"rules": 10, "traffic": "churn", "allowed": 2}, "t", 2)

    def test_churn_refuses_flows_its_smallest_table_would_hold(self):
        with self.assertRaisesRegex(scenarios.ScenarioError,
                                    r"^t\.flows: flow count 1024: churn needs at least 4096"):
            scenarios.expand({"rules": 10, "traffic": "churn", "flows": [65536, 1024]}, "t", 2)

    def test_keys_steady_unchanged_churn_and_synflood_suffixed(self):
        keys = {kind: scenarios.expand({"rules": 1000, "traffic": kind, "flows": [1024, 65536]}, "t", 2)
                for kind in ("steady", "synflood")}
        keys["churn"] = scenarios.expand({"rules": 1000, "traffic": "churn", "flows": [4096, 65536]},
                                         "t", 2)
        self.assertEqual([s.key for s in keys["steady"]],
                         ["64B/1024f/1000r/0.9/stateful/1w", "64B/65536f/1000r/0.9/stateful/1w"])
        self.assertEqual(keys["steady"], scenarios.expand({"rules": 1000, "flows": [1024, 65536]}, "t", 2))
        self.assertEqual([s.key for s in keys["churn"]],
                         ["64B/4096f/1000r/1/stateful/1w/churn", "64B/65536f/1000r/1/stateful/1w/churn"])
        self.assertEqual([s.key for s in keys["synflood"]],
                         ["64B/1024f/1000r/0.9/stateful/1w/synflood",
                          "64B/65536f/1000r/0.9/stateful/1w/synflood"])
        # Keys of other steady shapes keep their old form too.
        for spec, key in (({"rules": 0}, "64B/1024f/none/switch/1w"),
                          ({"rules": 10, "stateful": False, "sizes": ["imix"]},
                           "imix/1024f/10r/0.9/stateless/1w"),
                          ({"rules": 10, "allowed": 0.5, "sizes": [1518], "flows": 1},
                           "1518B/1f/10r/0.5/stateful/1w")):
            with self.subTest(spec=spec):
                scns = scenarios.expand({**spec, "traffic": "steady"}, "t", 2)
                self.assertEqual([s.key for s in scns], [key])

    def test_default_flows(self):
        self.assertEqual([s.flows for s in scenarios.expand({"rules": 10}, "t", 2)], [1024])
        for kind in ("churn", "synflood"):
            with self.subTest(kind=kind):
                [scn] = scenarios.expand({"rules": 10, "traffic": kind}, "t", 2)
                self.assertEqual(scn.flows, 262144)
                self.assertTrue(scn.key.startswith("64B/262144f/10r/"), scn.key)
                [scn] = scenarios.expand({"rules": 10, "traffic": kind, "flows": [5000]}, "t", 2)
                self.assertEqual(scn.flows, 5000)
        # In a file whose defaults give no flows, each scenario gets its traffic's default.
        path = self.write("defaults: {rules: 10, allowed: 1}\nscenarios:\n  - {traffic: churn}\n"
                          "  - {traffic: synflood}\n  - {}\n  - {traffic: churn, flows: [4096]}\n")
        self.assertEqual([s.key for s in scenarios.from_file(path, 2)],
                         ["64B/262144f/10r/1/stateful/1w/churn", "64B/262144f/10r/1/stateful/1w/synflood",
                          "64B/1024f/10r/1/stateful/1w", "64B/4096f/10r/1/stateful/1w/churn"])

    def test_flags_make_the_same_scenarios(self):
        def flags(*argv):
            with mock.patch("os.cpu_count", return_value=4):
                return [s.key for s in cli.scenario_list(cli.build_parser().parse_args(["run", *argv]))]
        self.assertEqual(flags(), ["64B/1024f/1000r/0.9/stateful/1w"])
        self.assertEqual(flags("--traffic", "steady"), ["64B/1024f/1000r/0.9/stateful/1w"])
        self.assertEqual(flags("--traffic", "churn"), ["64B/262144f/1000r/1/stateful/1w/churn"])
        self.assertEqual(flags("--traffic", "synflood", "--workers", "2", "--flows", "3000,90000"),
                         ["64B/3000f/1000r/0.9/stateful/2w/synflood",
                          "64B/90000f/1000r/0.9/stateful/2w/synflood"])
        self.assertEqual(flags("--traffic", "churn", "--allowed", "1", "--rules", "5"),
                         ["64B/262144f/5r/1/stateful/1w/churn"])

    def test_same_values_other_traffic_is_another_scenario(self):
        path = self.write("defaults: {rules: 100, allowed: 1, flows: [4096]}\nscenarios:\n"
                          "  - {traffic: steady}\n  - {traffic: churn}\n  - {traffic: synflood}\n"
                          "  - {}\n  - {traffic: churn}\n")
        scns = scenarios.from_file(path, 2)
        self.assertEqual([(s.traffic, s.key) for s in scns],
                         [("steady", "64B/4096f/100r/1/stateful/1w"),
                          ("churn", "64B/4096f/100r/1/stateful/1w/churn"),
                          ("synflood", "64B/4096f/100r/1/stateful/1w/synflood")])

    def bench(self, *args):
        return subprocess.run([sys.executable, str(ROOT / "bench/vfgate-bench"), *args],
                              capture_output=True, text=True, timeout=60)

    def test_nic_mode_refuses_churn_and_synflood(self):
        # Refused before anything needs root or DPDK: exit 2, the scenario and its traffic named.
        for kind, key in (("churn", "64B/262144f/1000r/1/stateful/1w/churn"),
                          ("synflood", "64B/262144f/1000r/0.9/stateful/1w/synflood")):
            with self.subTest(kind=kind):
                r = self.bench("nic", "--traffic", kind, "--workers", "1")
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(r.stderr, f"vfgate-bench: {key}: traffic {kind} is measured in "
                                           f"software mode (run), not in nic mode\n")
        steady = scenarios.expand({"rules": 1000, "traffic": "steady"}, "t", 2)
        cli.check_nic_mode(steady)  # no error
        with self.assertRaisesRegex(scenarios.ScenarioError, "traffic churn is measured in software"):
            cli.check_nic_mode(steady + scenarios.expand({"rules": 1000, "traffic": "churn"}, "t", 2))

    def test_flags_errors(self):
        for mode in ("run", "nic"):
            with self.subTest(mode=mode):
                r = self.bench(mode, "--traffic", "flood")
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("vfgate-bench: flags.traffic: 'flood': want one of steady, churn, synflood",
                              r.stderr)
                r = self.bench(mode, "--traffic", "churn", "--allowed", "0.9")
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("vfgate-bench: flags.allowed: 0.9: churn traffic is allowed in full", r.stderr)
                r = self.bench(mode, "--traffic", "synflood", "--stateless")
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("vfgate-bench: flags.stateful: synflood traffic needs a stateful", r.stderr)


def vfgate_config(test, scn):
    """The vfgate config software mode writes for `scn`, parsed (its dataplane a stand-in that
    exits at once: no DPDK, no hugepages)."""
    with tempfile.TemporaryDirectory() as d, mock.patch.object(systems, "need_memory") as need, \
            mock.patch.object(systems.time, "sleep"):  # its wait for the stand-in to exit
        with test.assertRaisesRegex(systems.BenchError, "did not come up"):
            systems.Vfgate(scn, f"{d}/in.pcap", d, binary=shutil.which("true") or "/bin/true")
        need.assert_called_once()
        return yaml.safe_load((Path(d) / "vfgate.yaml").read_text())


def one(spec, cpus=16):
    [scn] = scenarios.expand(spec, "t", cpus)
    return scn


class GeneratedConfig(unittest.TestCase):
    def test_churn_table_is_a_quarter_of_the_flows_each_worker_sees(self):
        # Each worker's source queue replays the whole pcap: every worker sees every flow.
        cases = [  # flows, workers, capacity
            (262144, 1, 65536), (262144, 2, 65536), (262144, 4, 65536), (100000, 1, 24576),
            (1_000_000, 3, 249856), (8191, 1, 1024), (4096, 1, 1024), (4096, 2, 1024)]
        for flows, workers, want in cases:
            with self.subTest(flows=flows, workers=workers):
                scn = one({"rules": 100, "traffic": "churn", "flows": flows, "workers": workers})
                cfg = vfgate_config(self, scn)
                capacity = cfg["dataplane"]["conntrack"]["capacity"]
                self.assertEqual(capacity, want)
                self.assertEqual(capacity % 1024, 0)
                self.assertGreaterEqual(capacity, 1024)
                self.assertLessEqual(capacity * 4, flows)
                self.assertGreater((capacity + 1024) * 4, flows)
                self.assertEqual(cfg["dataplane"]["worker_cores"], list(range(1, workers + 1)))
                self.assertEqual(report.scenario_fields(scn)["conntrack_capacity"], capacity)
                # One sink, every generated rule allowing, stateful.
                [guest] = cfg["guests"]
                fw = guest["nics"][0]["firewall"]
                self.assertTrue(fw["stateful"])
                self.assertEqual(len(fw["ingress"]), 100)
                self.assertEqual({r["action"] for r in fw["ingress"]}, {"allow"})

    def test_steady_config_keeps_the_default_table(self):
        for spec in ({"rules": 1000}, {"rules": 0}, {"rules": 10, "stateful": False}):
            with self.subTest(spec=spec):
                scn = one(spec)
                cfg = vfgate_config(self, scn)
                self.assertNotIn("conntrack", cfg["dataplane"])
                self.assertNotIn("traffic", report.scenario_fields(scn))
                self.assertNotIn("conntrack_capacity", report.scenario_fields(scn))
                [guest] = cfg["guests"]
                self.assertEqual(guest["name"], "sink")
                self.assertEqual(guest["nics"][0]["mac"], traffic.DST_MAC)
                fw = guest["nics"][0].get("firewall")
                self.assertEqual(len(fw["ingress"]) if fw else 0, spec["rules"])

    def test_synflood_guests_a_and_b(self):
        scn = one({"rules": 50, "traffic": "synflood", "workers": 2})
        cfg = vfgate_config(self, scn)
        self.assertEqual(cfg["dataplane"]["conntrack"], {"capacity": 65536})
        self.assertEqual(report.scenario_fields(scn)["conntrack_capacity"], 65536)
        guests = {g["name"]: g for g in cfg["guests"]}
        self.assertEqual(set(guests), {"flooded", "quiet"})
        for name, mac, port in (("flooded", "02:00:00:00:00:02", 80), ("quiet", "02:00:00:00:00:03", 443)):
            with self.subTest(guest=name):
                [nic] = guests[name]["nics"]
                self.assertEqual(nic["name"], "eth0")
                self.assertEqual(nic["mac"], mac)
                self.assertRegex(nic["devargs"], r"^net_null\d,no-rx=1$")
                fw = nic["firewall"]
                self.assertTrue(fw["stateful"])
                self.assertEqual(fw["ingress_default"], "deny")
                self.assertEqual(fw["ingress"][0], {"id": f"tcp{port}", "action": "allow", "proto": "tcp",
                                                    "dst_port": port})
                self.assertEqual(len(fw["ingress"]), 1 + 50)
                self.assertEqual({r["proto"] for r in fw["ingress"][1:]}, {"udp"})
        self.assertNotEqual(guests["flooded"]["nics"][0]["devargs"], guests["quiet"]["nics"][0]["devargs"])


def read_pcap(path):
    """The frames of a pcap (microsecond, Ethernet), checking its headers."""
    data = Path(path).read_bytes()
    magic, major, minor, _, _, snap, link = struct.unpack("<IHHiIII", data[:24])
    assert (magic, major, minor, link) == (0xA1B2C3D4, 2, 4, 1), (magic, major, minor, link)
    frames, off = [], 24
    while off < len(data):
        _, _, incl, orig = struct.unpack("<IIII", data[off:off + 16])
        assert incl == orig <= snap, (incl, orig)
        frames.append(data[off + 16:off + 16 + incl])
        assert len(frames[-1]) == incl
        off += 16 + incl
    return frames


def ones_sum(b):
    """The 16-bit ones' complement sum (0xFFFF over data whose checksum is right)."""
    b = b + b"\0" * (len(b) % 2)
    s = sum(w for (w,) in struct.iter_unpack("!H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def parse(fr):
    """An IPv4 TCP or UDP frame's fields, its checksums verified (UDP's may be 0: none)."""
    eth_type = int.from_bytes(fr[12:14], "big")
    ihl = (fr[14] & 0x0F) * 4
    ip = fr[14:14 + ihl]
    total = int.from_bytes(ip[2:4], "big")
    proto, src, dst = ip[9], ip[12:16], ip[16:20]
    l4 = fr[14 + ihl:14 + total]
    pseudo = src + dst + bytes([0, proto]) + len(l4).to_bytes(2, "big")
    f = {"dst_mac": fr[0:6], "src_mac": fr[6:12], "type": eth_type, "version": ip[0] >> 4, "ihl": ihl,
         "total": total, "proto": proto, "src": src, "dst": dst, "ip_ok": ones_sum(ip) == 0xFFFF,
         "sport": int.from_bytes(l4[0:2], "big"), "dport": int.from_bytes(l4[2:4], "big")}
    if proto == 6:
        f.update(flags=l4[13], data_off=l4[12] >> 4, l4_ok=ones_sum(pseudo + l4) == 0xFFFF)
    else:
        f.update(l4_ok=l4[6:8] == b"\0\0" or ones_sum(pseudo + l4) == 0xFFFF)
    return f


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Pcaps(unittest.TestCase):
    def setUp(self):
        d = tempfile.TemporaryDirectory()
        self.addCleanup(d.cleanup)
        self.cache = Path(d.name)

    def test_steady_udp_pcaps_unchanged_byte_for_byte(self):
        # Hashes of the pcaps traffic.py wrote before churn and synflood (591c7c6): steady
        # results stay comparable with earlier runs.
        for spec, digest in (
                ({"flows": 7, "rules": 1000},
                 "01ab9be0a09b7d9519f3f7b0835a566a2577f8e65fd96bc4f8004f5c37246abc"),
                ({"flows": 3, "rules": 10, "sizes": ["imix"]},
                 "6e4d09181582975ac802aa043656e1f7e656dad9aeb0fb8f71921e9bb91c214c")):
            with self.subTest(spec=spec):
                [(phase, path)] = software.pcaps_for(one({**spec, "traffic": "steady"}), self.cache)
                self.assertIsNone(phase)
                self.assertEqual(sha256(path), digest)
        h = hashlib.sha256()
        for i in (0, 1, 999, 1000, 249_999, 250_000, 250_251, 999_999):
            h.update(traffic.frame(i, 64, 1000))
            h.update(traffic.frame(i, 1518, 7))
        self.assertEqual(h.hexdigest(), "5b722db4e2d579b933b8fc062f0eef84c1657bc45a28d95fa689aee20a47079a")

    def test_udp_frames_are_valid_ipv4(self):
        for i, size in ((0, 64), (250_001, 570), (999_999, 1518)):
            with self.subTest(i=i):
                f = parse(traffic.frame(i, size, 1000))
                self.assertEqual((f["type"], f["version"], f["ihl"], f["proto"]), (0x0800, 4, 20, 17))
                self.assertEqual(f["total"], size - 4 - 14)
                self.assertTrue(f["ip_ok"])

    def test_churn_pcap_holds_every_flow_once_each_allowed(self):
        scn = one({"rules": 1000, "traffic": "churn", "flows": 5000})
        [(phase, path)] = software.pcaps_for(scn, self.cache)
        self.assertIsNone(phase)
        frames = read_pcap(path)
        self.assertEqual(len(frames), 5000)
        fw = yaml.safe_load(systems.firewall_for(scn)[0])["firewall"]
        allow = {(r["dst"], r["dst_port"]) for r in fw["ingress"] if r["action"] == "allow"}
        self.assertEqual(len(allow), 1000)
        self.assertFalse([r for r in fw["ingress"] if r["action"] != "allow"])
        tuples = set()
        for fr in frames:
            f = parse(fr)
            self.assertEqual((len(fr), f["proto"], f["dst_mac"], f["src_mac"]),
                             (60, 17, traffic.mac(traffic.DST_MAC), traffic.mac(traffic.SRC_MAC)))
            self.assertTrue(f["ip_ok"])
            self.assertEqual(f["src"][:3], bytes([198, 18, 0]))  # in every rule's source prefix
            self.assertIn((".".join(map(str, f["dst"])) + "/32", f["dport"]), allow)
            tuples.add((f["src"], f["sport"], f["dst"], f["dport"]))
        self.assertEqual(len(tuples), 5000)
        # The table holds a quarter of them: the loop brings four times what fits.
        self.assertEqual(churn.capacity(scn) * 4, 4096)
        # Churn's flows are steady's: the same pcap.
        (self.cache / "steady").mkdir()
        self.assertEqual(sha256(path), sha256(software.pcap_for(one({"rules": 1000, "flows": 5000}),
                                                                self.cache / "steady")))

    def check_b(self, f):
        self.assertEqual(f["dst_mac"], bytes.fromhex("020000000003"))
        self.assertEqual(f["dst"], bytes([198, 19, 1, 3]))
        self.assertEqual(f["dport"], 443)
        self.assertEqual(f["flags"], 0x10)  # ACK alone: an established connection
        self.assertEqual(f["src"][:3], bytes([198, 18, 1]))

    def check_tcp(self, fr, size):
        f = parse(fr)
        self.assertEqual(len(fr), size - 4)
        self.assertEqual((f["type"], f["version"], f["ihl"], f["proto"], f["total"], f["data_off"]),
                         (0x0800, 4, 20, 6, 40, 5))
        self.assertEqual(f["src_mac"], traffic.mac(traffic.SRC_MAC))
        self.assertTrue(f["ip_ok"], "IPv4 header checksum")
        self.assertTrue(f["l4_ok"], "TCP checksum")
        self.assertEqual(fr[54:], bytes(size - 4 - 54))  # padding, zeroes
        return f

    def test_synflood_pcaps(self):
        flows = 301
        scn = one({"rules": 10, "traffic": "synflood", "flows": flows})
        pcaps = software.pcaps_for(scn, self.cache)
        self.assertEqual([p for p, _ in pcaps], ["baseline", "flood"])
        baseline, flood = (read_pcap(path) for _, path in pcaps)

        self.assertEqual(len(baseline), 1024)
        b_flows = set()
        for fr in baseline:
            f = self.check_tcp(fr, 64)
            self.check_b(f)
            b_flows.add((f["src"], f["sport"]))
        self.assertEqual(len(b_flows), 1024)

        self.assertEqual(len(flood), 4 * 101)
        self.assertEqual(churn.frames(scn), len(flood))
        syn_sources = set()
        for n, fr in enumerate(flood):
            with self.subTest(frame=n):
                f = self.check_tcp(fr, 64)
                if n % 4 == 0:
                    self.check_b(f)
                    self.assertIn((f["src"], f["sport"]), b_flows)
                else:
                    self.assertEqual(f["dst_mac"], bytes.fromhex("020000000002"))
                    self.assertEqual(f["dst"], bytes([198, 19, 1, 2]))
                    self.assertEqual(f["dport"], 80)
                    self.assertEqual(f["flags"], 0x02)  # SYN alone
                    syn_sources.add((f["src"], f["sport"]))
        # Every flood flow sends: from the UDP traffic's flows 0..flows-1's sources.
        udp = {(fr[26:30], int.from_bytes(fr[34:36], "big")) for fr in
               (traffic.frame(i, 64, 1000) for i in range(flows))}
        self.assertEqual(syn_sources, udp)
        self.assertEqual(len(syn_sources), flows)

    def test_synflood_imix(self):
        scn = one({"rules": 10, "traffic": "synflood", "flows": 6000, "sizes": ["imix"]})
        flood = list(churn.synflood_frames(scn, "flood"))
        self.assertEqual(len(flood), 8000)
        for n in list(range(0, 48)) + list(range(7952, 8000)):
            with self.subTest(frame=n):
                f = self.check_tcp(flood[n], traffic.IMIX[n % 12])
                self.assertEqual(f["dport"], 443 if n % 4 == 0 else 80)
        syn = {(fr[26:30], fr[34:36]) for n, fr in enumerate(flood) if n % 4}
        self.assertEqual(len(syn), 6000)
        b = [fr for n, fr in enumerate(flood) if n % 4 == 0]
        self.assertEqual(len(b), 2000)
        self.assertEqual(len({(fr[26:30], fr[34:36]) for fr in b}), 1024)
        baseline = list(churn.synflood_frames(scn, "baseline"))
        self.assertEqual(len(baseline), 1024)
        for n in list(range(0, 24)) + [1023]:
            with self.subTest(baseline_frame=n):
                self.check_b(self.check_tcp(baseline[n], traffic.IMIX[n % 12]))


class Clock:
    """software's time: sleeping moves it on, nothing waits."""
    def __init__(self):
        self.t = 1000.0

    def sleep(self, s):
        self.t += s

    def monotonic(self):
        return self.t


class Counters:
    """A system whose counters() gives `reads` in turn."""
    def __init__(self, *reads):
        self.reads = list(reads)

    def counters(self):
        return self.reads.pop(0)


def testpmd_counters(rx, tx):
    return {"rx": rx, "tx": tx, "drops": {}, "busy_cycles": None}


def vfgate_counters(rx, port_tx, conntrack_workers=None, drops=None):
    out = {"rx": rx, "tx": sum(port_tx.values()), "port_tx": port_tx, "drops": drops or {},
           "busy_cycles": 100 * rx, "packets": rx}
    if conntrack_workers is not None:
        out["conntrack"] = churn.conntrack_totals({"workers": conntrack_workers})
    return out


def measured(scn, system, phase, a, b, rep=0, dur=2.0):
    """A raw row as software.run makes it: `a` and `b` read `dur` seconds apart."""
    with mock.patch.object(software, "time", Clock()):
        row = software.measure_one(Counters(a, b), scn, 3, dur, phase)
    row.update({"rep": rep, "scenario": scn.key, "system": system})
    if phase:
        row["phase"] = phase
    return row


def ct(created, evicted, full, index=0):
    return {"index": index, "entries": 0, "denied": 0, "capacity": 65536, "created": created,
            "expired": 0, "evicted": evicted, "revoked": 0, "table_full": full}


def steady_rows(scn, rep=0):
    return [measured(scn, "testpmd-io", None, testpmd_counters(0, 0), testpmd_counters(20e6, 20e6), rep),
            measured(scn, "vfgate", None, vfgate_counters(0, {"sink/eth0": 0}),
                     vfgate_counters(20e6, {"sink/eth0": 10e6}), rep)]


def churn_rows(scn, rep=0):
    a = [ct(100, 0, 0, 0), {"index": 1, "created": 50, "table_full": 0}]  # worker 1: no `evicted`
    b = [ct(100 + 4e6, 3e6 + 2 * rep, 2000, 0), {"index": 1, "created": 50 + 2e6, "table_full": 0}]
    return [measured(scn, "testpmd-io", None, testpmd_counters(0, 0), testpmd_counters(16e6, 16e6), rep),
            measured(scn, "vfgate", None, vfgate_counters(0, {"sink/eth0": 0}, a),
                     vfgate_counters(8e6, {"sink/eth0": 6e6}, b), rep)]


def synflood_rows(scn, rep=0):
    sinks = lambda a, b: {"flooded/eth0": a, "quiet/eth0": b}  # noqa: E731
    rows = []
    for phase, rx, a_tx, b_tx, created in (("baseline", 6e6, 0, 6e6, 0), ("flood", 8e6, 4e6, 1.8e6, 4e6)):
        rows.append(measured(scn, "testpmd-io", phase, testpmd_counters(0, 0), testpmd_counters(rx, rx), rep))
        rows.append(measured(scn, "vfgate", phase, vfgate_counters(0, sinks(0, 0), [ct(0, 0, 0)]),
                             vfgate_counters(rx, sinks(a_tx, b_tx), [ct(created, created / 2, 0)]), rep))
    return rows


def run_doc(*pairs):
    """The document of a software run: pairs of a scenario and its rows' maker, 3 reps."""
    scns = [scn for scn, _ in pairs]
    raw = [row for rep in range(3) for scn, rows in pairs for row in rows(scn, rep)]
    return report.document("software", software.summarize(scns, raw), raw, {"reps": 3},
                           when="2026-11-22T00:00:00", host={"cpus": 2}, rev="abc")


OLD_HEAD = (f"{'scenario':<36} {'system':<10} {'Mpps':>7} {'offered':>7} {'Gbps':>7} "
            f"{'ratio':>6} {'cyc/pkt':>8}  drops (Mpps)")


class ChurnReport(unittest.TestCase):
    def setUp(self):
        self.STEADY = one({"rules": 1000})
        self.CHURN = one({"rules": 1000, "traffic": "churn"})
        self.SYNFLOOD = one({"rules": 1000, "traffic": "synflood"})

    def lines(self, text):
        """The table's data lines by (scenario, system), and its header."""
        head, rule, *rows = text.splitlines()
        self.assertEqual(rule, "-" * len(head))
        return head, rows

    def test_rates_from_the_counters(self):
        [_, row] = churn_rows(self.CHURN)
        self.assertEqual(row["new_conn_per_s"], 3e6)       # both workers' created
        self.assertEqual(row["evicted_per_s"], 1.5e6)      # worker 1 doesn't count them: 0
        self.assertEqual(row["table_full_per_s"], 1000)
        self.assertEqual(row["mpps"], 3.0)
        self.assertNotIn("b_mpps", row)
        self.assertIn("M new conn/s", churn.note(row))
        flood = synflood_rows(self.SYNFLOOD)
        base, fl = flood[1], flood[3]
        self.assertEqual((fl["a_mpps"], fl["b_mpps"], fl["b_delivered"]), (2.0, 0.9, 0.9))
        self.assertEqual((base["a_mpps"], base["b_mpps"], base["b_delivered"]), (0.0, 3.0, 1.0))
        self.assertEqual(fl["new_conn_per_s"], 2e6)
        # testpmd has no connection table: none of these.
        for row in (flood[0], flood[2], churn_rows(self.CHURN)[0], steady_rows(self.STEADY)[1]):
            self.assertFalse(set(row) & set(churn.MEDIANS + ("b_mpps",)), row)
            self.assertEqual(churn.note(row), "")

    def test_steady_table_and_json_unchanged(self):
        doc = run_doc((self.STEADY, steady_rows))
        head, rows = self.lines(report.table(doc))
        self.assertEqual(head, OLD_HEAD)
        self.assertEqual(len(rows), 2)
        [scn] = json.loads(report.dumps(doc))["scenarios"]
        self.assertEqual(set(scn), {"key", "size", "flows", "rules", "allowed", "stateful", "workers",
                                    "group", "results"})
        self.assertEqual(set(scn["results"]["vfgate"]),
                         {"mpps", "rx_mpps", "gbps", "cycles_per_packet", "drops_mpps", "reps", "ratio"})
        self.assertEqual(scn["results"]["vfgate"]["ratio"], 0.5)
        self.assertTrue(all("phase" not in r for r in doc["raw"]))

    def test_churn_columns_and_json(self):
        doc = json.loads(report.dumps(run_doc((self.STEADY, steady_rows), (self.CHURN, churn_rows))))
        text = report.table(doc)
        head, rows = self.lines(text)
        w = len(self.CHURN.key)
        self.assertEqual(head, f"{'scenario':<{w}} {'system':<10} {'Mpps':>7} {'offered':>7} {'Gbps':>7} "
                               f"{'ratio':>6} {'cyc/pkt':>8}   new M/s evict M/s  full M/s  drops (Mpps)")
        self.assertEqual(len(rows), 4)
        for line in rows:
            self.assertEqual(line.index(" testpmd-io " if "testpmd" in line else " vfgate "), w)
        by = {tuple(line.split()[:2]): line.split()[2:] for line in rows}
        self.assertEqual(by[(self.CHURN.key, "vfgate")][5:8], ["3.000", "1.500", "0.001"])
        self.assertEqual(by[(self.CHURN.key, "testpmd-io")][5:8], ["-", "-", "-"])
        self.assertEqual(by[(self.STEADY.key, "vfgate")][5:8], ["-", "-", "-"])
        steady, ch = doc["scenarios"]
        self.assertNotIn("traffic", steady)
        self.assertEqual((ch["traffic"], ch["conntrack_capacity"], ch["flows"]), ("churn", 65536, 262144))
        res = ch["results"]["vfgate"]
        self.assertEqual((res["new_conn_per_s"], res["evicted_per_s"], res["table_full_per_s"]),
                         (3e6, 1.5e6 + 1, 1000))  # medians over the reps
        self.assertEqual((res["mpps"], res["ratio"]), (3.0, 0.375))
        self.assertNotIn("new_conn_per_s", ch["results"]["testpmd-io"])
        self.assertFalse({"b_mpps_flood", "a_mpps", "mpps_baseline"} & set(res))
        # What `vfgate-bench table FILE` shows is the same.
        self.assertEqual(report.table(json.loads(report.dumps(doc))), text)
        self.assertFalse(report.compare(doc, doc, 5)[1])
        self.assertIn(self.CHURN.key, report.compare(doc, doc, 5)[0])

    def test_synflood_columns_and_json(self):
        doc = json.loads(report.dumps(run_doc((self.SYNFLOOD, synflood_rows))))
        head, rows = self.lines(report.table(doc))
        w = len(self.SYNFLOOD.key)
        self.assertEqual(head, f"{'scenario':<{w}} {'system':<10} {'Mpps':>7} {'offered':>7} {'Gbps':>7} "
                               f"{'ratio':>6} {'cyc/pkt':>8}   new M/s evict M/s  full M/s"
                               f"    B base   B flood   B deliv    A Mpps  drops (Mpps)")
        self.assertEqual(len(rows), 2)
        vf = next(line for line in rows if " vfgate " in line).split()
        # new, evict, full, B base, B flood, B deliv, A Mpps
        self.assertEqual(vf[7:14], ["2.000", "1.000", "0.000", "3.000", "0.900", "0.900", "2.000"])
        [scn] = doc["scenarios"]
        self.assertEqual((scn["key"], scn["traffic"], scn["conntrack_capacity"]),
                         (self.SYNFLOOD.key, "synflood", 65536))
        res = scn["results"]["vfgate"]
        self.assertEqual({k: res[k] for k in ("mpps", "mpps_baseline", "b_mpps_baseline", "b_mpps_flood",
                                              "b_delivered", "a_mpps", "new_conn_per_s", "evicted_per_s",
                                              "table_full_per_s")},
                         {"mpps": 2.9, "mpps_baseline": 3.0, "b_mpps_baseline": 3.0, "b_mpps_flood": 0.9,
                          "b_delivered": 0.9, "a_mpps": 2.0, "new_conn_per_s": 2e6, "evicted_per_s": 1e6,
                          "table_full_per_s": 0.0})
        self.assertEqual(res["reps"], [2.9] * 3)  # the flood's
        tp = scn["results"]["testpmd-io"]
        self.assertEqual((tp["mpps"], tp["mpps_baseline"]), (4.0, 3.0))
        self.assertEqual(res["ratio"], round(2.9 / 4.0, 4))
        self.assertEqual(sorted({r["phase"] for r in doc["raw"]}), ["baseline", "flood"])
        self.assertEqual(len(doc["raw"]), 3 * 2 * 2)

    def test_table_without_churn_has_no_extra_columns(self):
        # A churn scenario in the run brings churn's columns only; none in NIC mode.
        doc = run_doc((self.CHURN, churn_rows))
        head = self.lines(report.table(doc))[0]
        self.assertIn("new M/s", head)
        self.assertNotIn("B base", head)
        nic = copy.deepcopy(doc)
        nic["mode"] = "nic"
        self.assertNotIn("new M/s", report.table(nic))

    def test_ovs_on_steady_traffic_only(self):
        def names(scn):
            return [n for n, _ in software.systems_for(scn, ["ovs"])]
        self.assertEqual(names(self.CHURN), ["testpmd-io", "vfgate"])
        self.assertEqual(names(self.SYNFLOOD), ["testpmd-io", "vfgate"])
        self.assertEqual(names(self.STEADY), ["testpmd-io", "vfgate", "ovs-dpdk"])


class TapResult(unittest.TestResult):
    """TAP on stdout: meson counts each test case."""
    def __init__(self):
        super().__init__()
        self.n = 0

    def _line(self, test, ok, why=""):
        self.n += 1
        print(f"{'ok' if ok else 'not ok'} {self.n} - {test.id().split('.', 1)[1]}")
        for line in why.splitlines():
            print(f"# {line}")

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(test, True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(test, False, self.failures[-1][1])

    def addError(self, test, err):
        super().addError(test, err)
        self._line(test, False, self.errors[-1][1])

    def addSubTest(self, test, subtest, err):
        # A failing subtest fails its test without addFailure: its own line says which and why.
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = self.failures if issubclass(err[0], test.failureException) else self.errors
            self._line(subtest, False, failed[-1][1])


if __name__ == "__main__":
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = TapResult()
    suite.run(result)
    print(f"1..{result.n}")
    sys.exit(0 if result.wasSuccessful() else 1)
