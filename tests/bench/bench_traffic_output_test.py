"""vfgate-bench's traffic kinds (suite unit): the pcaps churn and synflood make, and how their
results are measured and reported. Their scenarios and configs: bench_traffic_test.py.

    python3 bench_traffic_output_test.py SOURCE_ROOT
"""
import copy
import hashlib
import json
import struct
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import yaml

ROOT = Path(sys.argv.pop(1)) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from vfgate_bench import churn, report, scenarios, software, systems, traffic  # noqa: E402

import tap_runner  # noqa: E402
from bench_traffic_test import one, vfgate_config  # noqa: E402



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


if __name__ == "__main__":
    tap_runner.main(sys.modules[__name__])
