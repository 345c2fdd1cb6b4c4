#!/bin/sh
# ipmi_sim LAN-parameter hook: ipmi_sim runs "<this> get <name>..." and reads "name:value" lines.
# The BMC's own MAC is 02:00:00:00:00:20; it must never show up as a host MAC.
op=$1; shift
[ "$op" = get ] || exit 1
for p in "$@"; do
  case $p in
    ip_addr) echo "ip_addr:127.0.0.1";;
    ip_addr_src) echo "ip_addr_src:static";;
    mac_addr) echo "mac_addr:02:00:00:00:00:20";;
    subnet_mask) echo "subnet_mask:255.0.0.0";;
    default_gw_ip_addr) echo "default_gw_ip_addr:127.0.0.1";;
    default_gw_mac_addr) echo "default_gw_mac_addr:02:00:00:00:00:01";;
    backup_gw_ip_addr) echo "backup_gw_ip_addr:0.0.0.0";;
    backup_gw_mac_addr) echo "backup_gw_mac_addr:00:00:00:00:00:00";;
  esac
done
