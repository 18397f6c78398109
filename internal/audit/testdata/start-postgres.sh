#!/bin/sh
# Start a throwaway PostgreSQL cluster for the audit store tests and print
# its DSN on stdout:
#
#   export AUDIT_TEST_POSTGRES_DSN="$(internal/audit/testdata/start-postgres.sh 5433)"
#   go test ./internal/audit/
#
# Usage: start-postgres.sh [port] [data-dir]
#        start-postgres.sh stop data-dir
#   port      TCP port on 127.0.0.1 (default 5433)
#   data-dir  cluster directory (default: a new temporary directory)
#
# The cluster trusts local connections (it is for tests only) and listens on
# 127.0.0.1 only. Stop it with the command printed on stderr. As root, the
# cluster is created and run as the "postgres" user.
set -eu

stop=""
if [ "${1:-}" = stop ]; then
	stop=1
	shift
	port=""
	dir="${1:?stop needs the data-dir}"
else
	port="${1:-5433}"
	dir="${2:-}"
fi

bindir=""
if command -v pg_config >/dev/null 2>&1; then
	bindir="$(pg_config --bindir)"
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
	bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
	echo "start-postgres: initdb not found; install PostgreSQL (apt-get install -y postgresql)" >&2
	exit 1
fi

if [ -z "$dir" ]; then
	dir="$(mktemp -d "${TMPDIR:-/tmp}/audit-pg.XXXXXX")"
fi
mkdir -p "$dir"

# run executes a command as the cluster owner.
if [ "$(id -u)" = 0 ]; then
	owner=postgres
	chown "$owner" "$dir"
	run() { su "$owner" -s /bin/sh -c "$*"; }
else
	owner="$(id -un)"
	run() { sh -c "$*"; }
fi

data="$dir/data"
if [ -n "$stop" ]; then
	run "'$bindir/pg_ctl' -D '$data' stop -m fast" >/dev/null
	rm -rf "$dir"
	exit 0
fi
if [ ! -f "$data/PG_VERSION" ]; then
	run "'$bindir/initdb' -D '$data' -U postgres --auth=trust --encoding=UTF8 --no-locale" >"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log" >&2
		exit 1
	}
fi
run "'$bindir/pg_ctl' -D '$data' -l '$dir/postgres.log' -w -t 60 start -o \"-k '$dir' -p $port -c listen_addresses=127.0.0.1 -c fsync=off\"" >/dev/null || {
	cat "$dir/postgres.log" >&2
	exit 1
}

echo "start-postgres: running as $owner in $dir; stop with:" >&2
if [ "$owner" = "$(id -un)" ]; then
	echo "  '$bindir/pg_ctl' -D '$data' stop -m fast" >&2
else
	echo "  su $owner -s /bin/sh -c \"'$bindir/pg_ctl' -D '$data' stop -m fast\"" >&2
fi
echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
