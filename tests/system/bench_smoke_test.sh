#!/usr/bin/env bash
# vfgate-bench end to end (TAP), short runs: software mode (testpmd io and vfgate on the same
# pcap, 100 generated rules, 90% allowed) and NIC mode (vfgate-trafgen over memif to a vfgate
# it starts, NDR/PDR search, latency). Checks what a user reads: both systems forwarded, the
# firewall dropped the denied tenth, the JSON, the plot, compare's verdicts.
#
#   bench_smoke_test.sh VFGATE_DATAPLANE VFGATE_TRAFGEN SOURCE_ROOT VFGATE_STAGE_BENCH
set -u
export VFGATE_DATAPLANE=$1 VFGATE_TRAFGEN=$2 VFGATE_STAGE_BENCH=$4
src=$3
. "$src/tests/system/tap.sh"
work=$(mktemp -d /tmp/vfgate-bench-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
bench="$src/bench/vfgate-bench"

check "software mode runs (1 rep, 1 s, 1k flows, 100 rules)" \
    "$bench" run --reps 1 --warm 0.5 --dur 1 --flows 1024 --rules 100 --json "$work/sw.json" \
    --plot "$work/sw.png" --workdir "$work/sw"
check "both systems forwarded; vfgate's firewall dropped the denied tenth of what it received" \
    python3 - "$work/sw.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
[s] = d["scenarios"]
assert s["key"] == "64B/1024f/100r/0.9/stateful/1w", s["key"]
io, vf = s["results"]["testpmd-io"], s["results"]["vfgate"]
assert io["mpps"] > 0.1 and vf["mpps"] > 0.1, (io, vf)
share = vf["drops_mpps"]["firewall"] / vf["rx_mpps"]
assert 0.09 < share < 0.11, share
assert abs(vf["mpps"] + vf["drops_mpps"]["firewall"] - vf["rx_mpps"]) < 0.02 * vf["rx_mpps"], vf
assert vf["ratio"] == round(vf["mpps"] / io["mpps"], 4) and vf["cycles_per_packet"] > 0, vf
# vfgate-stage-bench ran on the same config and pcap: each stage took cycles, and (1 rep, so no
# median apart) the stages add up to their total.
st = vf["stage_cycles"]
assert min(st["parse"], st["switch"], st["firewall"]) > 0, st
assert abs(st["parse"] + st["switch"] + st["firewall"] - st["total"]) < 0.05, st
assert "stage_cycles" not in io, io
print(f"io {io['mpps']:.2f}, vfgate {vf['mpps']:.2f} Mpps, denied share {share:.3f}, stages {st}")
PY
check "the table shows vfgate's cycles per stage" grep -q "^vfgate cycles per packet" <<<"$("$bench" table "$work/sw.json")"
check "the plot is a PNG" python3 -c 'import sys; assert open(sys.argv[1], "rb").read(8) == b"\x89PNG\r\n\x1a\n"' "$work/sw.png"
check "compare with itself: no regression (exit 0)" "$bench" compare "$work/sw.json" "$work/sw.json"
python3 - "$work/sw.json" "$work/worse.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["scenarios"][0]["results"]["vfgate"]["ratio"] *= 0.8
json.dump(d, open(sys.argv[2], "w"))
PY
check_fails "compare with a run 20% worse: a regression (exit 1)" "$bench" compare "$work/sw.json" "$work/worse.json"
check_fails "a bad scenario is refused, naming it" "$bench" run --sizes 63
out=$("$bench" run --sizes 63 2>&1)
check "the error names the flag and the value" grep -q "flags.sizes: frame size 63" <<<"$out"

# At most 1 Mpps, down to 1/64 of it: the tool is under test, not this shared VM's scheduling
# (memif rings of 16384 ride out stalls of 16 ms at the top rate, a second at the bottom).
check "NIC mode runs over memif (1 rep, 0.5 s trials)" \
    "$bench" nic --reps 1 --trial 0.5 --flows 64 --rules 100 --max-rate 1 --resolution 0.02 \
    --json "$work/nic.json" --workdir "$work/nic"
check "NIC mode found a zero-loss rate, a PDR, and latency percentiles in order" \
    python3 - "$work/nic.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["mode"] == "nic"
r = d["scenarios"][0]["results"]["vfgate"]
lat = r["latency_us"]
assert 0 < r["ndr_mpps"] <= r["pdr_mpps"] <= 1, r
assert r["max_offered_mpps"] == 1, r
assert 0 < lat["p50"] <= lat["p99"] <= lat["p99.9"] <= lat["max"], lat
trials = d["raw"][0]["trials"]
assert any(t["loss"] == 0 for t in trials), trials
print(f"NDR {r['ndr_mpps']:.2f} Mpps, PDR {r['pdr_mpps']:.2f}, p50 {lat['p50']} us, {len(trials)} trials")
PY
tap_done
