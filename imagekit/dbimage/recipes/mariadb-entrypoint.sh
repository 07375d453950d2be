#!/bin/bash
# imagekit's entrypoint for the MariaDB image built from Debian packages.
# The contract of the official image's docker-entrypoint.sh (written anew):
# a command of options gets `mariadbd` in front; when the datadir holds no
# `mysql` schema it is initialised (root password from MARIADB_ROOT_PASSWORD
# or MYSQL_ROOT_PASSWORD, root@MARIADB_ROOT_HOST (default %), a healthcheck
# user and DATADIR/.my-healthcheck.cnf, MARIADB_DATABASE/USER/PASSWORD,
# /docker-entrypoint-initdb.d); with MARIADB_AUTO_UPGRADE an existing datadir
# gets its system tables upgraded and a missing .my-healthcheck.cnf made
# again; then the command is exec'd. As root it drops to `mysql`.
set -Eeo pipefail

note() { printf '%s [Note] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*"; }
die() { printf '%s [ERROR] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*" >&2; exit 1; }

# MARIADB_X, else MYSQL_X, each also as X_FILE (docker secrets).
env_var() {
	local name="$1" def="${2:-}" v
	for v in "MARIADB_$name" "MYSQL_$name"; do
		if [ -n "${!v:-}" ]; then printf '%s' "${!v}"; return; fi
		local f="${v}_FILE"
		if [ -n "${!f:-}" ]; then cat "${!f}"; return; fi
	done
	printf '%s' "$def"
}

get_config() {
	local conf="$1"; shift
	"$@" --verbose --help 2>/dev/null \
		| awk -v conf="$conf" '$1 == conf && /^[^ \t]/ { sub(/^[^ \t]+[ \t]+/, ""); print; exit }'
}

sql_escape() { local s="${1//\\/\\\\}"; s="${s//\'/\\\'}"; printf '%s' "$s"; }

want_help() {
	local arg
	for arg; do case "$arg" in -'?'|--help|--print-defaults|-V|--version) return 0 ;; esac; done
	return 1
}

setup_env() {
	"$@" --verbose --help >/dev/null 2>&1 || die "mariadbd failed while checking its configuration: $("$@" --verbose --help 2>&1 >/dev/null | tail -5)"
	DATADIR="$(get_config datadir "$@")"; DATADIR="${DATADIR%/}"
	SOCKET="$(get_config socket "$@")"
	PORT="$(get_config port "$@")"
	ROOT_PASSWORD="$(env_var ROOT_PASSWORD)"
	ROOT_HOST="$(env_var ROOT_HOST %)"
	DATABASE="$(env_var DATABASE)"
	DB_USER="$(env_var USER)"
	DB_PASSWORD="$(env_var PASSWORD)"
	ALLOW_EMPTY="$(env_var ALLOW_EMPTY_ROOT_PASSWORD)"
	RANDOM_ROOT="$(env_var RANDOM_ROOT_PASSWORD)"
	AUTO_UPGRADE="$(env_var AUTO_UPGRADE)"
	DATABASE_ALREADY_EXISTS=
	if [ -d "$DATADIR/mysql" ]; then DATABASE_ALREADY_EXISTS=1; fi
}

create_dirs() {
	mkdir -p "$DATADIR"
	if [ "$(id -u)" = 0 ]; then
		find "$DATADIR" \! -user mysql -exec chown mysql: '{}' +
		find "${SOCKET%/*}" -maxdepth 0 \! -user mysql -exec chown mysql: '{}' \; 2>/dev/null || :
	fi
}

# Server options of "$@" (after mariadbd), --defaults-* first (they must be).
split_args() {
	DEFAULTS_ARGS=(); SERVER_ARGS=()
	local a
	for a in "${@:2}"; do
		case "$a" in
			--defaults-file=*|--defaults-extra-file=*|--defaults-group-suffix=*|--no-defaults) DEFAULTS_ARGS+=("$a") ;;
			*) SERVER_ARGS+=("$a") ;;
		esac
	done
}

client() {
	mariadb "${DEFAULTS_ARGS[@]}" --protocol=socket -uroot -hlocalhost --socket="$SOCKET" "$@"
}

