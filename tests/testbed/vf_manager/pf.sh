# Sourced by the testbed cases inside the VM: loads igb, igbvf and vfio-pci and sets PF (the
# emulated 82576's netdev) and PCI (its address), waiting up to 5 s for the driver to bind.
modprobe igb; modprobe igbvf; modprobe vfio-pci
for i in 1 2 3 4 5 6 7 8 9 10; do
    PF=$(ls /sys/bus/pci/drivers/igb/*/net 2>/dev/null | head -1)
    [ -n "$PF" ] && break
    sleep 0.5
done
PCI=$(basename "$(readlink -f "/sys/class/net/$PF/device")")
