#!/usr/bin/env bash
# Captures DHCPv6 golden vectors: kea-dhcp6 answers perfdhcp -6 and dhclient -6 across a veth pair.
set -euo pipefail
out=${1:?output dir}
id=$(printf '%04x' $RANDOM)
S=k6cS$id C=k6cC$id SI=k6${id}s CI=k6${id}c
work=$(mktemp -d)
# Every step may fail (a daemon that already exited): none may stop the others under set -e.
cleanup() {
  if [ -n "${kp:-}" ]; then kill "$kp" 2>/dev/null || true; fi
  if [ -n "${tp:-}" ]; then kill "$tp" 2>/dev/null || true; fi
  ip netns del "$S" 2>/dev/null || true
  ip netns del "$C" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add $S; ip netns add $C
for n in $S $C; do ip netns exec $n sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0; done
ip link add $SI netns $S type veth peer name $CI netns $C
ip -n $S addr add fd00:77::1/64 dev $SI nodad; ip -n $S link set $SI up; ip -n $S link set lo up
ip -n $C addr add fd00:77::2/64 dev $CI nodad; ip -n $C link set $CI up; ip -n $C link set lo up
sleep 1
cat > "$work/kea.json" <<J
{"Dhcp6": {"interfaces-config": {"interfaces": ["$SI"]},
 "server-id": {"type": "LLT", "persist": false},
 "lease-database": {"type": "memfile", "persist": false},
 "control-socket": {"socket-type": "unix", "socket-name": "$work/ctl"},
 "subnet6": [{"subnet": "fd00:77::/64", "interface": "$SI", "pools": [{"pool": "fd00:77::100-fd00:77::1ff"}],
   "option-data": [{"name": "bootfile-url", "data": "tftp://[fd00:77::1]/snponly.efi"}]}]}}
J
KEA_PIDFILE_DIR=$work KEA_LOCKFILE_DIR=$work ip netns exec $S kea-dhcp6 -c "$work/kea.json" > "$work/kea.log" 2>&1 & kp=$!
ip netns exec $S tcpdump -i $SI -w "$out/dhcp6.pcap" -U 'udp port 546 or udp port 547' > /dev/null 2>&1 & tp=$!
sleep 2
ip netns exec $C perfdhcp -6 -l $CI -r 1 -n 1 -R 1 > "$work/perf.log" 2>&1 || true
ip netns exec $C perfdhcp -6 -l $CI -r 1 -n 1 -R 1 -c > "$work/perf2.log" 2>&1 || true
timeout 10 ip netns exec $C dhclient -6 -1 -d -v -lf "$work/l" -pf "$work/p" -sf /bin/true $CI > "$work/dh.log" 2>&1 || true
sleep 1
kill $tp; wait $tp 2>/dev/null || true; tp=
cp "$work"/*.log "$out"/
