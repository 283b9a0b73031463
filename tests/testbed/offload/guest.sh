#!/bin/sh
# rte_flow offload with flows that really drop (docs/firewall.md, "Offload"): net_tap turns
# rte_flow rules into tc flower filters on its tap, which this VM's kernel has (the CI host's
# lacks sch_multiq, cls_flower and act_gact). vfgate-dataplane runs in namespace `up` with
# the uplink net_tap0 (tap vfup0, 10.9.0.1) and guest g's NIC net_tap1, whose tap vfg0 moves
# to namespace `g` (10.9.0.2, g's MAC): the kernel's ICMP, TCP and UDP cross the dataplane.
# g's stateless firewall denies UDP 9999 and TCP 23 from the uplink: both become NIC drops,
# and a burst to 9999 is dropped by tc before DPDK sees it. A reload swaps the rules (9999
# passes again, UDP 5555 is dropped in the NIC), `offload: false` moves the denies back to
# software, and the taps and their filters go with the process. Prints TAP lines.
. /share/env
DP="$VFGATE_BUILD/dataplane/vfgate-dataplane"
CTL="$VFGATE_BUILD/control/vfgatectl"
W=/tmp/offload
SOCK=$W/dp.sock
GMAC=02:00:00:00:09:02
T0=$(cut -d' ' -f1 /proc/uptime)
BURST=200

ok() { echo "ok - $1"; }
no() { echo "not ok - $1"; }
check() { # DESCRIPTION COMMAND...
    d=$1; shift
    if "$@" > /tmp/check.out 2>&1; then ok "$d"; else no "$d"; sed 's/^/# /' /tmp/check.out; fi
}
check_fails() { # DESCRIPTION COMMAND...
    d=$1; shift
    if "$@" > /tmp/check.out 2>&1; then no "$d"; sed 's/^/# /' /tmp/check.out; else ok "$d"; fi
}
comment() { sed 's/^/# /'; }
since() { awk -v t0="$1" '{ printf "%.1f", $1 - t0 }' /proc/uptime; }
in_up() { ip netns exec up "$@"; }
in_g() { ip netns exec g "$@"; }
ctl() { "$CTL" dataplane -s "$SOCK" "$@"; }
traffic() { python3 /share/traffic.py "$@"; }
# Where an ingress rule of g/eth0 runs and its flows: "nic 1", "software 0", or "" (no entry).
entry() { ctl --json offload | jq -r --arg r "$1" \
    '.entries[] | select(.kind == "rule" and .rule == $r) | "\(.where) \(.flows)"'; }
rx_up0() { ctl --json stats | jq '.ports[] | select(.name == "up0") | .rx_packets'; }
udp_count() { cat "$W/udp-$1"; }
# net_tap puts ingress flows as flower filters under its multiq qdisc (1:) on the tap; the
# packets their gact drop actions took, summed (over the filters on dst_port PORT if given).
tc_filters() { in_up tc -s filter show dev vfup0 parent 1: 2>&1; }
tc_dropped() {
    tc_filters | awk -v port="${1:-}" '/^filter / { p = "" } $1 == "dst_port" { p = $2 }
        /action order .*gact action drop/ { a = 1 }
        a && /Sent .* pkt/ { if (port == "" || p == port) n += $4; a = 0 } END { print n + 0 }'
}
last_update() { ctl --json offload | jq -c '.last_update'; }
keep_logs() { cp "$W/dataplane.log" /share/dataplane.log 2>/dev/null; }
trap keep_logs EXIT

mkdir -p "$W"
for m in tun sch_multiq sch_ingress cls_flower cls_bpf act_gact act_mirred act_skbedit act_bpf; do
    modprobe "$m" || echo "# modprobe $m failed"
done

