#!/usr/bin/env bash
# vfgated end to end: from one config file, the daemon brings up the dataplane and two TCG guests
# (scripts/guest-image) on vhost-user ports, with an uplink host in a namespace; then plan and
# apply of changes (a rule applied live, a guest removed and added) without restarting unaffected
# guests; the dataplane killed and brought back within a second or two; vfgated killed and
# restarted, adopting everything; bad files, a second daemon and an unprivileged client refused;
# SIGHUPs in a row, log rotation, and a guest's supervisor killed and replaced.
#
#   vfgated_test.sh VFGATED VFGATECTL SOURCE_ROOT
set -u
daemon=$1 ctl=$2 src=$3
. "$src/tests/system/tap.sh"
. "$src/scripts/lib/topology.sh"
work=$(mktemp -d /tmp/vfgate-vfgated-XXXXXX)
chmod 755 "$work"
cfg=$work/vfgate.yaml
runs=$work/guests
cleanup() {
    [ -f "$work/vfgated.pid" ] && kill -9 "$(cat "$work/vfgated.pid")" 2>/dev/null
    for g in "$runs"/*/; do
        [ -f "$g/supervisor.pid" ] && kill -9 "$(cat "$g/supervisor.pid")" 2>/dev/null
        [ -f "$g/qemu.pid" ] && kill -9 "$(cat "$g/qemu.pid")" 2>/dev/null
    done
    [ -f "$work/vfgated/dataplane.pid" ] && kill -9 "$(cat "$work/vfgated/dataplane.pid")" 2>/dev/null
    topo_down
    [ -z "${KEEP:-}" ] && rm -rf "$work"
}
trap cleanup EXIT
bail() { not_ok "$1" "${2:-}"; tap_done; exit 1; }
ctl() { "$ctl" -c "$cfg" "$@"; }
js() {  # js PYTHON-EXPRESSION: evaluated on `vfgatectl status --json` as s
    "$ctl" -s "$work/vfgated.sock" status --json | python3 -c "import json, sys; s = json.load(sys.stdin); print($1)"
}
# Up to 60 s: guests boot and restart under TCG, beside a busy-polling worker, on 2 cores.
retry() { local i; for i in $(seq 120); do "$@" && return 0; sleep 0.5; done; return 1; }

image=$("$src/scripts/guest-image") || bail "the guest image builds"
topo_host vfgd-up vfgd-up0 02:78:00:00:00:01 10.78.0.1/24

guest() {  # guest NAME ADDRESS MAC RULES [MEMORY_MB]
    cat <<YAML
  - name: $1
    memory_mb: ${5:-256}
    accel: tcg
    boot: {kernel: $image/vmlinux, initrd: $image/initrd.gz, cmdline: "console=ttyS0 quiet panic=-1 cryptomgr.notests vfgate.hostname=$1 vfgate.ip=eth0,$2/24"}
    nics:
      - name: eth0
        type: vhost-user
        mac: "$3"
        addresses: [$2/24]
        firewall: {ingress: [$4]}
YAML
}
write_config() {  # write_config FILE G1_RULES [with-g2 [G2_MEMORY_MB]]
    {
        cat <<YAML
version: 1
dataplane:
  hugepages: false
  memory_mb: 256
  control_socket: $work/dataplane.sock
  uplinks:
    - {name: up0, device: "net_af_packet0,iface=vfgd-up0"}
guests:
YAML
        guest g1 10.78.0.11 52:54:00:78:00:11 "$2"
        [ "${3:-}" = with-g2 ] && guest g2 10.78.0.12 52:54:00:78:00:12 "{id: ping, action: allow, proto: icmp}" "${4:-}"
    } >"$1"
}
ping_rule="{id: ping, action: allow, proto: icmp}"
echo_rule="{id: echo, action: allow, proto: tcp, dst_port: 7}"
write_config "$cfg" "$ping_rule" with-g2

# --- a reboot-like start: nothing runs; vfgated brings the host up from the file -------------
metrics=127.0.0.1:19477
out=$("$daemon" --config "$cfg" --metrics "$metrics" 2>&1) || bail "vfgated starts and returns once its first apply is done" "$out$(cat "$work/vfgated/vfgated.log" 2>/dev/null)"
ok "vfgated starts and returns once its first apply is done"
check "the first apply succeeded" [ "$(js 's["applies"]["last"]["ok"]')" = True ]
check "the socket is vfgated.sock in the config's run directory, mode 0660" bash -c "[ \"\$(stat -c %a '$work/vfgated.sock')\" = 660 ]"
dp=$(js 's["dataplane"]["pid"]')
g1=$(js '[g["pid"] for g in s["guests"] if g["guest"] == "g1"][0]')
g2=$(js '[g["pid"] for g in s["guests"] if g["guest"] == "g2"][0]')
check "status --json has the dataplane's and each guest's QEMU pid" bash -c "kill -0 $dp && kill -0 $g1 && kill -0 $g2"
check "plan: nothing to do, exit 0" ctl plan
check "the dataplane's commands go through vfgated (-c FILE)" bash -c "'$ctl' -c '$cfg' dataplane ports | grep -q g1/eth0"
check "... offload too: the uplink with its offload state" bash -c "'$ctl' -c '$cfg' dataplane offload | grep -qE '^up0 +[^ ]+ +(on|off|unsupported) '"
out=$(ctl dataplane reload 2>&1)
check "... and a reload behind vfgated's back is refused, pointing to apply" grep -q "vfgatectl apply" <<<"$out"

# A member of the socket's group (here uid nobody) may watch, not apply: an apply runs QEMU and
# DPDK as root on the config it is given.
as_member() {  # as_member METHOD: the reply vfgated gives uid nobody in the socket's group
    python3 - "$work/vfgated.sock" "$1" "$cfg" <<'PY'
import json, os, socket, sys
path, method, cfg = sys.argv[1:]
text = open(cfg).read()
os.setgroups([os.stat(path).st_gid]); os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX); s.settimeout(30); s.connect(path)
params = {"yaml": text, "source": "member.yaml"} if method == "apply" else {}
s.sendall((json.dumps({"method": method, "params": params}) + "\n").encode())
print(s.makefile().readline().strip())
PY
}
out=$(as_member apply 2>&1)
check "a member of the group vfgate can't apply, and is told why" bash -c \
    'grep -q "\"ok\": *false" <<<"$1" && grep -q "only root may apply (you are uid 65534)" <<<"$1" ||
     { echo "$1"; exit 1; }' _ "$out"
out=$(as_member status 2>&1)
check "... but reads the status" grep -q '"ok": *true' <<<"$out"

wait_up() {  # wait_up GUEST: the guest's console said it is up
    grep -q VFGATE_GUEST_UP "$runs/$1/console.log" 2>/dev/null
}
check "g1 boots" retry wait_up g1
check "g2 boots" retry wait_up g2
ping_from_uplink() { in_ns vfgd-up ping -c 1 -W 2 "$1" >/dev/null; }
echo_to() {
    in_ns vfgd-up python3 - "$1" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], 7), timeout=3)
s.sendall(b"vfgate-echo\n")
assert s.recv(64) == b"vfgate-echo\n"
PY
}
check "traffic through the firewall: the uplink host pings g1" retry ping_from_uplink 10.78.0.11
check "the uplink host pings g2" retry ping_from_uplink 10.78.0.12
check_fails "g1's echo port is closed by its rules" echo_to 10.78.0.11

# --- a live rule change: plan says so (exit 3), apply does it; no guest restarts --------------
write_config "$work/rules.yaml" "$ping_rule, $echo_rule" with-g2
out=$(ctl plan -f "$work/rules.yaml"); rc=$?
check "plan -f shows the rule change as a live reload, exit 3" bash -c "[ $rc = 3 ] && grep -q 'reload dataplane: live: rules of g1/eth0 changed' <<<'$out'" "$out"
out=$(ctl plan -f "$work/rules.yaml" --json)
check "plan --json lists the step" python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["changes"] and j["steps"][0]["action"] == "reload-dataplane", j' "$out"
out=$(ctl apply -f "$work/rules.yaml" 2>&1)
check "apply -f prints each step and succeeds" grep -q "dataplane reloaded" <<<"$out"
check "the new rule has its effect: g1's echo port answers" retry echo_to 10.78.0.11
check "no guest restarted and the dataplane did not" bash -c "[ '$(js '[g["pid"] for g in s["guests"]]')' = '[$g1, $g2]' ] && [ '$(js 's["dataplane"]["pid"]')' = $dp ]"
cp "$work/rules.yaml" "$cfg"

# --- a guest removed, then added back; g1 stays --------------------------------------------
write_config "$work/one.yaml" "$ping_rule, $echo_rule"
out=$(ctl apply -f "$work/one.yaml" 2>&1)
check "apply without g2 stops it and removes its port" bash -c "grep -q 'stop guest g2: no longer in the config' <<<'$out' && grep -q 'port g2/eth0 removed' <<<'$out'" "$out"
check "g2's QEMU is gone" bash -c "! kill -0 $g2 2>/dev/null || grep -q '^State:.*Z' /proc/$g2/status"
no_zombies() { ! ps --ppid "$(cat "$work/vfgated.pid")" -o stat= | grep -q Z; }
check "g2's supervisor is reaped: no zombie under vfgated" retry no_zombies
check "the dataplane has no g2 port" bash -c "! '$ctl' dataplane -s '$work/dataplane.sock' ports | grep -q g2/eth0"
out=$(ctl apply -f "$cfg" 2>&1)
check "apply with g2 again starts it" grep -q "start guest g2: new guest" <<<"$out"
check "g2 carries traffic again" retry ping_from_uplink 10.78.0.12
check "g1 was never restarted" bash -c "[ '$(js '[g["pid"] for g in s["guests"] if g["guest"] == "g1"][0]')' = $g1 ]"
g2=$(js '[g["pid"] for g in s["guests"] if g["guest"] == "g2"][0]')

# --- the dataplane dies: noticed and restarted with the current config; guests stay --------
kill -9 "$dp"
t0=$(date +%s%N)
back() { local p; p=$(js 's["dataplane"]["pid"] if s["dataplane"]["running"] else 0'); [ "$p" != 0 ] && [ "$p" != "$dp" ]; }
if retry back; then
    ms=$((($(date +%s%N) - t0) / 1000000))
    ok "kill -9 of the dataplane: a new one answers after $ms ms"
else
    not_ok "kill -9 of the dataplane: a new one answers" "$(tail -5 "$work/vfgated/vfgated.log" 2>/dev/null)"
fi
check "vfgated logged the death within a second" bash -c "grep -q 'the dataplane died' '$work/vfgated/vfgated.log'"
check "the guests kept running" bash -c "[ '$(js '[g["pid"] for g in s["guests"]]')' = '[$g1, $g2]' ]"
check "g1's vhost-user port reconnected: traffic passes" retry ping_from_uplink 10.78.0.11
check "... and the rules are the current ones (echo allowed)" retry echo_to 10.78.0.11
check "status counts the restart" bash -c "[ '$(js 's["dataplane"]["restarts"]')' = 1 ]"
dp=$(js 's["dataplane"]["pid"]')

# --- metrics: Prometheus text that promtool accepts ------------------------------------------
curl_metrics() { python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "http://$metrics/metrics"; }
curl_metrics >"$work/metrics.txt" 2>&1
check "/metrics answers with vfgate's families" grep -q '^vfgate_dataplane_up 1' "$work/metrics.txt"
check "promtool check metrics passes on it" bash -c "promtool check metrics <'$work/metrics.txt'"
check "it has the uplink's offload state" grep -qE '^vfgate_offload_port_state\{port="up0",state="[a-z]+"\} 1$' "$work/metrics.txt"
check "it counts the applies, the dataplane's restart, ports, rule hits and guests" bash -c "grep -q '^vfgate_applies_total' '$work/metrics.txt' && grep -q '^vfgate_dataplane_restarts_total 1' '$work/metrics.txt' && grep -q '^vfgate_port_rx_packets_total{port=\"g1/eth0\"}' '$work/metrics.txt' && grep -q '^vfgate_rule_hits_total{.*rule=\"echo\"' '$work/metrics.txt' && grep -q '^vfgate_guest_up{guest=\"g2\"} 1' '$work/metrics.txt'"

# --- vfgated dies: a new one adopts the dataplane and the guests, restarting nothing ---------
kill -9 "$(cat "$work/vfgated.pid")"
sleep 0.3
check "a stale socket and pidfile remain after kill -9" test -S "$work/vfgated.sock"
out=$("$daemon" --config "$cfg" --metrics "$metrics" 2>&1)
check "a new vfgated starts over the stale socket and pidfile" test $? = 0
check "it adopted everything: same dataplane and QEMU pids" bash -c "[ '$(js 's["dataplane"]["pid"]')' = $dp ] && [ '$(js '[g["pid"] for g in s["guests"]]')' = '[$g1, $g2]' ]"
check "its first apply had nothing to do" bash -c "grep -q 'nothing to do' '$work/vfgated/vfgated.log'"
out=$("$daemon" --config "$cfg" --foreground 2>&1); rc=$?
check "a second vfgated on the same run directory refuses to start" bash -c "[ $rc = 1 ] && grep -q 'another vfgated' <<<'$out'" "$out"

# --- a step that fails stops the apply, says where and why, and leaves the rest running -----
cp "$cfg" "$work/broken.yaml"
cat >>"$work/broken.yaml" <<'YAML'
  - name: ext
    nics:
      - {name: eth0, type: dpdk, devargs: "net_nosuchdriver0", mac: "52:54:00:78:00:99"}
YAML
out=$(ctl apply -f "$work/broken.yaml" 2>&1); rc=$?
check "apply with a port the dataplane cannot open fails (exit 1) naming the step" bash -c "[ $rc = 1 ] && grep -q 'failed at \"reload dataplane' <<<'$out'" "$out"
check "status reports the failed step and the reason" bash -c "[ \"\$($(declare -f js); ctl=$ctl work=$work js 's[\"applies\"][\"last\"][\"failed_step\"]')\" != '' ]"
check "the dataplane kept its ports and ran on, and the guests kept running" bash -c "! '$ctl' -c '$cfg' dataplane ports | grep -q ext/eth0 && '$ctl' -c '$cfg' dataplane ports | grep -q g2/eth0 && [ '$(js 's["dataplane"]["pid"]')' = $dp ] && [ '$(js '[g["pid"] for g in s["guests"]]')' = '[$g1, $g2]' ]"
check "plan against the config vfgated runs: nothing to do" ctl plan

# --- bad input changes nothing ---------------------------------------------------------------
gen=$(js 's["dataplane"]["generation"]')
printf 'version: 1\ndataplane:\n  worker_cores: [1]\n  bogus: 1\n' >"$work/bad.yaml"
out=$(ctl apply -f "$work/bad.yaml" 2>&1); rc=$?
check "apply of an invalid file fails (exit 1) with its located errors" bash -c "[ $rc = 1 ] && grep -q 'bad.yaml:4' <<<'$out'" "$out"
cp "$cfg" "$work/good.yaml"
cp "$work/bad.yaml" "$cfg"
kill -HUP "$(cat "$work/vfgated.pid")"
rejected() { [ "$(js 's["applies"]["last"]["failed_step"]')" = validate ]; }
check "SIGHUP with an invalid file: status says why" retry rejected
check "... and nothing changed" bash -c "[ '$(js 's["dataplane"]["generation"]')' = $gen ] && [ '$(js '[g["pid"] for g in s["guests"]]')' = '[$g1, $g2]' ]"
cp "$work/good.yaml" "$cfg"

# --- SIGHUPs in a row: the file as it is last is applied, none dropped ----------------------
# Three edits, each followed by SIGHUP, while the first one's apply runs (it restarts g2 with
# more memory): the second waits and reads the file when it starts, so the third edit (a new
# rule) is what runs in the end. Before, the third SIGHUP was refused while the second waited.
write_config "$work/ping-only.yaml" "$ping_rule" with-g2 320
write_config "$work/discard.yaml" "$ping_rule, $echo_rule, {id: discard, action: allow, proto: tcp, dst_port: 9}" with-g2 320
hup() { kill -HUP "$(cat "$work/vfgated.pid")"; sleep "${1:-0.05}"; }
cp "$work/ping-only.yaml" "$cfg"; hup
cp "$work/ping-only.yaml" "$cfg"; hup
cp "$work/discard.yaml" "$cfg"; hup
settled() { ctl plan >/dev/null && [ "$(js 's["applies"]["last"]["ok"]')" = True ]; }
check "SIGHUP three times during an apply: the last edit is what runs (plan: nothing to do)" retry settled
check "... the new rule is in the dataplane" bash -c "'$ctl' -c '$cfg' dataplane rules g1/eth0 | grep -qw discard"
check "... and echo passes again" retry echo_to 10.78.0.11
write_config "$cfg" "$ping_rule, $echo_rule" with-g2 320; hup  # g2 stays as it is now
check "SIGHUP back to the rules before" retry settled

# --- the logs in the state directory are kept under 8 MiB, with one older copy ---------------
head -c $((9 << 20)) /dev/zero | tr '\0' 'x' >>"$work/vfgated/dataplane.log"
rotated() { [ -f "$work/vfgated/dataplane.log.1" ] && [ "$(stat -c %s "$work/vfgated/dataplane.log")" -lt $((1 << 20)) ]; }
check "a dataplane.log over 8 MiB is rotated to dataplane.log.1 within a second or two" retry rotated
check "... and vfgated says so in its log" grep -q 'rotated .*dataplane.log' "$work/vfgated/vfgated.log"

out=$(ctl logs g1 -n 200)
check "logs GUEST shows its console" grep -q VFGATE_GUEST_UP <<<"$out"
setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" -s "$work/vfgated.sock" status >"$work/denied" 2>&1; rc=$?
check "a client without permission on the socket gets a clear error" bash -c "[ $rc = 1 ] && grep -q 'permission denied' '$work/denied'"

# --- an apply that fails after its reload: recovery brings the dataplane back with what it ran ---
write_config "$work/half.yaml" "$ping_rule" with-g2 320  # echo no longer allowed
echo "not a kernel" >"$work/not-a-kernel"
cat >>"$work/half.yaml" <<YAML
  - name: g3
    memory_mb: 256
    accel: tcg
    boot: {kernel: $work/not-a-kernel, cmdline: "console=ttyS0"}
    nics:
      - {name: eth0, type: vhost-user, mac: "52:54:00:78:00:13"}
YAML
out=$(ctl apply -f "$work/half.yaml" 2>&1); rc=$?
check "an apply whose new guest can't start fails after the dataplane's reload" bash -c "[ $rc = 1 ] && grep -q 'failed at \"start guest g3' <<<'$out'" "$out"
check_fails "... whose new rules run: g1's echo port is closed again" echo_to 10.78.0.11
dp=$(js 's["dataplane"]["pid"]')
kill -9 "$dp"
check "the dataplane killed then is brought back" retry back
check "... and carries traffic" retry ping_from_uplink 10.78.0.11
check_fails "... with the rules it ran, not the last apply that succeeded: echo stays closed" echo_to 10.78.0.11

g1_field() { js "[g['$1'] for g in s['guests'] if g['guest'] == 'g1'][0]"; }

# --- a hung QEMU holds up only the request that asks it ---------------------------------------
g1=$(g1_field pid)
kill -STOP "$g1"
("$ctl" -s "$work/vfgated.sock" status >/dev/null 2>&1) &  # waits out g1's silent QMP (2 s)
slow=$!
sleep 0.3
t0=$(date +%s%N)
"$ctl" -s "$work/vfgated.sock" logs g1 -n 1 >/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
check "while status waits on g1's stopped QEMU, another client is answered at once ($ms ms)" [ "$ms" -lt 1000 ]
wait "$slow"; rc=$?
kill -CONT "$g1"
check "... and the status request gets its answer too" [ "$rc" = 0 ]

# --- a guest's supervisor dies: vfgated starts one that adopts QEMU; its policy applies again --
sup=$(g1_field supervisor_pid)
g1=$(g1_field pid)
kill -9 "$sup"
adopted() { local p; p=$(g1_field supervisor_pid); [ "$p" != 0 ] && [ "$p" != "$sup" ]; }
check "kill -9 of g1's supervisor: vfgated starts a new one within seconds" retry adopted
check "... which adopted the running QEMU (same pid)" [ "$(g1_field pid)" = "$g1" ]
check "... and vfgated logged why" grep -q "guest g1: its QEMU runs without a supervisor" "$work/vfgated/vfgated.log"
kill -9 "$g1"
restarted() { local p; p=$(g1_field pid); [ "$p" != 0 ] && [ "$p" != "$g1" ]; }
check "g1's restart policy holds again: its QEMU killed is started again" retry restarted

# --- both g1's supervisor and its QEMU killed: vfgated starts g1 again, as its policy would ----
sup=$(g1_field supervisor_pid)
g1=$(g1_field pid)
kill -9 "$sup" "$g1"
check "kill -9 of g1's supervisor and QEMU together: vfgated starts g1 again" retry restarted
check "... saying why" grep -q "guest g1: its QEMU and its supervisor are gone while it should run" "$work/vfgated/vfgated.log"
check "... under a supervisor of its own" [ "$(g1_field supervisor_pid)" -gt 0 ]

# --- SIGTERM while a request waits on a hung QEMU: vfgated lets it end, then stops cleanly ---
g1=$(g1_field pid)
started() { grep -q "guest g1 runs (QEMU pid $g1," "$work/vfgated/vfgated.log"; }
check "(vfgated's start of g1 is over)" retry started
kill -STOP "$g1"
("$ctl" -s "$work/vfgated.sock" status >/dev/null 2>&1) &
slow=$!
sleep 1  # status has asked by then; it waits 2 s on g1's QMP
vpid=$(cat "$work/vfgated.pid")
kill -TERM "$vpid"
gone() { ! kill -0 "$vpid" 2>/dev/null; }
check "SIGTERM while status waits on a stopped QEMU: vfgated stops" retry gone
wait "$slow"; rc=$?
kill -CONT "$g1"
check "... once that request had its answer, and says it stopped" bash -c "[ $rc = 0 ] && tail -1 '$work/vfgated/vfgated.log' | grep -q 'vfgated stopped'"

# --- under systemd (Type=notify): READY=1 after a first apply that failed, and why in STATUS ---
mkdir -p "$work/nf"
cat >"$work/nf.yaml" <<YAML
version: 1
dataplane:
  hugepages: false
  memory_mb: 256
  control_socket: $work/nf/dataplane.sock
  uplinks:
    - {name: up0, device: "net_nosuchdriver0"}
guests: []
YAML
python3 - "$work/notify" "$work/notified" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    with open(sys.argv[2], "ab") as out:
        out.write(s.recv(4096) + b"\n")
PY
listener=$!
for _ in $(seq 100); do [ -S "$work/notify" ] && break; sleep 0.05; done
NOTIFY_SOCKET=$work/notify "$daemon" --config "$work/nf.yaml" --foreground >"$work/nf.out" 2>&1 &
nf=$!
ready() { grep -q '^READY=1' "$work/notified" 2>/dev/null; }
check "under systemd, a first apply that fails still ends in READY=1 (vfgated serves on)" retry ready
failed_status() { grep -q '^STATUS=serving; the first apply failed at "' "$work/notified" || { cat "$work/notified"; false; }; }
check "... with the failure in the unit's status line" failed_status
sed -i 's/net_nosuchdriver0/net_otherbad0/' "$work/nf.yaml"
kill -HUP "$nf"
second_status() { grep "^STATUS=serving; apply 2 (SIGHUP: $work/nf.yaml) failed at \"" "$work/notified"; }
check "each later apply's outcome replaces it in the status line (SIGHUP: apply 2)" retry second_status
check "... saying why apply 2 failed" bash -c "grep '^STATUS=serving; apply 2 ' '$work/notified' | grep -q net_otherbad0 || { cat '$work/notified'; false; }"
kill -TERM "$nf"
wait "$nf"
kill "$listener"
wait "$listener" 2>/dev/null

tap_done