temp_server_start() {
	"$1" "${DEFAULTS_ARGS[@]}" "${SERVER_ARGS[@]}" --skip-networking --default-time-zone=SYSTEM \
		--socket="$SOCKET" --wsrep_on=OFF --expire-logs-days=0 --skip-slave-start \
		--loose-innodb_buffer_pool_load_at_startup=0 --skip-ssl "${@:2}" &
	TEMP_PID=$!
	local i
	for i in $(seq 60); do
		if client --database=mysql -e 'SELECT 1' >/dev/null 2>&1 \
			|| client --database=mysql --password="$ROOT_PASSWORD" -e 'SELECT 1' >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$TEMP_PID" 2>/dev/null || die "the temporary server failed to start"
		sleep 1
	done
	die "the temporary server did not start within 60 s"
}

temp_server_stop() {
	kill "$TEMP_PID"
	wait "$TEMP_PID" || :
}

healthcheck_sql() {
	local pw; pw="$(sql_escape "$1")"
	printf "CREATE USER IF NOT EXISTS healthcheck@'127.0.0.1' IDENTIFIED BY '%s';\n" "$pw"
	printf "CREATE USER IF NOT EXISTS healthcheck@'::1' IDENTIFIED BY '%s';\n" "$pw"
	printf "CREATE USER IF NOT EXISTS healthcheck@localhost IDENTIFIED BY '%s';\n" "$pw"
	printf "ALTER USER healthcheck@'127.0.0.1' IDENTIFIED BY '%s';\n" "$pw"
	printf "ALTER USER healthcheck@'::1' IDENTIFIED BY '%s';\n" "$pw"
	printf "ALTER USER healthcheck@localhost IDENTIFIED BY '%s';\n" "$pw"
	printf "GRANT USAGE ON *.* TO healthcheck@'127.0.0.1', healthcheck@'::1', healthcheck@localhost;\n"
}

write_healthcheck_cnf() {
	(umask 077; printf '[mariadb-client]\nport=%s\nsocket=%s\nuser=healthcheck\npassword=%s\n' \
		"$PORT" "$SOCKET" "$1" > "$DATADIR/.my-healthcheck.cnf")
}

random_password() { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32; }

