#!/usr/bin/env bash
# Backup and restore throughput and peak memory: kldload's backup (age-encrypted, digest manifest,
# database dumped in one transaction) against the operator's obvious baseline on the same stopped
# data directory: `tar -c DIR | age -r RECIPIENT` and `age -d | tar -x`.
# Usage: bench/backup/run.sh [IMAGE_MIB (default 512)]. Needs: dotnet, age, GNU time. Prints a table.
set -euo pipefail
mib=${1:-512}
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/kl-bench-backup.XXXXXX)
trap 'rm -rf "$work"' EXIT
dotnet build "$repo/src/Provisioner" -c Release -nologo -v q >/dev/null
kl=(dotnet "$repo/src/Provisioner/bin/Release/net10.0/kldload.dll")

# A data directory with two images of MIB/2 MiB each (random bytes: incompressible, like kernels).
mkdir -p "$work/img1" "$work/img2"
for i in 1 2; do
  head -c $((mib * 1024 * 1024 / 4)) /dev/urandom > "$work/img$i/kernel"
  head -c $((mib * 1024 * 1024 / 4)) /dev/urandom > "$work/img$i/initrd"
  "${kl[@]}" image import "$work/img$i" --name live --version "$i" --channel stable --Kldload:DataDir="$work/data" -q >/dev/null
done
"${kl[@]}" backup keygen -o "$work/key.txt" > "$work/recipient.txt"
recipient=$(cat "$work/recipient.txt")
sync

measure() { # name, command...: prints "seconds maxrss_kib"
  local name=$1; shift
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  /usr/bin/time -f "%e %M" -o "$work/$name.time" "$@" >/dev/null 2>"$work/$name.err" || { cat "$work/$name.err"; exit 1; }
  cat "$work/$name.time"
}

read -r kb_s kb_m < <(measure kl-backup "${kl[@]}" backup --offline -o "$work/kl.age" -r "$recipient" --Kldload:DataDir="$work/data" -q)
read -r kv_s kv_m < <(measure kl-verify "${kl[@]}" backup verify "$work/kl.age" -i "$work/key.txt" -q)
read -r kr_s kr_m < <(measure kl-restore "${kl[@]}" restore "$work/kl.age" -i "$work/key.txt" --Kldload:DataDir="$work/restored" -q)
read -r ab_s ab_m < <(measure age-backup bash -c "tar -C '$work/data' -cf - . | age -r '$recipient' -o '$work/tar.age'")
mkdir -p "$work/untar"
read -r ar_s ar_m < <(measure age-restore bash -c "age -d -i '$work/key.txt' '$work/tar.age' | tar -C '$work/untar' -xf -")

size=$(du -sm "$work/data" | cut -f1)
printf '\nbackup of a %s MiB data directory (%s MiB of image blobs), 2 cores, page cache dropped before each run\n\n' "$size" "$mib"
printf '| step | kldload | tar + age | kldload / baseline |\n|---|---|---|---|\n'
awk -v a="$kb_s" -v b="$ab_s" -v am="$kb_m" -v bm="$ab_m" 'BEGIN{printf "| backup | %.2f s, %d MiB peak | %.2f s, %d MiB peak (age) | %.2fx time |\n", a, am/1024, b, bm/1024, a/b}'
awk -v a="$kr_s" -v b="$ar_s" -v am="$kr_m" -v bm="$ar_m" 'BEGIN{printf "| restore (verify all, then place) | %.2f s, %d MiB peak | %.2f s, %d MiB peak (age) | %.2fx time |\n", a, am/1024, b, bm/1024, a/b}'
awk -v a="$kv_s" -v am="$kv_m" 'BEGIN{printf "| verify only | %.2f s, %d MiB peak | (no equivalent) | |\n", a, am/1024}'
printf '\narchive sizes: kldload %s bytes, tar+age %s bytes\n' "$(stat -c %s "$work/kl.age")" "$(stat -c %s "$work/tar.age")"
