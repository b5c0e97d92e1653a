#!/usr/bin/env bash
# The Debian package's binary against the framework-dependent build, side by side: size on disk and
# start time (exec to the first 200 from /readyz on loopback), median of ROUNDS starts each, in ABAB
# order, each with a fresh data directory.
# Usage: bench/package/run.sh [ROUNDS]   (needs out/deb from `make deb` and
#        `dotnet build src/Provisioner -c Release`; no root needed)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-7}
deb=$(ls -t out/deb/kldload_*_amd64.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { echo "no out/deb/kldload_*.deb: run make deb" >&2; exit 1; }
fdd=src/Provisioner/bin/Release/net10.0
[ -f "$fdd/kldload.dll" ] || { echo "no $fdd/kldload.dll: run dotnet build src/Provisioner -c Release" >&2; exit 1; }
work=$(mktemp -d /tmp/kldload-pkgbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
dpkg-deb -x "$deb" "$work/root"
pkg=$work/root/usr/bin/kldload
cp "$work/root/etc/kldload/appsettings.json" "$work/root/usr/bin/"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Prints the milliseconds from exec to the first 200 from /readyz.
start_ms() {
  local data=$work/data-$RANDOM$RANDOM port; port=$(free_port)
  local t0; t0=$(date +%s%N)
  DOTNET_BUNDLE_EXTRACT_BASE_DIR=$work/bundle "$@" serve --urls "http://127.0.0.1:$port" \
    "--Kldload:DataDir=$data" --Tftp:Enabled=false >"$work/log" 2>&1 &
  local pid=$!; pids+=("$pid")
  until curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
    sleep 0.01
  done
  local t1; t1=$(date +%s%N)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo $(( (t1 - t0) / 1000000 ))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# One unmeasured start each first: the package unpacks libsodium into the bundle directory once.
start_ms "$pkg" >/dev/null
start_ms dotnet "$fdd/kldload.dll" >/dev/null
: >"$work/a"; : >"$work/b"
for _ in $(seq "$rounds"); do
  start_ms "$pkg" >>"$work/a"
  start_ms dotnet "$fdd/kldload.dll" >>"$work/b"
done
a=$(median <"$work/a"); b=$(median <"$work/b")
deb_kb=$(( $(stat -c %s "$deb") / 1024 ))
bin_kb=$(( $(stat -c %s "$pkg") / 1024 ))
fdd_kb=$(du -sk "$fdd" | cut -f1)
printf '%-34s %10s %14s\n' "" "size (KiB)" "start (ms, median of $rounds)"
printf '%-34s %10s %14s\n' "package: /usr/bin/kldload" "$bin_kb" "$a"
printf '%-34s %10s %14s\n' "package: the .deb (xz)" "$deb_kb" "-"
printf '%-34s %10s %14s\n' "framework-dependent (+ .NET 10)" "$fdd_kb" "$b"
awk -v a="$a" -v b="$b" 'BEGIN { printf "start ratio package / framework-dependent: %.2f\n", a / b }'