init_database() {
	if [ -z "$ROOT_PASSWORD" ] && [ -z "$ALLOW_EMPTY" ] && [ -z "$RANDOM_ROOT" ]; then
		die "the database is uninitialized and no root password is set: set MARIADB_ROOT_PASSWORD (or MYSQL_ROOT_PASSWORD), MARIADB_ALLOW_EMPTY_ROOT_PASSWORD or MARIADB_RANDOM_ROOT_PASSWORD"
	fi
	if [ -n "$RANDOM_ROOT" ]; then
		ROOT_PASSWORD="$(random_password)"
		note "GENERATED ROOT PASSWORD: $ROOT_PASSWORD"
	fi
	note "Initializing database files"
	mariadb-install-db "${DEFAULTS_ARGS[@]}" --datadir="$DATADIR" --rpm \
		--auth-root-authentication-method=normal --skip-test-db --old-mode=UTF8_IS_UTF8MB3 \
		--default-time-zone=SYSTEM --enforce-storage-engine= --skip-log-bin --expire-logs-days=0 \
		--loose-innodb_buffer_pool_load_at_startup=0 --loose-innodb_buffer_pool_dump_at_shutdown=0 \
		"${SERVER_ARGS[@]}"
	note "Database files initialized; starting a temporary server"
	temp_server_start "$1"
	local hc_pw; hc_pw="$(random_password)"
	local root_pw; root_pw="$(sql_escape "$ROOT_PASSWORD")"
	{
		echo "SET @@SESSION.SQL_LOG_BIN=0;"
		echo "SET @@SESSION.SQL_MODE=REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');"
		if [ -z "${MYSQL_INITDB_SKIP_TZINFO:-}${MARIADB_INITDB_SKIP_TZINFO:-}" ]; then
			mariadb-tzinfo-to-sql --skip-write-binlog /usr/share/zoneinfo 2>/dev/null || :
		fi
		echo "DROP USER IF EXISTS root@'127.0.0.1', root@'::1';"
		echo "EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\\'', @@hostname,'\\'');"
		printf "SET PASSWORD FOR 'root'@'localhost' = PASSWORD('%s');\n" "$root_pw"
		if [ -n "$ROOT_HOST" ] && [ "$ROOT_HOST" != localhost ]; then
			printf "CREATE USER 'root'@'%s' IDENTIFIED BY '%s';\n" "$(sql_escape "$ROOT_HOST")" "$root_pw"
			printf "GRANT ALL ON *.* TO 'root'@'%s' WITH GRANT OPTION;\n" "$(sql_escape "$ROOT_HOST")"
			printf "GRANT PROXY ON ''@'%%' TO 'root'@'%s' WITH GRANT OPTION;\n" "$(sql_escape "$ROOT_HOST")"
		fi
		healthcheck_sql "$hc_pw"
		if [ -n "$DATABASE" ]; then
			printf 'CREATE DATABASE IF NOT EXISTS `%s`;\n' "${DATABASE//\`/\`\`}"
		fi
		if [ -n "$DB_USER" ] && [ -n "$DB_PASSWORD" ]; then
			printf "CREATE USER '%s'@'%%' IDENTIFIED BY '%s';\n" "$(sql_escape "$DB_USER")" "$(sql_escape "$DB_PASSWORD")"
			if [ -n "$DATABASE" ]; then
				printf "GRANT ALL ON \`%s\`.* TO '%s'@'%%';\n" "${DATABASE//\`/\`\`}" "$(sql_escape "$DB_USER")"
			fi
		fi
	} | client --database=mysql --binary-mode
	write_healthcheck_cnf "$hc_pw"
	local f
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
			*.sh) note "running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
			*.sql) note "running $f"; client --password="$ROOT_PASSWORD" ${DATABASE:+--database="$DATABASE"} < "$f" ;;
			*.sql.gz) note "running $f"; gunzip -c "$f" | client --password="$ROOT_PASSWORD" ${DATABASE:+--database="$DATABASE"} ;;
			*/\*) ;;
			*) note "ignoring $f" ;;
		esac
	done
	temp_server_stop
	note "MariaDB init process done. Ready for start up."
}

# An existing datadir: upgrade system tables and make the healthcheck user when asked.
auto_upgrade() {
	local server_version have=""
	server_version="$("$1" --version | sed -n 's/.*Ver \([0-9][0-9.]*\).*/\1/p')"
	[ -f "$DATADIR/mysql_upgrade_info" ] && have="$(tr -d '\0' < "$DATADIR/mysql_upgrade_info")"
	if [ "${have%%-*}" = "$server_version" ] && [ -s "$DATADIR/.my-healthcheck.cnf" ]; then
		return 0
	fi
	note "MARIADB_AUTO_UPGRADE: upgrading system tables / making the healthcheck user"
	temp_server_start "$1" --skip-grant-tables
	if [ "${have%%-*}" != "$server_version" ]; then
		mariadb-upgrade "${DEFAULTS_ARGS[@]}" --protocol=socket -uroot --socket="$SOCKET" --upgrade-system-tables
	fi
	if [ ! -s "$DATADIR/.my-healthcheck.cnf" ]; then
		local hc_pw; hc_pw="$(random_password)"
		{ echo "FLUSH PRIVILEGES;"; healthcheck_sql "$hc_pw"; } | client --database=mysql
		write_healthcheck_cnf "$hc_pw"
	fi
	temp_server_stop
}

main() {
	if [ "${1:0:1}" = '-' ]; then set -- mariadbd "$@"; fi
	case "$1" in mysqld|mariadbd) ;; *) exec "$@" ;; esac
	if want_help "$@"; then exec "$@"; fi
	setup_env "$@"
	create_dirs
	if [ "$(id -u)" = 0 ]; then
		exec setpriv --reuid=mysql --regid=mysql --init-groups "$BASH_SOURCE" "$@"
	fi
	split_args "$@"
	if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
		init_database "$1"
	elif [ -n "$AUTO_UPGRADE" ]; then
		auto_upgrade "$1"
	fi
	exec "$@"
}

main "$@"
