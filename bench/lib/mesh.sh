# What the mesh benches share (sourced by bench/mesh/*.sh; needs root): the Release builds of kldload
# and its agent, stopping the children a script started (by their PIDs), and bounded waits.
#
#   source "$repo/bench/lib/mesh.sh"
#   mesh_build REPO                        # builds src/Provisioner and src/Agent; sets kldload_dll, agent_dll
#   mesh_stop PID...                       # SIGTERM to each, up to 10 s each for its exit, then SIGKILL
#   mesh_wait_for WHAT SECONDS LOGS CMD... # runs CMD every 0.5 s until it succeeds; after SECONDS says
#                                          # "bench: WHAT not reached within SECONDS s", shows the last
#                                          # 20 lines of each LOGS/*.log on stderr and exits 1

kldload_dll=""; agent_dll=""

mesh_build() {
  local repo=$1
  dotnet build "$repo/src/Provisioner" -c Release -nologo -v q >/dev/null
  dotnet build "$repo/src/Agent" -c Release -nologo -v q >/dev/null
  kldload_dll="$repo/src/Provisioner/bin/Release/net10.0/kldload.dll"
  agent_dll="$repo/src/Agent/bin/Release/net10.0/kldload-agent.dll"
}

mesh_stop() {
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

mesh_wait_for() {
  local what=$1 seconds=$2 logs=$3 deadline=$((SECONDS + $2)); shift 3
  until "$@"; do
    [ $SECONDS -lt $deadline ] || { echo "bench: $what not reached within $seconds s" >&2; tail -n 20 "$logs"/*.log >&2; exit 1; }
    sleep 0.5
  done
}
