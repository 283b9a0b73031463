#!/usr/bin/env bash
# The firewall with real kernel traffic between network namespaces (TAP output): allowed and
# denied TCP ports, replies to outgoing connections through a deny-all ingress (TCP, UDP, ICMP),
# guest to guest through both firewalls, forged source addresses, the rules and conntrack
# commands, a UDP connection that times out, a remembered denial, and a reload that removes an
# allowed port: new connections to it fail and an open one is cut (docs/firewall.md).
#
#   firewall_test.sh VFGATE_DATAPLANE VFGATECTL SOURCE_ROOT
set -u
dataplane=$1 ctl=$2 src=$3
. "$src/tests/system/harness.sh" fw

write_config() {  # write_config WEB_PORTS
    { harness_config_head; cat <<YAML; } >"$cfg"
  conntrack: {capacity: 65536, timeouts: {udp: 2, udp_replied: 2}}
  uplinks:
    - {name: up0, device: "net_af_packet0,iface=vff-up0"}
guests:
  - name: web
    nics:
      - name: eth0
        type: dpdk
        devargs: "net_af_packet1,iface=vff-web"
        mac: "02:00:00:00:01:01"
        addresses: [198.18.20.11/24, "fd00:20::11/64"]
        firewall:
          ingress:
            - {id: http, action: allow, proto: tcp, dst_port: $1}
            - {id: ping, action: allow, proto: icmp, icmp_type: 8}
            - {id: ping6, action: allow, proto: icmpv6, icmp_type: 128}
  - name: cli
    nics:
      - name: eth0
        type: dpdk
        devargs: "net_af_packet2,iface=vff-cli"
        mac: "02:00:00:00:02:01"
        addresses: [198.18.20.12/24]
        firewall: {stateful: true, ingress_default: deny, egress_default: allow}
YAML
}

topo_host vff-uplink vff-up0 02:00:00:00:00:01 198.18.20.1/24 fd00:20::1/64
topo_host vff-web vff-web 02:00:00:00:01:01 198.18.20.11/24 fd00:20::11/64
topo_host vff-cli vff-cli 02:00:00:00:02:01 198.18.20.12/24
write_config "[8080, 8082]"
harness_start

# Listeners: web serves 8080-8082 and 9090; the uplink host serves TCP 7000 and UDP echo 7001.
listen() {  # listen NS PROTO PORT
    in_ns "$1" socat "$2-LISTEN:$3,fork,reuseaddr" EXEC:cat >/dev/null 2>&1 &
}
listen vff-web TCP 8080
listen vff-web TCP 8081
listen vff-web TCP 8082
listen vff-web TCP 9090
listen vff-uplink TCP 7000
listen vff-uplink UDP 7001
for l in "vff-web tcp 8080" "vff-web tcp 8081" "vff-web tcp 8082" "vff-web tcp 9090" \
    "vff-uplink tcp 7000" "vff-uplink udp 7001"; do
    # shellcheck disable=SC2086
    wait_listening $l
done

talk() {  # talk NS PROTO ADDR PORT: a line there and back
    local got
    # TCP: wait up to 5 s for the echo after our EOF (socat's default, 0.5 s, is short on a busy
    # host). UDP has no EOF: the default keeps the flow's replied state from expiring first.
    local linger=()
    [ "$2" = TCP ] && linger=(-t 5)
    got=$(echo hello | in_ns "$1" timeout 5 socat "${linger[@]}" -T 2 - "$2:$3:$4" 2>&1) ||
        { echo "$got"; return 1; }
    [ "$got" = hello ] || { echo "got: '$got'"; return 1; }
}