config() { # FILE OFFLOAD [RULE...]: g/eth0's ingress rules after its allows
    f=$1 off=$2
    shift 2
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
    - {name: up0, device: "net_tap0,iface=vfup0", offload: $off}
guests:
  - name: g
    nics:
      - name: eth0
        type: dpdk
        devargs: "net_tap1,iface=vfg0"
        mac: "$GMAC"
        addresses: [10.9.0.2/24]
        firewall:
          stateful: false
          ingress_default: allow
          egress_default: allow
          ingress:
            - {id: ping, action: allow, proto: icmp}
            - {id: echo-tcp, action: allow, proto: tcp, dst_port: 7000}
            - {id: echo-udp, action: allow, proto: udp, dst_port: 7001}
CFG
        for r in "$@"; do echo "            - $r"; done
    } > "$f"
}
DENY_9999='{id: no-9999, action: deny, proto: udp, dst_port: 9999}'
DENY_23='{id: no-telnet, action: deny, proto: tcp, dst: 10.9.0.2, dst_port: 23}'
DENY_5555='{id: no-5555, action: deny, proto: udp, src: 10.9.0.0/24, dst_port: 5555}'
config "$W/a.yaml" true "$DENY_9999" "$DENY_23"
config "$W/b.yaml" true "$DENY_23" "$DENY_5555"
config "$W/c.yaml" false "$DENY_23" "$DENY_5555"

ip netns add up
ip netns add g
in_up ip link set lo up
in_g ip link set lo up
t=$(cut -d' ' -f1 /proc/uptime)
# Not through in_up: a function run in the background is a subshell, and $! would be its pid.
ip netns exec up "$DP" --config "$W/a.yaml" > "$W/dataplane.log" 2>&1 &
DP_PID=$!
for _ in $(seq 120); do
    ctl status > /dev/null 2>&1 && break
    kill -0 "$DP_PID" 2>/dev/null || break
    sleep 0.5
done
check "the dataplane is up on two net_tap ports ($(since "$t") s)" ctl status
# The guest's tap goes to its namespace; the uplink's stays with the process, whose netlink
# socket (net_tap's tc requests) lives in `up`.
in_up ip link set vfg0 netns g
in_g ip link set vfg0 address "$GMAC"
in_g ip addr add 10.9.0.2/24 dev vfg0
in_g ip link set vfg0 up
in_up ip addr add 10.9.0.1/24 dev vfup0
in_up ip link set vfup0 up
in_g python3 /share/traffic.py serve "$W" > "$W/serve.log" 2>&1 &
for _ in $(seq 50); do [ -f "$W/serving" ] && break; sleep 0.2; done

check "ping up -> g across the dataplane (allow icmp)" in_up ping -c 3 -i 0.3 -W 3 10.9.0.2
check "TCP up -> g:7000 and back (allow)" in_up python3 /share/traffic.py tcp 10.9.0.2 7000
check "UDP up -> g:7001 and back (allow)" in_up python3 /share/traffic.py udp 10.9.0.2 7001
check_fails "TCP up -> g:23 is denied" in_up python3 /share/traffic.py tcp 10.9.0.2 23

ctl offload 2>&1 | comment
in_nic() { for r in "$@"; do e=$(entry "$r"); echo "$r: $e"; case $e in "nic "[1-9]*) ;; *) return 1 ;; esac; done; }
check "offload: the deny rules no-9999 and no-telnet run in the NIC, with flows" in_nic no-9999 no-telnet
echo "# tc on vfup0 (namespace up):"
in_up tc qdisc show dev vfup0 | comment
tc_filters | comment
check "tc: flower drop filters on vfup0 for UDP 9999 and TCP 23" \
    sh -c "ip netns exec up tc filter show dev vfup0 parent 1: > /tmp/f; grep -q 'dst_port 9999' /tmp/f && grep -q 'dst_port 23' /tmp/f && grep -q 'action drop' /tmp/f"
n=$(tc_dropped 23)
check "tc: the TCP 23 filter dropped the SYNs of the denied connection ($n packets)" [ "$n" -ge 1 ]

# A burst the NIC drops: tc's counter moves, the dataplane sees (almost) nothing.
burst() { # PORT N: sends N datagrams from up to g:PORT; sets dropped_by_tc, rx_delta, got
    tc0=$(tc_dropped) rx0=$(rx_up0) n0=$(udp_count "$1")
    in_up python3 /share/traffic.py burst 10.9.0.2 "$1" "$2" > /dev/null
    sleep 1
    dropped_by_tc=$(( $(tc_dropped) - tc0 )) rx_delta=$(( $(rx_up0) - rx0 )) got=$(( $(udp_count "$1") - n0 ))
    echo "# burst of $2 to UDP $1: tc dropped $dropped_by_tc, up0 rx +$rx_delta, g received $got"
}
burst 9999 $BURST
tc_filters | comment
check "the burst to UDP 9999 is dropped by tc (its counter +$dropped_by_tc of $BURST)" [ "$dropped_by_tc" -ge $BURST ]
check "the dataplane's up0 RX counter doesn't see it (+$rx_delta)" [ "$rx_delta" -lt 10 ]
check "g received none of it" [ "$got" = 0 ]

