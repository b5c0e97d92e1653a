#!/usr/bin/env bash
# Serving a 64 MiB initrd over HTTP on loopback: kldload (/images/{digest}) side by side with
# nginx (Debian nginx-light, sendfile on) in one run. One client doing sequential downloads, and
# 50 parallel curl clients. Prints a Markdown table with throughput and the kldload/nginx ratio.
#
#   bench/images/run.sh [ROUNDS]     (default 3 rounds; the median round is reported)
#
# Everything runs on 127.0.0.1 with ephemeral ports; both servers are stopped by PID on exit.
set -euo pipefail

ROUNDS="${1:-3}"
SINGLE_DOWNLOADS=20      # one client: sequential downloads per round
PARALLEL_CLIENTS=50      # parallel curl processes
PARALLEL_DOWNLOADS=2     # downloads per parallel client per round
SIZE_MIB=64

repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d /tmp/klbench-images.XXXXXX)"
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

echo "building kldload (Release)..." >&2
dotnet build "$repo/src/Provisioner" -c Release -warnaserror -v quiet -nologo >/dev/null
kldload=(dotnet "$repo/src/Provisioner/bin/Release/net10.0/kldload.dll")

# The image: a small kernel and a 64 MiB random initrd, imported with the real CLI.
mkdir -p "$work/src" "$work/data" "$work/www"
head -c 1048576 /dev/urandom >"$work/src/vmlinuz"
head -c $((SIZE_MIB * 1048576)) /dev/urandom >"$work/src/initrd.img"
"${kldload[@]}" image import "$work/src" --name bench --version 1 --quiet --Kldload:DataDir="$work/data" >/dev/null
digest="$(sha256sum "$work/src/initrd.img" | cut -d' ' -f1)"
cp "$work/src/initrd.img" "$work/www/initrd.img"
chmod -R a+rX "$work/www"

kport="$(free_port)"
"${kldload[@]}" serve --urls "http://127.0.0.1:$kport" --Kldload:DataDir="$work/data" --Kldload:LogLevel=Warning \
  --Tftp:Enabled=false >"$work/kldload.log" 2>&1 &
pids+=($!)

nport="$(free_port)"
cat >"$work/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $work/nginx-tmp;
  proxy_temp_path $work/nginx-tmp;
  fastcgi_temp_path $work/nginx-tmp;
  uwsgi_temp_path $work/nginx-tmp;
  scgi_temp_path $work/nginx-tmp;
  server {
    listen 127.0.0.1:$nport;
    root $work/www;
  }
}
EOF
mkdir -p "$work/nginx-tmp"
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)

kurl="http://127.0.0.1:$kport/images/$digest"
nurl="http://127.0.0.1:$nport/initrd.img"
for u in "$kurl" "$nurl"; do
  for _ in $(seq 1 100); do curl -sf -o /dev/null "$u" && break; sleep 0.1; done
done
# Both answers must be the imported bytes (this also does kldload's first-serve verification).
[ "$(curl -sf "$kurl" | sha256sum | cut -d' ' -f1)" = "$digest" ] || { echo "kldload served wrong bytes" >&2; exit 1; }
[ "$(curl -sf "$nurl" | sha256sum | cut -d' ' -f1)" = "$digest" ] || { echo "nginx served wrong bytes" >&2; exit 1; }

now() { date +%s.%N; }

# MiB/s of SINGLE_DOWNLOADS sequential downloads by one client.
single() {
  local url="$1" start end
  start="$(now)"
  for _ in $(seq 1 "$SINGLE_DOWNLOADS"); do curl -sf -o /dev/null "$url"; done
  end="$(now)"
  python3 -c "print(f'{$SINGLE_DOWNLOADS*$SIZE_MIB/($end-$start):.0f}')"
}

# Aggregate MiB/s of PARALLEL_CLIENTS curl processes downloading PARALLEL_DOWNLOADS times each.
parallel() {
  local url="$1" start end cpids=()
  start="$(now)"
  for _ in $(seq 1 "$PARALLEL_CLIENTS"); do
    (for _ in $(seq 1 "$PARALLEL_DOWNLOADS"); do curl -sf -o /dev/null "$url"; done) &
    cpids+=($!)
  done
  for p in "${cpids[@]}"; do wait "$p"; done
  end="$(now)"
  python3 -c "print(f'{$PARALLEL_CLIENTS*$PARALLEL_DOWNLOADS*$SIZE_MIB/($end-$start):.0f}')"
}

median() { python3 -c "import statistics,sys; print(f'{statistics.median(float(x) for x in sys.argv[1:]):.0f}')" "$@"; }

ks=(); ns=(); kp=(); np=()
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS..." >&2
  ks+=("$(single "$kurl")"); ns+=("$(single "$nurl")")
  kp+=("$(parallel "$kurl")"); np+=("$(parallel "$nurl")")
done

k1="$(median "${ks[@]}")"; n1="$(median "${ns[@]}")"
k50="$(median "${kp[@]}")"; n50="$(median "${np[@]}")"
echo
echo "64 MiB initrd over HTTP on 127.0.0.1, $(nproc) cores, median of $ROUNDS rounds (MiB/s)"
echo
echo "| clients | kldload | nginx $(nginx -v 2>&1 | sed 's|.*/||') | kldload/nginx |"
echo "|---|---|---|---|"
printf '| 1 (%d sequential downloads) | %s | %s | %s |\n' "$SINGLE_DOWNLOADS" "$k1" "$n1" "$(python3 -c "print(f'{$k1/$n1:.2f}')")"
printf '| %d parallel curl (%d downloads each) | %s | %s | %s |\n' "$PARALLEL_CLIENTS" "$PARALLEL_DOWNLOADS" "$k50" "$n50" "$(python3 -c "print(f'{$k50/$n50:.2f}')")"