check "allowed TCP port connects (uplink -> web:8080)" talk vff-uplink TCP 198.18.20.11 8080
check_fails "denied TCP port doesn't (uplink -> web:9090)" talk vff-uplink TCP 198.18.20.11 9090
check "ping through an allow rule (uplink -> web)" in_ns vff-uplink ping -c 2 -i 0.2 -W 2 198.18.20.11
check "IPv6 ping through an allow rule (uplink -> web)" in_ns vff-uplink ping -6 -c 2 -i 0.2 -W 2 fd00:20::11
check "guest to guest through both firewalls (cli -> web:8080)" talk vff-cli TCP 198.18.20.11 8080
check_fails "guest to guest, denied by the receiver (cli -> web:9090)" talk vff-cli TCP 198.18.20.11 9090
check "TCP replies pass a deny-all ingress (cli -> uplink:7000)" talk vff-cli TCP 198.18.20.1 7000
check "UDP replies pass a deny-all ingress (cli -> uplink:7001)" talk vff-cli UDP 198.18.20.1 7001
check "ICMP echo replies pass a deny-all ingress (cli -> uplink)" in_ns vff-cli ping -c 2 -i 0.2 -W 2 198.18.20.1
check_fails "deny-all ingress stops new connections (uplink -> cli ping)" in_ns vff-uplink ping -c 2 -i 0.2 -W 1 198.18.20.12
# A forged source address: the kernel sends it, the switch must not.
in_ns vff-web ip addr add 198.18.20.99/32 dev eth0
check_fails "a guest can't ping out from a forged source" in_ns vff-web ping -c 2 -i 0.2 -W 1 -I 198.18.20.99 198.18.20.1
in_ns vff-web ip addr del 198.18.20.99/32 dev eth0

stats=$("$ctl" dataplane -s "$sock" --json stats)
check "spoofed_ip and firewall drops are counted on the guest ports" python3 -c '
import json, sys
p = {x["name"]: x for x in json.loads(sys.argv[1])["ports"]}
assert p["web/eth0"]["drops"]["spoofed_ip"] >= 2, p["web/eth0"]["drops"]
assert p["up0"]["drops"]["firewall"] >= 2, p["up0"]["drops"]
' "$stats"

rules=$("$ctl" dataplane -s "$sock" --json rules web/eth0)
check "rules: hit counters by rule id and default" python3 -c '
import json, sys
[n] = json.loads(sys.argv[1])
ing = {r["id"]: r["hits"] for r in n["ingress"]["rules"]}
assert ing["http"] >= 2 and ing["ping"] >= 1 and ing["ping6"] >= 1, ing
assert n["ingress"]["default_hits"] >= 2, n["ingress"]
assert n["ingress"]["established"] > 0 and n["egress"]["established"] > 0, n
' "$rules"
check "rules: the table names rules and defaults" bash -c "'$ctl' dataplane -s '$sock' rules | grep -E 'web/eth0 +ingress +http +allow' && '$ctl' dataplane -s '$sock' rules | grep -E 'cli/eth0 +ingress +\(default\) +deny'"
check_fails "rules: an unknown NIC is an error" "$ctl" dataplane -s "$sock" rules nope/eth0

talk vff-cli UDP 198.18.20.1 7001 >/dev/null  # fresh: UDP connections last 2 s here
ct=$("$ctl" dataplane -s "$sock" --json conntrack cli/eth0)
check "conntrack lists cli's connections with their states" python3 -c '
import json, sys
c = json.loads(sys.argv[1])
assert c["workers"][0]["capacity"] == 65536, c["workers"]
conns = c["connections"]
assert all(x["nic"] == "cli/eth0" for x in conns), conns
kinds = {(x["proto"], x.get("dport"), x["state"]) for x in conns}
assert any(p == "udp" and d == 7001 and s == "replied" for p, d, s in kinds), kinds
assert any(p == "tcp" and d == 7000 for p, d, s in kinds), kinds
assert any(p == "icmp" for p, d, s in kinds), kinds
assert all(x["direction"] == "egress" and x["src"] == "198.18.20.12" for x in conns), conns
' "$ct"
check "a request with a bad parameter gets an error, and the dataplane stays up" python3 -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rwb")
for req in ({"method": "firewall.conntrack", "params": {"limit": "many"}},
            {"method": "firewall.rules", "params": {"nic": 7}}):
    f.write((json.dumps(req) + "\n").encode()); f.flush()
    r = json.loads(f.readline())
    assert r["ok"] is False and "bad params" in r["error"], r
f.write(b"{\"method\": \"status\"}\n"); f.flush()
assert json.loads(f.readline())["ok"] is True
' "$sock"
check "conntrack --count counts" bash -c "'$ctl' dataplane -s '$sock' conntrack --count | grep -E '^0 +[1-9][0-9]* +[0-9]+ +65536'"