# Reload: no-9999 goes, no-5555 comes.
t=$(date +%s%N)
ctl reload "$W/b.yaml" 2>&1 | comment
echo "# reload: $(( ($(date +%s%N) - t) / 1000000 )) ms wall; last update: $(last_update)"
ctl offload 2>&1 | comment
update_counts() { # ADDED REMOVED: at least
    u=$(last_update); echo "$u"
    [ "$(echo "$u" | jq ".added >= $1 and .removed >= $2")" = true ]
}
check "reload: the last update added and removed flows" update_counts 1 1
check "offload: no-5555 runs in the NIC, no-telnet still" in_nic no-5555 no-telnet
check "offload: no-9999 has no entry any more" [ -z "$(entry no-9999)" ]
tc_filters | comment
check "tc: the UDP 9999 filter is gone, one for 5555 is there" \
    sh -c "ip netns exec up tc filter show dev vfup0 parent 1: > /tmp/f; ! grep -q 'dst_port 9999' /tmp/f && grep -q 'dst_port 5555' /tmp/f"
burst 9999 100
check "UDP 9999 passes again: g received $got of 100" [ "$got" -ge 90 ]
check "and no tc filter drops it (+$dropped_by_tc)" [ "$dropped_by_tc" = 0 ]
burst 5555 $BURST
check "the burst to UDP 5555 is dropped by tc (+$dropped_by_tc of $BURST)" [ "$dropped_by_tc" -ge $BURST ]
check "the dataplane's up0 RX counter doesn't see it (+$rx_delta), g got $got" \
    [ "$rx_delta" -lt 10 -a "$got" = 0 ]

# offload: false: the denies go back to software and still deny.
ctl reload "$W/c.yaml" 2>&1 | comment
ctl offload 2>&1 | comment
in_sw() { for r in "$@"; do e=$(entry "$r"); echo "$r: $e"; [ "$e" = "software 0" ] || return 1; done; }
check "offload: false: no-5555 and no-telnet run in software" in_sw no-5555 no-telnet
check "tc: no flower filter left on vfup0" sh -c "! ip netns exec up tc filter show dev vfup0 parent 1: | grep -q flower"
hits() { ctl --json rules | jq --arg r "$1" '[.[] | .ingress.rules[] | select(.id == $r) | .hits] | add'; }
h0=$(hits no-5555)
burst 5555 100
h=$(( $(hits no-5555) - h0 ))
check "UDP 5555 is still denied: g got $got, the dataplane received it (up0 rx +$rx_delta)" \
    [ "$got" = 0 -a "$rx_delta" -ge 100 ]
check "and counted it on rule no-5555 (+$h hits)" [ "$h" -ge 100 ]
check_fails "TCP up -> g:23 is still denied" in_up python3 /share/traffic.py tcp 10.9.0.2 23
check "ping still passes" in_up ping -c 2 -i 0.3 -W 3 10.9.0.2

# Back to the NIC, then stop: the process's taps, and the filters on them, go with it.
ctl reload "$W/b.yaml" 2>&1 | comment
check "offload back on: no-5555 and no-telnet in the NIC again" in_nic no-5555 no-telnet
echo "# last update: $(last_update)"
kill -TERM "$DP_PID"
wait "$DP_PID"
rc=$?
tail -5 "$W/dataplane.log" | comment
check "SIGTERM: the dataplane exits 0" [ "$rc" = 0 ]
check_fails "vfup0 is gone with the process (no device, so no tc filter left)" in_up ip link show vfup0
check_fails "vfg0 is gone from g too" in_g ip link show vfg0
echo "# the case took $(since "$T0") s"
exit 0
