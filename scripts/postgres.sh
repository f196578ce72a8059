#!/usr/bin/env bash
# A throwaway PostgreSQL cluster (Debian's server binaries) for the end-to-end suite on the
# PostgreSQL backend (scripts/test.sh) and for trying the backend by hand:
#   bash scripts/postgres.sh start DIR   # initdb + start on a free loopback port; prints the URL
#   bash scripts/postgres.sh stop DIR    # stop (immediate) and delete DIR
# The cluster listens on 127.0.0.1 only, with SCRAM password authentication for user `sigil`;
# the URL (database `postgres`, for creating databases) is also written to DIR/url. PostgreSQL
# refuses to run as root: as root the cluster belongs to, and runs as, the `postgres` user.
set -euo pipefail
cmd=${1:?usage: postgres.sh start|stop DIR}
dir=${2:?usage: postgres.sh start|stop DIR}
bindir=${SIGIL_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$bindir/initdb" ] || { echo "postgres.sh: no PostgreSQL server binaries (run scripts/setup-debian.sh)" >&2; exit 2; }
as=()
[ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
case "$cmd" in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  password=$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy')
  printf '%s' "$password" > "$dir/pw"
  [ ${#as[@]} -gt 0 ] && chown -R postgres:postgres "$dir"
  "${as[@]}" "$bindir/initdb" -D "$dir/data" -U sigil --pwfile="$dir/pw" --auth=scram-sha-256 \
    -E UTF8 --no-sync >"$dir/initdb.log"
  rm -f "$dir/pw"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 400
CONF
  "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
  echo "postgresql://sigil:$password@127.0.0.1:$port/postgres" | tee "$dir/url"
  ;;
stop)
  [ -d "$dir/data" ] && "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
*) echo "usage: postgres.sh start|stop DIR" >&2; exit 64 ;;
esac
