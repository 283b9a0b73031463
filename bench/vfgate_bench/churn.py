"""Connection churn and SYN flood, the scenario key `traffic` (bench/README.md, "Connection
churn and SYN flood"): the connection table each sets, the SYN flood's pcaps and guests, and
the numbers read from the connection tables and the sinks.

- churn: the scenario's UDP flows, every one allowed, replayed in a loop through a table of a
  quarter their number: each packet is a connection the table no longer holds.
- synflood: guest B's established TCP flows alone (the baseline), then the same frames, one in
  four, among SYNs toward guest A from `flows` sources (the flood).
"""
import collections
import statistics

from . import traffic

Guest = collections.namedtuple("Guest", "name mac ip port")
FLOODED = Guest("flooded", traffic.DST_MAC, bytes([198, 19, 1, 2]), 80)     # A
QUIET = Guest("quiet", "02:00:00:00:00:03", bytes([198, 19, 1, 3]), 443)    # B
SINKS = tuple(f"{g.name}/eth0" for g in (FLOODED, QUIET))
QUIET_FLOWS = 1024
SYNFLOOD_CAPACITY = 65536
TCP_SYN, TCP_ACK = 0x02, 0x10
B_SHARE = {"baseline": 1.0, "flood": 0.25}  # of the frames offered
MEDIANS = ("new_conn_per_s", "evicted_per_s", "table_full_per_s", "a_mpps", "b_delivered")


def capacity(scn):
    """The connection table's capacity per worker (None: the dataplane's default). churn: a
    quarter of the flows, a multiple of 1024, at least 1024 (each worker's source queue replays
    the whole pcap, so each worker sees every flow); synflood: 65536."""
    if scn.traffic == "churn":
        return max(1024, scn.flows // 4 // 1024 * 1024)
    return SYNFLOOD_CAPACITY if scn.traffic == "synflood" else None


def phases(scn):
    """What is measured per system: synflood's baseline and flood, else the one pcap (None)."""
    return ("baseline", "flood") if scn.traffic == "synflood" else (None,)


def frames(scn):
    """Frames in the scenario's largest pcap (the source holds them all)."""
    if scn.traffic == "synflood":
        return 4 * -(-scn.flows // 3)
    return traffic.frames_needed(scn.flows, scn.size)


def _quiet(k, size):
    """B's flow k: an ACK (an established connection) from 198.18.1.(k/256+1):(40000+k)."""
    src = bytes([198, 18, 1, k // 256 + 1])
    return traffic.tcp_frame(QUIET.mac, src, 40000 + k, QUIET.ip, QUIET.port, TCP_ACK, size)


def _syn(i, size):
    """Flood flow i: a SYN to A from steady flow i's source address and port."""
    src, sport = traffic.source(i)
    return traffic.tcp_frame(FLOODED.mac, src, sport, FLOODED.ip, FLOODED.port, TCP_SYN, size)


def synflood_frames(scn, phase):
    """The baseline: B's flows once each. The flood: one B frame, then three SYNs, in turn,
    until every flood flow has sent one (IMIX: frame n has IMIX[n % 12] bytes)."""
    sizes = traffic.sizes_of(scn.size)
    if phase == "baseline":
        return (_quiet(k, sizes[k % len(sizes)]) for k in range(QUIET_FLOWS))

    def nth(n):
        group, r = divmod(n, 4)
        size = sizes[n % len(sizes)]
        return _quiet(group % QUIET_FLOWS, size) if r == 0 else _syn((3 * group + r - 1) % scn.flows, size)
    return (nth(n) for n in range(frames(scn)))


def guests_yaml(scn):
    """synflood's guests A and B: net_null sinks on the uplink, untagged, each with a stateful
    firewall allowing TCP to its port, then the scenario's generated rules, default deny."""
    out = ""
    for n, g in enumerate((FLOODED, QUIET)):
        allow = {"id": f"tcp{g.port}", "action": "allow", "proto": "tcp", "dst_port": g.port}
        out += (f"  - name: {g.name}\n    nics:\n      - name: eth0\n        type: dpdk\n"
                f"        devargs: \"net_null{n},no-rx=1\"\n        mac: \"{g.mac}\"\n" +
                traffic.firewall_yaml(scn.rules, scn.allowed, True, first=[allow]))
    return out


def conntrack_totals(reply):
    """A `firewall.conntrack` reply's created, evicted (0 where the dataplane doesn't count
    them) and table_full, summed over the workers."""
    return {k: sum(w.get(k, 0) for w in reply["workers"]) for k in ("created", "evicted", "table_full")}


def rates(scn, phase, a, b, dt):
    """Churn's and the SYN flood's numbers from counters `a` and `b`, `dt` seconds apart (none
    for steady traffic, nor for systems without vfgate's connection tables)."""
    if scn.traffic == "steady" or "conntrack" not in b:
        return {}
    d = {k: b["conntrack"][k] - a["conntrack"][k] for k in b["conntrack"]}
    row = {"new_conn_per_s": d["created"] / dt, "evicted_per_s": d["evicted"] / dt,
           "table_full_per_s": d["table_full"] / dt}
    if scn.traffic == "synflood":
        a_tx, b_tx = (b["port_tx"][p] - a["port_tx"][p] for p in SINKS)
        b_offered = (b["rx"] - a["rx"]) * B_SHARE[phase]
        row.update(a_mpps=a_tx / dt / 1e6, b_mpps=b_tx / dt / 1e6,
                   b_delivered=b_tx / b_offered if b_offered else 0.0)
    return row


def medians(rows, baseline):
    """The medians over the reps of one system: its churn and flood numbers (`rows`: synflood's
    flood measurements) and synflood's baseline (`baseline`)."""
    med = {k: statistics.median(r[k] for r in rows) for k in MEDIANS if k in rows[0]}
    if "b_mpps" in rows[0]:
        med["b_mpps_flood"] = statistics.median(r["b_mpps"] for r in rows)
    if baseline:
        med["mpps_baseline"] = statistics.median(r["mpps"] for r in baseline)
        if "b_mpps" in baseline[0]:
            med["b_mpps_baseline"] = statistics.median(r["b_mpps"] for r in baseline)
    return med


def note(row):
    """What a finished measurement's progress line adds."""
    text = f", {row['new_conn_per_s'] / 1e6:.3f} M new conn/s" if "new_conn_per_s" in row else ""
    if "b_mpps" in row:
        text += f", B {row['b_mpps']:.2f} Mpps ({row['b_delivered']:.2f}), A {row['a_mpps']:.2f} Mpps"
    return text
