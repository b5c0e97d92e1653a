# A private PostgreSQL cluster for one bench run (sourced by bench/*/run.sh; needs root).
# Debian's postgresql package (the newest major installed), initdb as the postgres user, default
# durability (fsync and synchronous_commit on), listening on 127.0.0.1 at a random port with its own
# socket directory, stopped by the postmaster's PID.
#
#   source "$ROOT/bench/lib/postgres.sh"
#   pg_start DIR [NETNS]      # cluster in DIR/pg, inside network namespace NETNS if given; sets PG_DATA PG_PORT
#   pg_database PREFIX        # a fresh database; prints its name
#   pg_stop                   # by PID; safe to call twice (call it from the script's EXIT trap)

PG_DATA=""; PG_PORT=""; PG_NETNS=""

pg_in_netns() {
  if [ -n "$PG_NETNS" ]; then ip netns exec "$PG_NETNS" "$@"; else "$@"; fi
}

pg_start() {
  local dir=$1 bin
  PG_NETNS=${2:-}
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  PG_DATA="$dir/pg/data"; PG_PORT=$(( 20000 + RANDOM % 20000 ))
  mkdir -p "$dir/pg/sock"; chown -R postgres:postgres "$dir/pg"; chmod 755 "$dir"
  su postgres -s /bin/sh -c "$bin/initdb -D $PG_DATA -U postgres --auth=trust -E UTF8 --locale=C" >"$dir/pg/initdb.log" 2>&1
  pg_in_netns su postgres -s /bin/sh -c "$bin/pg_ctl -D $PG_DATA -l $dir/pg/server.log -w -t 60 start \
    -o '-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$dir/pg/sock -c max_connections=200'" >/dev/null
}

pg_database() {
  local db="$1_$(date +%s%N)"
  pg_in_netns su postgres -s /bin/sh -c "psql -h 127.0.0.1 -p $PG_PORT -U postgres -qc 'CREATE DATABASE $db'" >/dev/null
  echo "$db"
}

pg_stop() {
  if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
    kill "$(head -1 "$PG_DATA/postmaster.pid")" 2>/dev/null || true
    for _ in $(seq 50); do [ -f "$PG_DATA/postmaster.pid" ] || break; sleep 0.2; done
  fi
}
