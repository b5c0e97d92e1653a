#!/usr/bin/env bash
# make demo: kldload and one QEMU node (SeaBIOS + iPXE, swtpm vTPM) in a private network namespace.
# The dashboard is reachable from this host over a veth pair. Ctrl-C stops everything and removes
# the namespace. Needs root, qemu-system-x86, swtpm, wireguard-go; builds out/image when it is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ns=kldemo$$
br=kldbr0
work=$(mktemp -d /tmp/kldemo-XXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  ip link del kldemoh 2>/dev/null || true
  echo "demo: stopped; logs kept in $work"
}
trap cleanup EXIT INT TERM

if [ ! -f "$root/out/image/manifest.json" ]; then
  echo "demo: building the live image (images/build.sh, a few minutes the first time)"
  "$root/images/build.sh"
fi
echo "demo: building kldload"
dotnet build "$root/src/Provisioner" -c Release --nologo -v quiet >/dev/null
kldload=("$root/src/Provisioner/bin/Release/net10.0/kldload.dll")
dotnet "${kldload[@]}" image import "$root/out/image" --name kldload-live --version 1 --channel stable "--Kldload:DataDir=$work/data" >/dev/null

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add "$br" type bridge
ip -n "$ns" addr add 10.77.0.1/24 dev "$br"
ip -n "$ns" link set "$br" up
ip -n "$ns" tuntap add dev kldtap0 mode tap
ip -n "$ns" link set kldtap0 master "$br" up
ip link add kldemoh type veth peer name kldemon netns "$ns"
ip addr add 10.76.0.2/30 dev kldemoh && ip link set kldemoh up
ip -n "$ns" addr add 10.76.0.1/30 dev kldemon && ip -n "$ns" link set kldemon up

ip netns exec "$ns" dotnet "${kldload[@]}" serve --urls 'http://[::]:8080' --Kldload:ServerUrl=http://10.77.0.1:8080 \
  "--Kldload:DataDir=$work/data" --Dhcp:Mode=Full "--Dhcp:Interface=$br" \
  --Dhcp:Subnets:0:Network=10.77.0.0/24 --Dhcp:Subnets:0:PoolStart=10.77.0.100 --Dhcp:Subnets:0:PoolEnd=10.77.0.199 \
  --Dhcp:Subnets:0:Router=10.77.0.1 --Tftp:Endpoint=10.77.0.1:69 --Mesh:Enabled=true --Mesh:Interface=kldemomesh \
  --Attestation:EnrollmentPolicy=Lab --Boot:DefaultChannel=stable > "$work/kldload.log" 2>&1 &
pids+=($!)
for _ in $(seq 60); do ip netns exec "$ns" curl -sf http://10.77.0.1:8080/readyz >/dev/null && break; sleep 1; done

mkdir -p "$work/tpm"
swtpm socket --tpm2 --tpmstate "dir=$work/tpm" --ctrl "type=unixio,path=$work/tpm/sock" > "$work/swtpm.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$work/tpm/sock" ] && break; sleep 0.1; done
ip netns exec "$ns" qemu-system-x86_64 -accel tcg -cpu max -m 1024 -display none -monitor none -serial "file:$work/node.serial.log" \
  -chardev "socket,id=chrtpm,path=$work/tpm/sock" -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0 \
  -netdev tap,id=n0,ifname=kldtap0,script=no,downscript=no -device virtio-net-pci,netdev=n0,mac=52:54:00:de:00:01 -boot n &
pids+=($!)

echo "demo: dashboard http://10.76.0.1:8080/  admin token: $(cat "$work/data/admin.token")"
echo "demo: node console: $work/node.serial.log (following it; Ctrl-C stops the demo)"
# In the background with `wait`, so Ctrl-C (or TERM) runs the cleanup at once.
tail -F "$work/node.serial.log" 2>/dev/null &
pids+=($!)
wait
