#!/bin/sh
# Benchmark (not in the meson suites): rte_flow insertion and deletion on net_tap, whose flows
# are tc flower filters in this VM's kernel. In one run, on the same kind of port:
#  (a) dpdk-test-flow-perf, DPDK's own tool (the host's binary: ./dpdk-test-flow-perf is a
#      symlink to dpdk-dev's /usr/bin/dpdk-test-flow-perf that scripts/testbed/run copies in),
#      $N drop rules `eth / ipv4 src X / udp -> drop`, insertion and deletion rates;
#  (b) vfgate-dataplane, a guest NIC with a stateless firewall, reloaded 0 -> $N deny rules
#      (insertion), -> $N others (the change: $N removed, $N added) -> 0 (deletion): the
#      offload's last update (flows added/removed, ms) and the reload command's wall time.
# flow-perf runs $FP_REPS times (a few seconds each), the reloads $REPS times. Prints TAP
# lines, and the table as comments (bench/README.md, "Offload: flow insertion").
. /share/env
DP="$VFGATE_BUILD/dataplane/vfgate-dataplane"
CTL="$VFGATE_BUILD/control/vfgatectl"
FLOW_PERF=/share/dpdk-test-flow-perf
W=/tmp/bench
SOCK=$W/dp.sock
N=1000
REPS=3
FP_REPS=5

ok() { echo "ok - $1"; }
no() { echo "not ok - $1"; }
comment() { sed 's/^/# /'; }
ctl() { "$CTL" dataplane -s "$SOCK" "$@"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
mkdir -p "$W"
for m in tun sch_multiq sch_ingress cls_flower act_gact act_mirred act_skbedit; do modprobe "$m"; done
echo "# $(uname -r), $(nproc) CPU, $(awk '/model name/ { $1 = $2 = $3 = ""; print; exit }' /proc/cpuinfo)"

# (a) flow-perf (it wants a main and a worker lcore): its "Total flows insertion rate -> X K
# Rules/Sec" and the deletion one, per run.
: > "$W/fp.rates"
for r in $(seq "$FP_REPS"); do
    "$FLOW_PERF" --lcores=0@0,1@0 --no-huge -m 256 --no-pci --file-prefix "fp$r" --log-level=5 \
        --vdev net_tap0,iface=fptap0 -- --ingress --ether --ipv4 --udp --drop \
        --rules-count=$N --rules-batch=100 --deletion-rate --total-mbuf-count=4096 \
        > "$W/fp$r.log" 2>&1
    rc=$?
    ins=$(sed -n 's/.*Total flows insertion rate -> \([0-9.]*\) K Rules\/Sec.*/\1/p' "$W/fp$r.log" | tail -1)
    del=$(sed -n 's/.*Total deletion rate -> \([0-9.]*\) K Rules\/Sec.*/\1/p' "$W/fp$r.log" | tail -1)
    grep -E "First Flow|Throughput|rror|fail" "$W/fp$r.log" | head -8 | comment
    if [ "$rc" = 0 ] && [ -n "$ins" ] && [ -n "$del" ]; then
        ok "flow-perf run $r: $N drop rules on net_tap: insertion $ins K/s, deletion $del K/s"
        echo "$ins $del" >> "$W/fp.rates"
    else
        no "flow-perf run $r (exit $rc)"
        tail -20 "$W/fp$r.log" | comment
    fi
done

# (b) vfgate-dataplane.
config() { # FILE PREFIX COUNT: COUNT deny rules from sources 10.PREFIX.x.y
    {
        cat <<CFG
version: 1
dataplane:
  worker_cores: [1]
  hugepages: false
  memory_mb: 256
  control_socket: $SOCK
  eal_args: ["--lcores=0@0,1@0"]
  uplinks:
    - {name: up0, device: "net_tap0,iface=bup0"}
guests:
  - name: g
    nics:
      - name: eth0
        type: dpdk
        devargs: "net_tap1,iface=bg0"
        mac: "02:00:00:00:09:02"
        firewall:
          stateful: false
          ingress_default: allow
CFG
        if [ "$3" -gt 0 ]; then
            echo "          ingress:"
            seq 0 $(($3 - 1)) | awk -v p="$2" '{ printf "            - {id: d%d-%d, action: deny, proto: udp, src: 10.%d.%d.%d, dst_port: 9999}\n", p, $1, p, int($1 / 256), $1 % 256 }'
        fi
    } > "$1"
}
config "$W/empty.yaml" 0 0
config "$W/a.yaml" 1 $N
config "$W/b.yaml" 2 $N

"$DP" --config "$W/empty.yaml" > "$W/dataplane.log" 2>&1 &
DP_PID=$!
for _ in $(seq 120); do
    ctl status > /dev/null 2>&1 && break
    kill -0 "$DP_PID" 2>/dev/null || break
    sleep 0.5
done
if ctl status > /dev/null 2>&1; then ok "vfgate-dataplane up on net_tap"; else
    no "vfgate-dataplane up on net_tap"; tail -20 "$W/dataplane.log" | comment; exit 0
fi
ctl offload 2>&1 | comment

: > "$W/vf.rows"
# Flows added, removed and refused, ms, the uplink's flows, deny rules in the NIC. net_tap
# refuses VLAN flows (the unused-VLANs entry): `refused` counts those, not rules.
STEP_FIELDS='.last_update as $u | [$u.added, $u.removed, $u.refused, ($u.ms * 10 | round / 10),
    ([.ports[] | select(.name == "up0") | .flows] | add),
    ([.entries[] | select(.kind == "rule" and .action == "deny" and .where == "nic")] | length)]
    | map(tostring) | join(" ")'
