#!/bin/bash
# healthcheck.sh as the official MariaDB image has it, for the checks the
# Trove agent and most operators use (written anew):
#   healthcheck.sh [--defaults-file F | --defaults-extra-file F] [--su-mysql]
#                  --connect --innodb_initialized --innodb_buffer_pool_loaded --mariadbupgrade
# Exits 0 when every named check passes. Without a defaults file it uses
# /var/lib/mysql/.my-healthcheck.cnf when present.
set -eo pipefail

defaults=()
checks=()
while [ $# -gt 0 ]; do
	case "$1" in
		--defaults-file=*|--defaults-extra-file=*|--defaults-group-suffix=*|--no-defaults) defaults+=("$1") ;;
		--defaults-file|--defaults-extra-file|--defaults-group-suffix) defaults+=("$1=$2"); shift ;;
		--su-mysql|--su=*|--datadir=*) ;;
		--*) checks+=("${1#--}") ;;
		*) echo "healthcheck.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
if [ ${#defaults[@]} -eq 0 ] && [ -s /var/lib/mysql/.my-healthcheck.cnf ]; then
	defaults=(--defaults-extra-file=/var/lib/mysql/.my-healthcheck.cnf)
fi

query() { mariadb "${defaults[@]}" --skip-column-names --batch -e "$1"; }

check_connect() {
	# the server accepts connections and networking is on (TCP clients can come)
	[ "$(query 'SELECT @@skip_networking')" = 0 ]
}
check_innodb_initialized() {
	[ "$(query "SELECT 1 FROM information_schema.ENGINES WHERE engine='innodb' AND support IN ('YES', 'DEFAULT', 'ENABLED')")" = 1 ]
}
check_innodb_buffer_pool_loaded() {
	query "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='Innodb_buffer_pool_load_status'" \
		| grep -q '^Buffer pool(s) load completed'
}
check_mariadbupgrade() {
	local datadir info version
	datadir="$(query 'SELECT @@datadir')"
	info="$(tr -d '\0' < "${datadir%/}/mysql_upgrade_info" 2>/dev/null || :)"
	version="$(query 'SELECT VERSION()')"
	[ "${info%%-*}" = "${version%%-*}" ]
}

[ ${#checks[@]} -gt 0 ] || checks=(connect)
for c in "${checks[@]}"; do
	if ! declare -F "check_$c" >/dev/null; then
		echo "healthcheck.sh: unsupported check --$c" >&2
		exit 2
	fi
	if ! "check_$c"; then
		echo "healthcheck $c failed" >&2
		exit 1
	fi
done