# Timeouts: a UDP exchange out of cli opens cli's ingress to the peer's answers for
# udp_replied (2 s here), then closes it.
in_ns vff-uplink python3 - "$work" >"$work/udp-peer.log" 2>&1 <<'PY' &
import os, socket, sys, time
work = sys.argv[1]
def wait_for(name):
    while not os.path.exists(os.path.join(work, name)):
        time.sleep(0.02)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.20.1", 7002))
open(os.path.join(work, "peer-bound"), "w").close()
s.settimeout(10)
data, peer = s.recvfrom(100)
s.sendto(b"pong", peer)
wait_for("send1"); s.sendto(b"late1", peer)
wait_for("send2"); s.sendto(b"late2", peer)
PY
peer=$!
in_ns vff-cli python3 - "$work" >"$work/udp-cli.log" 2>&1 <<'PY'
import os, socket, sys, time
work = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.20.12", 40000))
s.settimeout(2)
for _ in range(500):
    if os.path.exists(os.path.join(work, "peer-bound")):
        break
    time.sleep(0.02)
s.sendto(b"ping", ("198.18.20.1", 7002))
def get():
    try:
        return s.recvfrom(100)[0].decode()
    except socket.timeout:
        return "nothing"
print("reply:", get())
open(os.path.join(work, "send1"), "w").close()
print("within the timeout:", get())
time.sleep(3)
open(os.path.join(work, "send2"), "w").close()
s.settimeout(1.5)
print("after the timeout:", get())
PY
wait "$peer"
check "UDP: the reply passes cli's deny-all ingress" grep -q "reply: pong" "$work/udp-cli.log"
check "UDP: later datagrams of the connection pass within udp_replied" grep -q "within the timeout: late1" "$work/udp-cli.log"
check "UDP: after udp_replied (2 s) the connection is gone and the peer's datagram is dropped" \
    grep -q "after the timeout: nothing" "$work/udp-cli.log"

# A remembered denial (timeouts.denied): the uplink's datagrams to cli:40001 meet cli's deny-all
# ingress once; the flow's next ones are dropped by the entry that remembers it, still counted
# on the default. It is for that direction only: cli's own datagram out on the same ports opens
# a connection (replacing the entry), and the answer passes.
hits_before=$("$ctl" dataplane -s "$sock" --json rules cli/eth0)
in_ns vff-cli python3 - "$work" >"$work/denied-cli.log" 2>&1 <<'PY' &
import os, socket, sys, time
work = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.20.12", 40001))
open(os.path.join(work, "cli-bound"), "w").close()
while not os.path.exists(os.path.join(work, "go")):
    time.sleep(0.02)
s.settimeout(0.3)
try:
    print("inbound:", s.recvfrom(100)[0].decode())
except socket.timeout:
    print("inbound: nothing")
s.settimeout(3)
s.sendto(b"out", ("198.18.20.1", 7003))
try:
    print("reply:", s.recvfrom(100)[0].decode())
except socket.timeout:
    print("reply: nothing")
PY
denied_cli=$!
in_ns vff-uplink python3 - "$work" >"$work/denied-peer.log" 2>&1 <<'PY' &
import os, socket, sys, time
work = sys.argv[1]
while not os.path.exists(os.path.join(work, "cli-bound")):
    time.sleep(0.02)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.20.1", 7003))
for i in range(3):
    s.sendto(b"unwanted%d" % i, ("198.18.20.12", 40001))
    time.sleep(0.05)
open(os.path.join(work, "peer-sent"), "w").close()
s.settimeout(5)
data, peer = s.recvfrom(100)
s.sendto(b"back", peer)
PY
denied_peer=$!
for _ in $(seq 100); do [ -e "$work/peer-sent" ] && break; sleep 0.05; done
sleep 0.2
ct_denied=$("$ctl" dataplane -s "$sock" --json conntrack cli/eth0)
hits_after=$("$ctl" dataplane -s "$sock" --json rules cli/eth0)
touch "$work/go"
wait "$denied_cli" "$denied_peer"
ct_after=$("$ctl" dataplane -s "$sock" --json conntrack cli/eth0)
check "a denied flow is remembered: one entry, ingress, its 3 datagrams" python3 -c '
import json, sys
c = json.loads(sys.argv[1])
d = [x for x in c["connections"] if 7003 in (x.get("sport"), x.get("dport"))]
assert len(d) == 1, c["connections"]
x = d[0]
assert (x["state"], x["direction"], x["src"], x["sport"], x["dst"], x["dport"]) == \
    ("denied", "ingress", "198.18.20.1", 7003, "198.18.20.12", 40001), x
