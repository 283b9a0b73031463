#!/usr/bin/env bash
# The dataplane between network namespaces, with real kernel traffic (TAP output):
# ping and TCP between a guest and the uplink host and between two guests on one VLAN,
# isolation of a guest on another VLAN, IPv6, and a config.reload that adds a guest NIC while
# traffic flows on the others, without losing a packet.
#
#   netns_test.sh VFGATE_DATAPLANE VFGATECTL SOURCE_ROOT
set -u
dataplane=$1 ctl=$2 src=$3
. "$src/tests/system/harness.sh" system

nic() {  # nic NAME IFACE MAC ADDRS [EXTRA]
    printf '  - name: %s\n    nics:\n      - {name: eth0, type: dpdk, devargs: "net_af_packet%s,iface=%s", mac: "%s", addresses: [%s]%s}\n' \
        "$1" "$6" "$2" "$3" "$4" "${5:-}"
}
write_config() {  # write_config [with-db]
    {
        cat <<YAML
version: 1
dataplane:
  main_core: 0
  worker_cores: [1]
  hugepages: false
  memory_mb: 256
  control_socket: $sock
  uplinks:
    - {name: up0, device: "net_af_packet0,iface=vft-up0"}
guests:
YAML
        nic web vft-web 02:00:00:00:01:01 '198.18.10.11/24, "fd00:18::11/64"' "" 1
        nic app vft-app 02:00:00:00:02:01 '198.18.10.12/24, "fd00:18::12/64"' "" 2
        nic lab vft-lab 02:00:00:00:03:01 '198.18.10.13/24' ", vlan: 200" 3
        [ "${1:-}" = with-db ] && nic db vft-db 02:00:00:00:04:01 '198.18.10.14/24' "" 4
    } >"$cfg"
}

topo_host vft-uplink vft-up0 02:00:00:00:00:01 198.18.10.1/24 fd00:18::1/64
topo_host vft-web vft-web 02:00:00:00:01:01 198.18.10.11/24 fd00:18::11/64
topo_host vft-app vft-app 02:00:00:00:02:01 198.18.10.12/24 fd00:18::12/64
topo_host vft-lab vft-lab 02:00:00:00:03:01 198.18.10.13/24
write_config
harness_start

check "guest pings the uplink host" in_ns vft-web ping -c 3 -i 0.2 -W 2 198.18.10.1
check "uplink host pings a guest" in_ns vft-uplink ping -c 3 -i 0.2 -W 2 198.18.10.11
check "guest pings a guest on its VLAN" in_ns vft-app ping -c 3 -i 0.2 -W 2 198.18.10.11
check "IPv6 between guests" in_ns vft-app ping -6 -c 3 -i 0.2 -W 2 fd00:18::11
check "IPv6 guest to uplink host" in_ns vft-web ping -6 -c 3 -i 0.2 -W 2 fd00:18::1

tcp_transfer() {  # tcp_transfer FROM_NS TO_NS TO_ADDR: 4 MiB over TCP, byte-exact
    local from=$1 to=$2 addr=$3 got
    in_ns "$to" timeout 20 socat -u TCP-LISTEN:8080,reuseaddr "OPEN:$work/recv-$to,creat,trunc" &
    local listener=$!
    wait_listening "$to" tcp 8080 || return 1
    head -c 4194304 /dev/urandom >"$work/send"
    in_ns "$from" timeout 20 socat -u "OPEN:$work/send" "TCP:$addr:8080" || return 1
    wait "$listener" || return 1
    cmp "$work/send" "$work/recv-$to"
}
check "TCP 4 MiB uplink host -> guest, byte-exact" tcp_transfer vft-uplink vft-web 198.18.10.11
check "TCP 4 MiB guest -> guest, byte-exact" tcp_transfer vft-app vft-web 198.18.10.11
check "TCP 4 MiB guest -> uplink host, byte-exact" tcp_transfer vft-web vft-uplink 198.18.10.1

