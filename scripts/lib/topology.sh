# Network namespaces joined to the dataplane by veth pairs: the test hosts of the demo and of
# the system tests. Source it, then:
#
#   topo_host NS IFACE MAC ADDR [ADDR6]   namespace NS whose eth0 (MAC, addresses) is the peer of
#                                         IFACE in the root namespace (opened by net_af_packet)
#   topo_down                             removes every namespace and veth topo_host made
#
# Offloads are off on both ends: with them, af_packet would see partial checksums and 64 KB
# segments instead of the frames a NIC carries.

TOPO_NAMESPACES=()
TOPO_IFACES=()

topo_quiet_offloads() {
    ethtool -K "$1" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
}

topo_host() {
    local ns=$1 iface=$2 mac=$3 addr=$4 addr6=${5:-}
    # A run killed outright (SIGKILL, OOM) leaves its hosts behind: ours by name, so reuse it.
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    ip link del "$iface" 2>/dev/null || true
    ip netns add "$ns"
    TOPO_NAMESPACES+=("$ns")
    ip link add "$iface" type veth peer name eth0 netns "$ns"
    TOPO_IFACES+=("$iface")
    # The root side is a DPDK port, not a host interface: no IPv6 of its own (its router
    # solicitations would reach the switch from a MAC no guest has).
    sysctl -qw "net.ipv6.conf.$iface.disable_ipv6=1"
    ip link set "$iface" up
    topo_quiet_offloads "$iface"
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 address "$mac"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.accept_dad=0
    ip -n "$ns" addr add "$addr" dev eth0
    [ -n "$addr6" ] && ip -n "$ns" addr add "$addr6" dev eth0 nodad
    ip -n "$ns" link set eth0 up
    ip netns exec "$ns" ethtool -K eth0 tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
}

topo_down() {
    local ns iface
    # Whatever still runs in them (servers a test started in the background) goes first.
    for ns in "${TOPO_NAMESPACES[@]}"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    done
    for iface in "${TOPO_IFACES[@]}"; do ip link del "$iface" 2>/dev/null || true; done
    for ns in "${TOPO_NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    TOPO_NAMESPACES=()
    TOPO_IFACES=()
}

# Waits until the dataplane's control socket answers (vfgatectl CTL, socket SOCK), up to 30 s.
topo_wait_dataplane() {
    local ctl=$1 sock=$2 pid=$3 i
    for i in $(seq 300); do
        "$ctl" dataplane -s "$sock" status >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