assert x["packets"]["original"] == 3, x
assert c["workers"][0]["denied"] >= 1, c["workers"]
' "$ct_denied"
check "datagrams dropped by the remembered denial are counted on the rule that denied them" python3 -c '
import json, sys
[b], [a] = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert a["ingress"]["default_hits"] - b["ingress"]["default_hits"] == 3, (b["ingress"], a["ingress"])
' "$hits_before" "$hits_after"
check "none of the denied datagrams reached cli" grep -q "inbound: nothing" "$work/denied-cli.log"
check "the denial doesn't hold the other direction: cli's datagram out gets its answer" \
    grep -q "reply: back" "$work/denied-cli.log"
check "cli's connection replaced the remembered denial" python3 -c '
import json, sys
c = json.loads(sys.argv[1])
x = [x for x in c["connections"] if x.get("dport") == 7003 or x.get("sport") == 7003]
assert len(x) == 1 and x[0]["state"] == "replied" and x[0]["direction"] == "egress", x
' "$ct_after"

# Reload: web allows 8081 and 8082 instead of 8080 and 8082. An open connection to 8080 is cut
# on its next packet and new ones fail; one to 8082 is re-checked and kept; 8081 works.
long_connection() {  # long_connection NS ADDR PORT NAME: one exchange, then one after the reload
    in_ns "$1" python3 - "$work" "$2" "$3" "$4" <<'PY' >"$work/$4.log" 2>&1 &
import os, socket, sys, time
work, addr, port, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
s = socket.create_connection((addr, port), timeout=2)
s.sendall(b"before\n")
print("before:", s.recv(100).decode().strip(), flush=True)
open(os.path.join(work, name + ".up"), "w").close()
while not os.path.exists(os.path.join(work, "reloaded")):
    time.sleep(0.05)
try:
    s.sendall(b"after\n")
    print("after:", s.recv(100).decode().strip() or "closed", flush=True)
except OSError as e:
    print("after: cut", e, flush=True)
PY
}
talk_from() {  # talk_from NS ADDR PORT SOURCE_PORT SECONDS: TCP from a fixed source port
    local got
    got=$(echo hello | in_ns "$1" timeout "$5" socat -t 5 -T 2 - "TCP:$2:$3,sourceport=$4,reuseaddr" 2>&1) ||
        { echo "$got"; return 1; }
    [ "$got" = hello ] || { echo "got: '$got'"; return 1; }
}
check_fails "before the reload 8081 is denied (uplink:40100 -> web:8081)" \
    talk_from vff-uplink 198.18.20.11 8081 40100 2
long_connection vff-uplink 198.18.20.11 8080 removed
removed=$!
long_connection vff-uplink 198.18.20.11 8082 kept
kept=$!
for _ in $(seq 50); do [ -e "$work/removed.up" ] && [ -e "$work/kept.up" ] && break; sleep 0.1; done
write_config "[8081, 8082]"
reload=$("$ctl" dataplane -s "$sock" reload 2>&1)
touch "$work/reloaded"
wait "$removed" "$kept"
check "reload with changed rules succeeds" grep -q "reloaded: generation" <<<"$reload"
check "open connections worked before the reload" bash -c "grep -q 'before: before' '$work/removed.log' && grep -q 'before: before' '$work/kept.log'"
check "an open connection to the removed port is cut" grep -q "after: cut" "$work/removed.log"
check "an open connection the changed rules still allow is kept" grep -q "after: after" "$work/kept.log"
check_fails "a reload that removes an allowed port stops new connections to it" talk vff-uplink TCP 198.18.20.11 8080
check "the newly allowed port connects, also from the source port whose denial was remembered" \
    talk_from vff-uplink 198.18.20.11 8081 40100 5
ct=$("$ctl" dataplane -s "$sock" --json conntrack --count)
check "the cut connection is counted as revoked" python3 -c '
import json, sys
assert json.loads(sys.argv[1])["workers"][0]["revoked"] >= 1, sys.argv[1]
' "$ct"

harness_stop
tap_done
