#!/bin/bash
# imagekit's entrypoint for the PostgreSQL image built from Debian packages.
# The same contract as the official image's docker-entrypoint.sh (written
# anew, not copied): when the command is `postgres ...` and PGDATA holds no
# cluster, initdb it (superuser POSTGRES_USER, default postgres, password
# POSTGRES_PASSWORD, password auth from any host), run
# /docker-entrypoint-initdb.d, then exec the command. Runs as any uid: as
# root it drops to `postgres`; an uid without a passwd entry gets one from
# nss_wrapper while initdb runs.
set -Eeo pipefail

note() { printf '%s [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*"; }
die() { printf '%s [Entrypoint]: error: %s\n' "$(date --rfc-3339=seconds)" "$*" >&2; exit 1; }

# VAR or VAR_FILE (docker secrets), like the official image.
file_env() {
	local var="$1" fileVar="${1}_FILE" def="${2:-}"
	if [ "${!var:-}" ] && [ "${!fileVar:-}" ]; then
		die "both $var and $fileVar are set (but are exclusive)"
	fi
	local val="$def"
	if [ "${!var:-}" ]; then val="${!var}"; elif [ "${!fileVar:-}" ]; then val="$(< "${!fileVar}")"; fi
	export "$var"="$val"
	unset "$fileVar"
}

want_help() {
	local arg
	for arg; do
		case "$arg" in -'?'|--help|--describe-config|-V|--version) return 0 ;; esac
	done
	return 1
}

setup_env() {
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS
	: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
	export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
	DATABASE_ALREADY_EXISTS=
	if [ -s "$PGDATA/PG_VERSION" ]; then DATABASE_ALREADY_EXISTS=1; fi
}

create_dirs() {
	local user; user="$(id -u)"
	mkdir -p "$PGDATA"
	chmod 00700 "$PGDATA" 2>/dev/null || :
	mkdir -p /var/run/postgresql
	chmod 03775 /var/run/postgresql 2>/dev/null || :
	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
		mkdir -p "$POSTGRES_INITDB_WALDIR"
		[ "$user" = 0 ] && find "$POSTGRES_INITDB_WALDIR" \! -user postgres -exec chown postgres '{}' +
		chmod 700 "$POSTGRES_INITDB_WALDIR"
	fi
	if [ "$user" = 0 ]; then
		find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
		find /var/run/postgresql \! -user postgres -exec chown postgres '{}' +
	fi
}

verify_env() {
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		die "the database is uninitialized and POSTGRES_PASSWORD is not set: set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust, which allows anyone to connect without a password)"
	fi
}

init_db() {
	# initdb needs a passwd entry for the running uid.
	local uid wrapper
	uid="$(id -u)"
	if ! getent passwd "$uid" >/dev/null; then
		for wrapper in /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so; do
			if [ -s "$wrapper" ]; then
				NSS_WRAPPER_PASSWD="$(mktemp)"
				NSS_WRAPPER_GROUP="$(mktemp)"
				export LD_PRELOAD="$wrapper" NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
				printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$uid" "$(id -g)" "$PGDATA" > "$NSS_WRAPPER_PASSWD"
				printf 'postgres:x:%s:\n' "$(id -g)" > "$NSS_WRAPPER_GROUP"
				break
			fi
		done
	fi
	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
		set -- --waldir "$POSTGRES_INITDB_WALDIR" "$@"
	fi
	# shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a word list on purpose
	initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
		$POSTGRES_INITDB_ARGS "$@"
	if [ "${LD_PRELOAD:-}" = "${wrapper:-}" ] && [ -n "${NSS_WRAPPER_PASSWD:-}" ]; then
		rm -f "$NSS_WRAPPER_PASSWD" "$NSS_WRAPPER_GROUP"
		unset LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
	fi
}

setup_hba() {
	{
		printf '\n'
		if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
			printf '# warning: trust is enabled for all connections\n'
		fi
		printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD"
	} >> "$PGDATA/pg_hba.conf"
}

psql_as_superuser() {
	PGHOST= PGHOSTADDR= psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

temp_server_start() {
	if [ "$1" = postgres ]; then shift; fi
	# Only the socket, not TCP, while initialising; the command's own -c options stay.
	set -- "$@" -c listen_addresses='' -p "${PGPORT:-5432}"
	PGUSER="${PGUSER:-$POSTGRES_USER}" pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@")" -w start
}

temp_server_stop() {
	PGUSER="${PGUSER:-postgres}" pg_ctl -D "$PGDATA" -m fast -w stop
}

init_files() {
	local f
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
			*.sh) if [ -x "$f" ]; then note "running $f"; "$f"; else note "sourcing $f"; . "$f"; fi ;;
			*.sql) note "running $f"; psql_as_superuser --dbname "$POSTGRES_DB" -f "$f" ;;
			*.sql.gz) note "running $f"; gunzip -c "$f" | psql_as_superuser --dbname "$POSTGRES_DB" ;;
			*.sql.xz) note "running $f"; xzcat "$f" | psql_as_superuser --dbname "$POSTGRES_DB" ;;
			*.sql.zst) note "running $f"; zstd -dc "$f" | psql_as_superuser --dbname "$POSTGRES_DB" ;;
			*/\*) ;;
			*) note "ignoring $f" ;;
		esac
	done
}

main() {
	if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi
	if [ "$1" = postgres ] && ! want_help "$@"; then
		setup_env
		create_dirs
		if [ "$(id -u)" = 0 ]; then
			exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
		fi
		if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
			verify_env
			init_db
			setup_hba
			# The temporary server is needed only for a POSTGRES_DB or init files.
			if [ "$POSTGRES_DB" != postgres ] || compgen -G '/docker-entrypoint-initdb.d/*' >/dev/null; then
				export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
				temp_server_start "$@"
				if [ "$POSTGRES_DB" != postgres ]; then
					psql_as_superuser --dbname postgres --set db="$POSTGRES_DB" <<-'SQL'
						SELECT 'CREATE DATABASE ' || quote_ident(:'db')
						WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
					SQL
				fi
				init_files
				temp_server_stop
				unset PGPASSWORD
			fi
			note "PostgreSQL init process complete; ready for start up."
		else
			note "PostgreSQL Database directory appears to contain a database; skipping initialization"
		fi
	fi
	exec "$@"
}

main "$@"
