# shellcheck shell=bash
# Sourced by .ci/run (and usable by hand: `source .ci/postgres.sh`): makes
# sure a PostgreSQL server from Debian's packages runs for the tests and
# exports DVS2S_TEST_DATABASE pointing at it.
#
# The cluster is private to the tests: its own data directory
# ($DVS2S_PG_DIR, default /tmp/dvs2s-ci-pg), its own free port on
# 127.0.0.1, its socket in the data directory, owned by the postgres user
# when run as root (initdb refuses root). Running it again reuses the
# cluster if it is up, restarts it if it is down. Non-interactive; no
# systemd. Tuned for tests, not for keeping data: fsync is off (the tests
# kill dvs2s processes, never the database server).

dvs2s_pg_setup() {
	local dir="${DVS2S_PG_DIR:-/tmp/dvs2s-ci-pg}"
	local bin
	bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
	if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq </dev/null
		apt-get install -y -qq postgresql </dev/null
		bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
	fi
	# as runs a command as the cluster's owner: postgres when we are root.
	local as=()
	if [ "$(id -u)" = 0 ]; then
		as=(runuser -u postgres --)
	fi
	if [ ! -s "$dir/PG_VERSION" ]; then
		rm -rf "$dir"
		mkdir -p "$dir"
		[ ${#as[@]} -eq 0 ] || chown postgres: "$dir"
		chmod 700 "$dir"
		"${as[@]}" "$bin/initdb" -D "$dir" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir.initdb.log" 2>&1 ||
			{ cat "$dir.initdb.log" >&2; return 1; }
	fi
	local port
	if "${as[@]}" "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
		port="$(sed -n 4p "$dir/postmaster.pid")"
	else
		port=55432
		while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
			port=$((port + 1))
		done
		"${as[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
			-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
			start >/dev/null || { tail -n 20 "$dir/server.log" >&2; return 1; }
	fi
	"${as[@]}" "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1 <<-'SQL' >/dev/null
		SELECT 'CREATE ROLE dvs2s LOGIN CREATEDB PASSWORD ''dvs2s''' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dvs2s')
		\gexec
		SELECT 'CREATE DATABASE dvs2s OWNER dvs2s' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'dvs2s')
		\gexec
	SQL
	export DVS2S_TEST_DATABASE="postgres://dvs2s:dvs2s@127.0.0.1:$port/dvs2s?sslmode=disable"
	echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') for the tests: $DVS2S_TEST_DATABASE"
}

dvs2s_pg_setup
