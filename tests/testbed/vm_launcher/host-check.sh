# What the host saw from guest g's VF while the testbed VM ran. $1: the run directory.
log=$1/responder.log
[ -f "$log" ] || : > "$log"  # the responder never ran: every count is 0
n() { grep -c -- "$1" "$log"; }
tap() { if [ "$1" = 0 ]; then echo "ok - $2"; else echo "not ok - $2"; fi; }  # STATUS WHAT
replies=$(n 'echo reply')
[ "$replies" -ge 3 ]
tap $? "the host answered the nested guest's pings on VLAN 100 ($replies echo replies)"
tagged=$(n 'frame 02:00:00:00:01:10 vlan 100')
untagged=$(n 'frame 02:00:00:00:01:10 vlan none')
[ "$tagged" -ge 3 ] && [ "$untagged" = 0 ]
tap $? "every frame of the nested guest's VF reached the wire tagged with VLAN 100 by the PF\
 ($tagged tagged, $untagged untagged)"
