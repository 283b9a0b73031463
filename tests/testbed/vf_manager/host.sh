# Host side: answer the VF on VLAN 100 (see responder.py). $1: the run directory.
exec python3 "$1/responder.py" "$1/responder.log" 02:00:00:00:00:10 02:00:00:00:00:11
