#!/usr/bin/env bash
# Guests end to end: the dataplane and two QEMU guests (scripts/guest-image, TCG here) that
# vfgate-vm starts on vhost-user ports, and an uplink host in a namespace. Traffic crosses the
# firewall as the rules say; a guest whose QEMU is killed comes back on its own and carries
# traffic again without the dataplane or the other guest restarting; stop powers a guest down.
#
#   guests_test.sh VFGATE_DATAPLANE VFGATECTL VFGATE_VM SOURCE_ROOT
set -u
dataplane=$1 ctl=$2 vm=$3 src=$4
. "$src/tests/system/tap.sh"
. "$src/scripts/lib/topology.sh"
work=$(mktemp -d /tmp/vfgate-guests-XXXXXX)
chmod 755 "$work"
sock=$work/dp.sock
runs=$work/guests
dp_pid=
cleanup() {
    for g in g1 g2; do "$vm" --run-dir "$runs" kill "$g" >/dev/null 2>&1; done
    [ -n "$dp_pid" ] && kill "$dp_pid" 2>/dev/null && wait "$dp_pid" 2>/dev/null
    topo_down
    [ -z "${KEEP:-}" ] && rm -rf "$work"
}
trap cleanup EXIT
bail() { not_ok "$1" "${2:-}"; tap_done; exit 1; }

image=$("$src/scripts/guest-image") || bail "the guest image builds" ""
ok "the guest image builds ($image)"

topo_host vfgg-up vfgg-up0 02:77:00:00:00:01 10.77.0.1/24
boot() {  # boot NAME ADDRESS
    echo "{kernel: $image/vmlinux, initrd: $image/initrd.gz, cmdline: \"console=ttyS0 quiet panic=-1 cryptomgr.notests vfgate.hostname=$1 vfgate.ip=eth0,$2/24\"}"
}
cat >"$work/vfgate.yaml" <<YAML
version: 1
dataplane:
  hugepages: false
  memory_mb: 256
  control_socket: $sock
  uplinks:
    - {name: up0, device: "net_af_packet0,iface=vfgg-up0"}
guests:
  - name: g1
    memory_mb: 256
    cpu_pinning: [0]
    accel: tcg
    restart: on-failure
    boot: $(boot g1 10.77.0.11)
    nics:
      - name: eth0
        type: vhost-user
        mac: "52:54:00:77:00:11"
        addresses: [10.77.0.11/24]
        firewall:
          ingress:
            - {id: ping, action: allow, proto: icmp, icmp_type: 8}
            - {id: echo, action: allow, proto: tcp, dst_port: 7}
  - name: g2
    memory_mb: 256
    accel: tcg
    boot: $(boot g2 10.77.0.12)
    nics:
      - name: eth0
        type: vhost-user
        mac: "52:54:00:77:00:12"
        addresses: [10.77.0.12/24]
        firewall:
          ingress:
            - {id: ping, action: allow, proto: icmp, icmp_type: 8}
            - {id: echo-from-g1, action: allow, proto: tcp, src: 10.77.0.11/32, dst_port: 7}
YAML
"$dataplane" --config "$work/vfgate.yaml" >"$work/dataplane.log" 2>&1 &
dp_pid=$!
topo_wait_dataplane "$ctl" "$sock" "$dp_pid" || bail "dataplane up" "$(cat "$work/dataplane.log")"
ok "dataplane up"

field() {  # field GUEST KEY: from vfgate-vm status --json
    "$vm" --run-dir "$runs" status "$1" --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)[0][sys.argv[1]])' "$2"
}
wait_up() {  # wait_up GUEST N: until the console has said VFGATE_GUEST_UP N times (240 s)
    local i
    for i in $(seq 480); do
        [ "$(cat "$runs/$1/console.log.1" "$runs/$1/console.log" 2>/dev/null |
            grep -c VFGATE_GUEST_UP)" -ge "$2" ] && return 0
        sleep 0.5
    done
    return 1
}
for g in g1 g2; do
    if out=$("$vm" --run-dir "$runs" start "$g" -f "$work/vfgate.yaml" --timeout 240 2>&1); then
        ok "vfgate-vm start $g returns once it runs"
    else
        bail "vfgate-vm start $g" "$out"
    fi
done
for g in g1 g2; do
    check "$g's addresses come up (console)" wait_up "$g" 1
done
check "status: both running under TCG" bash -c "[ \"\$('$vm' --run-dir '$runs' status --json | python3 -c 'import json,sys; print(\" \".join(s[\"state\"]+\"/\"+s[\"accel\"] for s in json.load(sys.stdin)))')\" = 'running/tcg running/tcg' ]"

