"""vfgate-bench's own logic (suite unit): the NDR search, the JSON document, compare, scenarios.

    python3 bench_logic_test.py SOURCE_ROOT
"""
import json
import random
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import yaml

ROOT = Path(sys.argv.pop(1)) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from vfgate_bench import ndr, report, scenarios, software, stages, systems, traffic  # noqa: E402

import tap_runner  # noqa: E402


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


class StageCycles(unittest.TestCase):
    """vfgate's cycles per stage (vfgate-stage-bench) in the results: medians over the reps,
    each stage on its own, and their table under the main one."""

    def raw(self):
        [scn] = scenarios.expand({"sizes": [64], "flows": [1024], "rules": 1000}, "t", 2)
        rows = []
        for rep, (parse, fw) in enumerate([(12.0, 31.0), (14.0, 29.0), (13.0, 40.0)]):
            rows.append({"rep": rep, "scenario": scn.key, "system": "testpmd-io", "mpps": 80.0,
                         "rx_mpps": 80.0, "gbps": 53.0, "drops": {}})
            rows.append({"rep": rep, "scenario": scn.key, "system": "vfgate", "mpps": 28.0,
                         "rx_mpps": 31.0, "gbps": 19.0, "drops": {}, "cycles_per_packet": 66.0,
                         "stage_cycles": {"parse": parse, "switch": 3.5, "firewall": fw,
                                          "total": parse + 3.5 + fw}})
        return [scn], rows

    def test_medians_per_stage(self):
        scns, raw = self.raw()
        [s] = software.summarize(scns, raw)
        st = s["results"]["vfgate"]["stage_cycles"]
        # Each stage's own median: the total's (46.5) is not the sum of theirs (47.5).
        self.assertEqual(st, {"parse": 13.0, "switch": 3.5, "firewall": 31.0, "total": 46.5})
        self.assertNotIn("stage_cycles", s["results"]["testpmd-io"])

    def test_table_shows_them_beside_the_worker(self):
        scns, raw = self.raw()
        doc = report.document("software", software.summarize(scns, raw), raw, {"reps": 3},
                              when="2026-12-07T00:00:00", host={"cpus": 2}, rev="abc")
        text = report.table(json.loads(report.dumps(doc)))
        lines = text.splitlines()
        at = lines.index(next(x for x in lines if x.startswith("vfgate cycles per packet")))
        [line] = [x for x in lines[at:] if x.startswith(scns[0].key)]
        self.assertEqual(line.split()[1:], ["66", "13.0", "3.5", "31.0", "46.5"])
        for r in raw:
            r.pop("stage_cycles", None)
        plain = report.document("software", software.summarize(scns, raw), raw, {"reps": 3},
                                when="2026-12-07T00:00:00", host={"cpus": 2}, rev="abc")
        self.assertNotIn("cycles per packet", report.table(plain))


class StageBenchRuns(unittest.TestCase):
    """stages.measure's handling of what the stage bench does: its JSON read, and its failures
    as BenchError (vfgate-bench then goes on without the row's stage cycles). The executable is
    a stand-in script, as the failures are what is under test; the real stage bench is run by
    the bench smoke test."""

    def script(self, body):
        d = tempfile.TemporaryDirectory()
        self.addCleanup(d.cleanup)
        path = Path(d.name) / "stage-bench"
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(0o755)
        return str(path)

    def test_reads_the_cycles_and_passes_the_arguments(self):
        exe = self.script('echo "$@" > "$(dirname "$0")/args"\n'
                          'echo \'{"cycles_per_packet": {"parse": 1, "switch": 2, "firewall": 3, '
                          '"total": 6}, "drops": {}}\'')
        got = stages.measure(exe, "/c.yaml", "/p.pcap", 1, packets=5)
        self.assertEqual(got, {"parse": 1.0, "switch": 2.0, "firewall": 3.0, "total": 6.0})
        args = (Path(exe).parent / "args").read_text().split()
        self.assertEqual(args, ["--json", "--core", "1", "/c.yaml", "/p.pcap", "up0", "5"])

    def test_failures_are_bench_errors_naming_the_cause(self):
        for body, want in (("echo 'no uplink up0' >&2; exit 1", "no uplink up0"),
                           ("echo 'cycles: 12'", "unexpected output"),
                           ('echo \'{"cycles_per_packet": {"parse": 1}}\'', "unexpected output")):
            with self.subTest(body=body), self.assertRaisesRegex(systems.BenchError, want):
                stages.measure(self.script(body), "/c.yaml", "/p.pcap", 1)
        with self.assertRaisesRegex(systems.BenchError, "vfgate-stage-bench"):
            stages.measure("/nonexistent/stage-bench", "/c.yaml", "/p.pcap", 1)


class Scenarios(tap_runner.TempFiles, unittest.TestCase):
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


if __name__ == "__main__":
    tap_runner.main(sys.modules[__name__])
