"""vfgate-bench's traffic kinds (suite unit): churn and synflood scenarios, the configs and pcaps
they make, and how their results are reported.

    python3 bench_traffic_test.py SOURCE_ROOT
"""
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import yaml

ROOT = Path(sys.argv.pop(1)) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from vfgate_bench import churn, cli, report, scenarios, software, systems, traffic  # noqa: E402

import tap_runner  # noqa: E402

class TrafficKey(tap_runner.TempFiles, unittest.TestCase):
    """The scenario key `traffic` (bench/README.md, "Connection churn and SYN flood")."""
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


if __name__ == "__main__":
    tap_runner.main(sys.modules[__name__])