pid1=$(field g1 pid) pid2=$(field g2 pid)
tid=$(grep -l "^CPU 0/TCG" /proc/"$pid1"/task/*/comm 2>/dev/null | head -1 | cut -d/ -f5)
aff=$( [ -n "$tid" ] && taskset -cp "$tid" | sed 's/.*: //')
check "g1's vCPU thread ($tid) is pinned to CPU 0" [ "$aff" = 0 ]

echo_to() {  # echo_to NS ADDRESS: a line through the guest's TCP echo service (port 7)
    in_ns "$1" python3 - "$2" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], 7), timeout=5)
s.sendall(b"vfgate-echo\n")
assert s.recv(64) == b"vfgate-echo\n"
PY
}
ping_from_uplink() { in_ns vfgg-up ping -c 1 -W 3 "$1" >/dev/null; }
retry() { local i; for i in $(seq 20); do "$@" && return 0; sleep 1; done; return 1; }
check "uplink host pings g1" retry ping_from_uplink 10.77.0.11
check "uplink host pings g2" retry ping_from_uplink 10.77.0.12
check "uplink host reaches g1's echo port (allowed)" echo_to vfgg-up 10.77.0.11
check_fails "uplink host does not reach g2's echo port (only g1 may)" echo_to vfgg-up 10.77.0.12
rules=$("$ctl" dataplane -s "$sock" --json rules g2/eth0)
check "g2's ingress default counted the refused connection" python3 -c '
import json, sys
[n] = json.loads(sys.argv[1])
assert n["ingress"]["default_hits"] >= 1, n["ingress"]
' "$rules"

# g1 to g2, from g1's console: the guest image gives a shell on it.
console_run() {  # console_run GUEST COMMAND: runs it in the guest, prints its output
    python3 - "$runs/$1/serial.sock" "$2" <<'PY'
import re, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(0.5)
out = b""
def until(pattern, seconds, resend=None):
    global out
    end, last = time.time() + seconds, 0.0
    while time.time() < end:
        if resend and time.time() - last > 2:
            s.sendall(resend); last = time.time()
        try:
            got = s.recv(65536)
        except socket.timeout:
            got = b""
        if b"\x1b[6n" in got:  # the shell asks where the cursor is, as a terminal we answer
            s.sendall(b"\x1b[1;1R")
        out += got
        if re.search(pattern, out):
            return True
    return False
# The shell answers first (it may still be starting), then the command runs; "echo X" in the
# tty's echo of our input is not the answer, so the pattern wants X without "echo " before it.
until(rb"(?<!echo )VFGATE_READY\r\n", 60, b"\necho VFGATE_READY\n")
out = b""
s.sendall((sys.argv[2] + "; echo VFGATE_RC=$?\n").encode())
until(rb"(?<!echo )VFGATE_RC=\d+", 90)
sys.stdout.write(out.decode(errors="replace"))
PY
}
g1_to_g2=$(console_run g1 "echo vfgate-echo | nc -w 5 10.77.0.12 7")
if tr -d '\r' <<<"$g1_to_g2" | grep -v "nc -w" | grep -q "vfgate-echo$"; then
    ok "g1 reaches g2's echo port (allowed from g1), through both firewalls"
else
    not_ok "g1 reaches g2's echo port (allowed from g1), through both firewalls" "$g1_to_g2"
fi
rules=$("$ctl" dataplane -s "$sock" --json rules g2/eth0)
check "g2's rule echo-from-g1 counted it" python3 -c '
import json, sys
[n] = json.loads(sys.argv[1])
hits = {r["id"]: r["hits"] for r in n["ingress"]["rules"]}
assert hits["echo-from-g1"] >= 1, hits
' "$rules"

# The console log is capped: beyond 1 MiB it moves to console.log.1 and starts again.
console_run g1 "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 1100000; echo" >/dev/null
rotated() {
    [ "$(stat -c %s "$runs/g1/console.log.1" 2>/dev/null || echo 0)" -gt 1048576 ] &&
        [ "$(stat -c %s "$runs/g1/console.log")" -lt 1048576 ]
}
check "g1's console log is rotated past 1 MiB" retry rotated
check "... and the end of the output is kept (in one of the two)" bash -c "tail -c 100 '$runs/g1/console.log.1' '$runs/g1/console.log' | grep -q VFGATE_RC=0"
# So are QEMU's own log and the supervisor's (/run is memory): 1.1 MiB appended to each, as
# their writers append.
for f in qemu.log supervisor.log; do head -c 1100000 /dev/zero | tr '\0' x >>"$runs/g1/$f"; done
logs_rotated() {
    local f
    for f in qemu.log supervisor.log; do
        [ "$(stat -c %s "$runs/g1/$f.1" 2>/dev/null || echo 0)" -gt 1048576 ] &&
            [ "$(stat -c %s "$runs/g1/$f")" -lt 1048576 ] || return 1
    done
}
check "g1's qemu.log and supervisor.log are rotated past 1 MiB too" retry logs_rotated

# kill -9 of g1's QEMU: its supervisor restarts it (on-failure); the dataplane and g2 stay.
# A stop marker left by a stop that never finished (its deadline long past) changes nothing.
echo "stop $(($(date +%s) - 3600))" >"$runs/g1/stop-requested"
kill -9 "$pid1"
restarted() { [ "$(field g1 restarts)" -ge 1 ] && [ "$(field g1 state)" = running ] && [ "$(field g1 pid)" != "$pid1" ]; }
check "g1 restarts after kill -9 of its QEMU, despite a stale stop marker" retry restarted
check "... which the supervisor removed, saying so" bash -c \
    "[ ! -e '$runs/g1/stop-requested' ] && grep -q 'a stop request that did not finish' '$runs/g1/supervisor.log'"
check "g1's addresses come up again" wait_up g1 2
check "g1 carries traffic again on its vhost-user port" retry ping_from_uplink 10.77.0.11
check "g1's echo port answers again" retry echo_to vfgg-up 10.77.0.11
check "the dataplane did not restart" kill -0 "$dp_pid"
check "g2 did not restart" bash -c "[ \"$(field g2 pid)\" = '$pid2' ] && [ \"$(field g2 restarts)\" = 0 ]"

# A supervisor that goes away leaves its QEMU running; the next start adopts it.
qemu1=$(field g1 pid) sup1=$(field g1 supervisor_pid)
kill -TERM "$sup1"
gone() {  # gone PID: exited (a zombie counts: where PID 1 does not reap, orphans stay zombies)
    ! kill -0 "$1" 2>/dev/null || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}
retry bash -c "$(declare -f gone); gone $sup1"
check "g1's QEMU outlives its supervisor" bash -c "$(declare -f gone); gone $sup1 && kill -0 $qemu1"
# A config that gives g1 another command line can't adopt it: what runs is not what it says.
sed '/- name: g1/,/memory_mb/ s/memory_mb: 256/memory_mb: 320/' "$work/vfgate.yaml" >"$work/other.yaml"
plan_before=$(cat "$runs/g1/plan.json")
out=$("$vm" --run-dir "$runs" start g1 -f "$work/other.yaml" 2>&1)
check "start with a config that changes g1's command line refuses to adopt its QEMU, saying so" \
    bash -c 'grep -q "runs another command line than this config gives it" <<<"$1" &&
             [ "$(cat "$2")" = "$3" ] || { echo "$1"; exit 1; }' _ "$out" "$runs/g1/plan.json" "$plan_before"
out=$("$vm" --run-dir "$runs" start g1 -f "$work/vfgate.yaml" 2>&1)
check "start adopts the running QEMU instead of starting a second one" bash -c "[ '$(field g1 pid)' = '$qemu1' ] && [ '$(field g1 supervisor_pid)' != '$sup1' ]" "$out"
check "... which still carries traffic" retry ping_from_uplink 10.77.0.11
check "... and says so in its log" grep -q "adopting QEMU pid $qemu1" "$runs/g1/supervisor.log"

# A paused guest is adopted as it is: not killed, still paused; then resumed by hand.
qmp_do() {  # qmp_do GUEST COMMAND: one QMP command on the guest's socket
    python3 - "$runs/$1/qmp.sock" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", sys.argv[2]):
    f.write(json.dumps({"execute": cmd}) + "\n")
    f.flush()
    while "return" not in json.loads(f.readline()):
        pass
PY
}
sup1=$(field g1 supervisor_pid)
kill -TERM "$sup1"
retry bash -c "$(declare -f gone); gone $sup1"
qmp_do g1 stop
out=$("$vm" --run-dir "$runs" start g1 -f "$work/vfgate.yaml" 2>&1)
check "a paused guest is adopted, not killed" bash -c "kill -0 $qemu1 && [ '$(field g1 pid)' = '$qemu1' ]" "$out"
check "... and stays paused" bash -c "[ \"\$('$vm' --run-dir '$runs' status g1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"state\"])')\" = paused ]"
qmp_do g1 cont
check "... and runs again once resumed" retry ping_from_uplink 10.77.0.11

# stop: system_powerdown, and the guest powers itself off.
out=$("$vm" --run-dir "$runs" stop g2 --timeout 60 2>&1)
check "vfgate-vm stop g2 powers it down" grep -q "powered off" <<<"$out"
check "g2's console shows its shutdown" grep -q VFGATE_GUEST_POWERDOWN "$runs/g2/console.log"
check "g2 is stopped and stays so" bash -c "sleep 3; [ \"\$('$vm' --run-dir '$runs' status g2 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"state\"])')\" = stopped ]"
check_fails "g2's QEMU is gone" kill -0 "$pid2"
check "g1 still runs" bash -c "[ \"$(field g1 state)\" = running ]"

# g2's QMP socket served by something else: refused. Left stale (nothing listens): removed.
# (QEMU may or may not have removed its own socket when it powered off: start clears a stale
# one either way, so the squatter binds a fresh path.)
rm -f "$runs/g2/qmp.sock"
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1); time.sleep(60)' "$runs/g2/qmp.sock" &
squatter=$!
# Until it listens (Python's start alone can take more than a second on a loaded machine).
for _ in $(seq 100); do [ -S "$runs/g2/qmp.sock" ] && break; sleep 0.1; done
sleep 0.2
check_fails "start refuses a QMP socket another process serves" "$vm" --run-dir "$runs" start g2 -f "$work/vfgate.yaml"
out=$("$vm" --run-dir "$runs" start g2 -f "$work/vfgate.yaml" 2>&1)
check "... naming it" grep -q "qmp.sock is served by a process that is not this guest's QEMU" <<<"$out"
kill "$squatter"; wait "$squatter" 2>/dev/null
check "a stale QMP socket (nothing listens) is cleared and the guest starts" bash -c "[ -S '$runs/g2/qmp.sock' ] && '$vm' --run-dir '$runs' start g2 -f '$work/vfgate.yaml'"
# stop of a guest that can't power off (paused here; crashed inside a live QEMU alike): quit at
# once, not a wait for the whole --timeout.
qmp_do g2 stop
t0=$(date +%s)
out=$("$vm" --run-dir "$runs" stop g2 --timeout 60 2>&1)
took=$(($(date +%s) - t0))
check "stop of a paused guest quits QEMU without waiting for a power-off (${took} s)" bash -c \
    'grep -q "the guest is paused: no power-off to wait for" <<<"$1" && [ "$2" -lt 30 ] ||
     { echo "$1"; exit 1; }' _ "$out" "$took"
check "... and g2 is stopped" bash -c "[ \"\$('$vm' --run-dir '$runs' status g2 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"state\"])')\" = stopped ]"
check "g2 starts again" "$vm" --run-dir "$runs" start g2 -f "$work/vfgate.yaml"
check "kill stops g2 at once, without a restart" bash -c "'$vm' --run-dir '$runs' kill g2 && sleep 2 && '$vm' --run-dir '$runs' status g2 | grep -q stopped"

# Refusals: a guest that runs already; an unknown guest.
check_fails "start refuses a guest that already runs" "$vm" --run-dir "$runs" start g1 -f "$work/vfgate.yaml"
out=$("$vm" --run-dir "$runs" start g1 -f "$work/vfgate.yaml" 2>&1)
check "... saying so" grep -q "already running" <<<"$out"
"$vm" --run-dir "$runs" argv nope -f "$work/vfgate.yaml" >/dev/null 2>&1
check "an unknown guest is a failure (exit 1)" [ $? = 1 ]

# kill of a guest whose supervisor is gone: recorded as stopped (not "crashed", nor a guest
# that runs), so that a control daemon doesn't start it again.
sup1=$(field g1 supervisor_pid)
kill -TERM "$sup1"
retry bash -c "$(declare -f gone); gone $sup1"
out=$("$vm" --run-dir "$runs" kill g1 2>&1)
check "kill of g1 without its supervisor: stopped, and says no supervisor ran" bash -c "[ \"\$('$vm' --run-dir '$runs' status g1 --json | python3 -c 'import json,sys; s=json.load(sys.stdin)[0]; print(s[\"state\"], \"no supervisor ran\" in s[\"message\"])')\" = 'stopped True' ]" "$out"
check "... and no stop marker is left behind" test ! -e "$runs/g1/stop-requested"

tap_done