check_fails "guest on VLAN 200 can't reach the uplink host" in_ns vft-lab ping -c 2 -i 0.2 -W 1 198.18.10.1
check_fails "guest on VLAN 200 can't reach a guest on another VLAN" in_ns vft-lab ping -c 2 -i 0.2 -W 1 198.18.10.11
stats=$("$ctl" dataplane -s "$sock" --json stats)
check "counters moved on the guest port" python3 -c '
import json, sys
s = {p["name"]: p for p in json.loads(sys.argv[1])["ports"]}
assert s["web/eth0"]["rx_packets"] > 3000 and s["web/eth0"]["tx_packets"] > 3000, s["web/eth0"]
assert s["up0"]["tx_packets"] > 0 and s["up0"]["rx_packets"] > 0
' "$stats"

prefix=$("$ctl" dataplane -s "$sock" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["file_prefix"])')
telemetry=$(printf '/vfgate/port_stats,web/eth0\n' | dpdk-telemetry.py -f "$prefix" 2>&1)
check "DPDK telemetry shows the port's counters" python3 -c '
import json, sys
line = [l for l in sys.argv[1].splitlines() if "/vfgate/port_stats" in l][-1]
s = json.loads(line)["/vfgate/port_stats"]
assert s["rx_packets"] > 3000 and "drops_spoofed_mac" in s, s
' "$telemetry"

# Reload adding a guest NIC while app pings the uplink host at 100 packets/s: none may be lost.
topo_host vft-db vft-db 02:00:00:00:04:01 198.18.10.14/24
in_ns vft-app ping -c 500 -i 0.01 -w 30 198.18.10.1 >"$work/ping.log" 2>&1 &
pinger=$!
sleep 1
write_config with-db
reload=$("$ctl" dataplane -s "$sock" reload 2>&1)
wait "$pinger"
if grep -q "added:   db/eth0" <<<"$reload"; then ok "reload adds db/eth0"; else not_ok "reload adds db/eth0" "$reload"; fi
if grep -q " 0% packet loss" "$work/ping.log"; then ok "no packet lost on app during the reload"
else not_ok "no packet lost on app during the reload" "$(tail -3 "$work/ping.log")"; fi
check "the new guest is live" in_ns vft-db ping -c 3 -i 0.2 -W 2 198.18.10.1
check "the new guest reaches an old one" in_ns vft-db ping -c 3 -i 0.2 -W 2 198.18.10.12

write_config
"$ctl" dataplane -s "$sock" reload >/dev/null 2>&1
check_fails "a removed guest is cut off" in_ns vft-db ping -c 2 -i 0.2 -W 1 198.18.10.1
check "the others still talk" in_ns vft-app ping -c 3 -i 0.2 -W 2 198.18.10.1

# Every frame accounted for on a live system, across the reloads above (one removed a port):
# per worker, in + copies = out + drops (read again if a read caught a burst half counted).
identity() {
    local i
    for i in 1 2 3; do
        "$ctl" dataplane -s "$sock" --json stats | python3 -c '
import json, sys
ws = json.load(sys.stdin)["workers"]
assert ws and all(w["copies"] > 0 for w in ws), ws  # ARP broadcasts were flooded
sys.exit(0 if all(w["packets_in"] + w["copies"] == w["packets_out"] + w["drops"] for w in ws) else 1)
' && return 0
        sleep 0.2
    done
    "$ctl" dataplane -s "$sock" --json stats >&2
    return 1
}
check "every frame is sent or counted: in + copies = out + drops per worker" identity
check "vfgatectl dataplane stats shows the identity's columns" bash -c \
    '"$1" dataplane -s "$2" stats | grep -E "^WORKER +CORE +IN +COPIES +OUT +DROPS"' _ "$ctl" "$sock"
telemetry=$(printf '/vfgate/worker_stats,0\n' | dpdk-telemetry.py -f "$prefix" 2>&1)
check "DPDK telemetry shows a worker's packets in, copies, out and drops" python3 -c '
import json, sys
line = [l for l in sys.argv[1].splitlines() if "/vfgate/worker_stats" in l][-1]
s = json.loads(line)["/vfgate/worker_stats"]
assert s["packets_in"] > 3000 and s["copies"] > 0 and s["packets_out"] > 3000 and "drops" in s, s
' "$telemetry"

harness_stop
if [ ! -e "$sock" ]; then ok "control socket removed"; else not_ok "control socket removed"; fi

tap_done
