#!/usr/bin/env bash
# A vhost-user guest NIC (TAP output). The "guest" is dpdk-testpmd with a virtio-user port on
# the socket vfgate serves, forwarding in macswap mode: frames replayed on the uplink reach it
# through the switch and come back. Then the guest restarts and traffic must resume.
#
#   vhost_test.sh VFGATE_DATAPLANE VFGATECTL SOURCE_ROOT
set -u
dataplane=$1 ctl=$2 src=$3
. "$src/tests/system/tap.sh"
work=$(mktemp -d /tmp/vfgate-vhost-XXXXXX)
sock=$work/dp.sock
guest_mac=02:00:00:00:00:0a
pid= guest=
cleanup() {
    [ -n "$guest" ] && kill -INT "$guest" 2>/dev/null && wait "$guest" 2>/dev/null
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -z "${KEEP:-}" ] && rm -rf "$work"
}
trap cleanup EXIT
expect() { if eval "$2"; then ok "$1"; else not_ok "$1" "${3:-}"; fi; }

# 64-byte UDP frames from an uplink host to the guest.
python3 - "$work/to-guest.pcap" "$guest_mac" <<'PY'
import struct, sys
mac = lambda s: bytes(int(x, 16) for x in s.split(':'))
frame = mac(sys.argv[2]) + mac('52:54:00:99:99:99') + b'\x08\x00' + bytes(46)
with open(sys.argv[1], 'wb') as f:
    f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for _ in range(64):
        f.write(struct.pack('<IIII', 0, 0, len(frame), len(frame)) + frame)
PY
cat >"$work/vfgate.yaml" <<YAML
version: 1
dataplane:
  hugepages: false
  memory_mb: 256
  control_socket: $sock
  uplinks:
    - {name: up0, device: "net_pcap0,rx_pcap=$work/to-guest.pcap,infinite_rx=1"}
guests:
  - name: g
    nics:
      - {name: v, type: vhost-user, mac: "$guest_mac"}
YAML
"$dataplane" --config "$work/vfgate.yaml" >"$work/dataplane.log" 2>&1 &
pid=$!
. "$src/scripts/lib/topology.sh"
topo_wait_dataplane "$ctl" "$sock" "$pid" || { not_ok "dataplane up" "$(cat "$work/dataplane.log")"; echo "1..$n"; exit 1; }
ok "dataplane up"

port() {  # port NAME FIELD: from `stats` (FIELD rx_packets...) or `ports` (FIELD link)
    local method=stats
    [ "$2" = link ] && method=ports
    "$ctl" dataplane -s "$sock" --json "$method" | python3 -c '
import json, sys
d = json.load(sys.stdin)
ports = d["ports"] if isinstance(d, dict) else d
print(next(p for p in ports if p["name"] == sys.argv[1])[sys.argv[2]])' "$1" "$2"
}
vhost_sock=$work/vhost-g-v.sock
expect "vhost-user socket served at $vhost_sock" "[ -S '$vhost_sock' ]"
expect "guest port down before the guest connects" "[ \"\$(port g/v link)\" = down ]"

start_guest() {
    stdbuf -oL dpdk-testpmd --lcores='0@0,1@0' --file-prefix "vfgate-vhost-guest-$$" --in-memory --single-file-segments -m 256 \
        --no-pci --vdev "net_virtio_user0,path=$vhost_sock,queues=1,mac=$guest_mac" -- \
        --forward-mode=macswap --stats-period 1 >"$work/guest.log" 2>&1 &
    guest=$!
}
moved_both_ways() {  # waits up to 15 s for the guest port to move packets in both directions
    local rx0 tx0 i
    rx0=$(port g/v rx_packets) tx0=$(port g/v tx_packets)
    for i in $(seq 30); do
        sleep 0.5
        [ "$(port g/v rx_packets)" -gt $((rx0 + 1000)) ] && [ "$(port g/v tx_packets)" -gt $((tx0 + 1000)) ] && return 0
    done
    return 1
}
start_guest
expect "traffic flows to the guest and back" moved_both_ways "$(tail -5 "$work/guest.log")"
expect "guest port up while the guest runs" "[ \"\$(port g/v link)\" = up ]"
expect "echoed frames leave by the uplink" "[ \"\$(port up0 tx_packets)\" -gt 1000 ]"

kill -INT "$guest"; wait "$guest"; guest=
sleep 1
expect "guest port down after the guest stops" "[ \"\$(port g/v link)\" = down ]"
expect "the dataplane survives the guest" "kill -0 $pid"
start_guest
expect "traffic resumes after the guest restarts" moved_both_ways "$(tail -5 "$work/guest.log")"
kill -INT "$guest"; wait "$guest"; guest=

kill -TERM "$pid"; wait "$pid"; status=$?; pid=
expect "SIGTERM: exit 0" "[ $status = 0 ]" "$(tail -5 "$work/dataplane.log")"
expect "vhost-user socket removed" "[ ! -e '$vhost_sock' ]"
tap_done
