#!/bin/sh
# ipmi_sim chassis-control hook (test-peers.md B1): ipmi_sim runs
#   <this> 0x20 get power|boot ...   and   <this> 0x20 set power 1|0 reset 1 shutdown 1 boot pxe ...
# Power is kept in power.state, the boot device in boot.state; every call goes to chassis.log,
# every reset to resets.log. The tests read these files.
cd "$(dirname "$0")" || exit 1
mc=$1; op=$2; shift 2
echo "$mc $op $*" >> chassis.log
case $op in
  get)
    for p in "$@"; do
      case $p in
        power) echo "power:$(cat power.state 2>/dev/null || echo 0)";;
        boot)  echo "boot:$(cat boot.state 2>/dev/null || echo default)";;
        *) echo "Invalid parameter: $p"; exit 1;;
      esac
    done;;
  set)
    while [ $# -ge 2 ]; do
      case $1 in
        power) echo "$2" > power.state;;
        shutdown) [ "$2" = 1 ] && echo 0 > power.state;;
        reset) [ "$2" = 1 ] && echo reset >> resets.log;;
        boot)  echo "$2" > boot.state;;
        identify) shift;;
        *) echo "Invalid parameter: $1"; exit 1;;
      esac
      shift 2
    done;;
  check) exit 1;;
  *) echo "Unknown operation: $op"; exit 1;;
esac