step() { # REP NAME FILE EXPECTED_FLOWS
    t=$(now_ms)
    ctl reload "$3" > "$W/reload.out" 2>&1
    rc=$?
    wall=$(( $(now_ms) - t ))
    ctl --json offload > "$W/offload.json"
    u=$(jq -r "$STEP_FIELDS" "$W/offload.json")
    set -- "$1" "$2" "$3" "$4" $u
    echo "$2 $5 $6 $7 $8 $wall" >> "$W/vf.rows"
    if [ "$rc" = 0 ] && [ "$9" = "$4" ] && [ "${10}" = "$4" ]; then
        ok "vfgate run $1, $2: $9 flows in the NIC (+$5 -$6 in $8 ms; reload $wall ms wall)"
    else
        no "vfgate run $1, $2: reload exit $rc, flows $9, deny rules in the NIC ${10} (want $4)"
        comment < "$W/reload.out"
        ctl offload 2>&1 | head -20 | comment
    fi
}
for r in $(seq "$REPS"); do
    step "$r" insert "$W/a.yaml" $N
    step "$r" change "$W/b.yaml" $N
    step "$r" delete "$W/empty.yaml" 0
done
kill -TERM "$DP_PID"
wait "$DP_PID"
cp "$W/dataplane.log" /share/dataplane.log

# The table: medians over the runs. Rates in flows (rules) per second.
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
fp_ins=$(awk '{ print $1 * 1000 }' "$W/fp.rates" | median)
fp_del=$(awk '{ print $2 * 1000 }' "$W/fp.rates" | median)
row() { # NAME: median flow ms, wall ms, added, removed
    ms=$(awk -v s="$1" '$1 == s { print $5 }' "$W/vf.rows" | median)
    wall=$(awk -v s="$1" '$1 == s { print $6 }' "$W/vf.rows" | median)
    add=$(awk -v s="$1" '$1 == s { print $2 }' "$W/vf.rows" | median)
    rem=$(awk -v s="$1" '$1 == s { print $3 }' "$W/vf.rows" | median)
    echo "$ms $wall $add $rem"
}
echo "# medians of $FP_REPS (flow-perf) and $REPS (vfgate) runs; rates in flows/s;"
echo "# ratio = vfgate's flow rate / flow-perf's (the change: / their harmonic mean)"
printf '# %-34s %8s %8s %10s %10s %12s %7s\n' step added removed "flow ms" "wall ms" "flows/s" ratio
printf '# %-34s %8s %8s %10s %10s %12.0f %7s\n' "flow-perf insert $N" $N 0 - - "$fp_ins" 1
printf '# %-34s %8s %8s %10s %10s %12.0f %7s\n' "flow-perf delete $N" 0 $N - - "$fp_del" 1
for s in insert change delete; do
    grep -q -E "^$s [0-9]+ [0-9]+ [0-9]+ [0-9.e+-]+ [0-9]+$" "$W/vf.rows" || continue
    set -- $(row $s)
    flows=$(( $3 + $4 ))
    rate=$(awk -v f="$flows" -v ms="$1" 'BEGIN { print (ms > 0) ? f * 1000 / ms : 0 }')
    base=$fp_ins
    [ $s = delete ] && base=$fp_del
    [ $s = change ] && base=$(awk -v i="$fp_ins" -v d="$fp_del" 'BEGIN { print 2 / (1 / i + 1 / d) }')
    ratio=$(awk -v r="$rate" -v b="$base" 'BEGIN { printf "%.2f", (b > 0) ? r / b : 0 }')
    printf '# %-34s %8s %8s %10.1f %10s %12.0f %7s\n' "vfgate $s (reload)" "$3" "$4" "$1" "$2" "$rate" "$ratio"
done
echo "# raw: flow-perf K rules/s (insert delete) per run:"; comment < "$W/fp.rates"
echo "# raw: vfgate step added removed refused ms flows wall_ms:"; comment < "$W/vf.rows"
exit 0
