#!/usr/bin/env bash
# A/B of edd=off on a BIOS boot: SeaBIOS loads out/image's kernel and initrd directly (-kernel, no
# network, no TPM, TCG) and the time from QEMU start to the kernel's first console line ("Linux
# version", printed after the real-mode setup code, where the EDD probe runs, and decompression) is
# measured with and without edd=off, in ABBA order so a load that drifts during the run cancels out.
# usage: bench/boot/edd-ab.sh [ROUNDS]     ROUNDS of on/off/off/on, default 3
set -euo pipefail
rounds=${1:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
image=$root/out/image
[ -f "$image/kernel" ] || { echo "edd-ab: build the image first: make image" >&2; exit 2; }
work=$(mktemp -d /tmp/kleddab-XXXX)
qemu_pid=""
trap '[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null; rm -rf "$work"' EXIT INT TERM

run() { # extra kernel arguments; prints seconds to the first kernel line
  local log=$work/serial.$RANDOM t0 t
  t0=$(date +%s.%N)
  qemu-system-x86_64 -accel tcg -cpu max -m 1024 -display none -monitor none -serial "file:$log" -net none \
    -kernel "$image/kernel" -initrd "$image/initrd" -append "$1 console=ttyS0,115200 panic=10" 2>/dev/null &
  qemu_pid=$!
  until grep -q "Linux version" "$log" 2>/dev/null; do sleep 0.05; done
  t=$(date +%s.%N)
  kill "$qemu_pid"; wait "$qemu_pid" 2>/dev/null || true; qemu_pid=""
  awk -v a="$t0" -v b="$t" 'BEGIN { printf "%.2f", b - a }'
}

on=(); off=()
for _ in $(seq "$rounds"); do
  on+=("$(run "")"); off+=("$(run edd=off)"); off+=("$(run edd=off)"); on+=("$(run "")")
done
printf 'edd probe on : %s\nedd=off      : %s\n' "${on[*]}" "${off[*]}"
printf 'means: on %s s, off %s s\n' "$(printf '%s\n' "${on[@]}" | awk '{s += $1} END {printf "%.2f", s / NR}')" \
  "$(printf '%s\n' "${off[@]}" | awk '{s += $1} END {printf "%.2f", s / NR}')"
