# What the host saw from the VFs while the guest ran. $1: the run directory.
log=$1/responder.log
[ -f "$log" ] || : > "$log"  # the responder never ran: every count is 0
n() { grep -c -- "$1" "$log"; }
echo "$([ "$(n 'echo reply')" -ge 3 ] && echo ok || echo not ok) - the host answered the VF's pings on VLAN 100 ($(n 'echo reply') echo replies)"
tagged=$(n 'frame 02:00:00:00:00:10 vlan 100')
untagged=$(n 'frame 02:00:00:00:00:10 vlan none')
echo "$([ "$tagged" -ge 3 ] && [ "$untagged" = 0 ] && echo ok || echo not ok) - every frame of VF 0 reached the wire tagged with VLAN 100 by the PF ($tagged tagged, $untagged untagged)"
