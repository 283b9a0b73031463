# Host side: answer guest g on VLAN 100, watching its VF's MAC (see responder.py, shared with
# vf_manager). $1: the run directory.
exec python3 "$1/responder.py" "$1/responder.log" 02:00:00:00:01:10
