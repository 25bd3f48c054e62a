#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Shared by the backup, restore and WAL-archiving scripts: messages,
# failure, connection settings from PG* or a dbr config file, redaction.

dr_log() { printf '%s: %s\n' "${DR_NAME:-dr}" "$*" >&2; }
dr_die() {
    dr_log "error: $*"
    exit 1
}

# Prints a conninfo with password values replaced, for messages.
dr_redact() {
    sed -E "s/(password[[:space:]]*=[[:space:]]*)('[^']*'|[^[:space:]]+)/\1***/g; s#(://[^:/@]+:)[^@]+@#\1***@#"
}

# Reads [database] conninfo from a dbr config file (no ${VAR} expansion:
# use the PG* environment for secrets, as the config docs say).
dr_conninfo_from_config() {
    local file=$1
    [ -r "$file" ] || dr_die "cannot read the config file $file"
    awk '
        /^[[:space:]]*\[/ { in_db = ($0 ~ /^[[:space:]]*\[database\][[:space:]]*$/); next }
        in_db && /^[[:space:]]*conninfo[[:space:]]*=/ {
            sub(/^[[:space:]]*conninfo[[:space:]]*=[[:space:]]*/, "")
            sub(/[[:space:]]+#.*$/, "")
            print
            exit
        }' "$file"
}

# psql/pg_dump connection arguments for database $1: "-d CONNINFO" built
# from --config when given, else the PG* environment does the work.
dr_conn_args() {
    local db=$1
    if [ -n "${DR_CONNINFO:-}" ]; then
        printf '%s\n' "-d" "$DR_CONNINFO dbname=$db"
    else
        printf '%s\n' "-d" "$db"
    fi
}

dr_psql() { # database, psql args...
    local db=$1
    shift
    local args=()
    mapfile -t args < <(dr_conn_args "$db")
    psql -X -q -v ON_ERROR_STOP=1 "${args[@]}" "$@"
}

dr_require() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || dr_die "$tool is not installed (Debian: postgresql-client)"
    done
}

# Per-table row counts and content checksums of database $1, one
# "schema.table rows md5" line per table, sorted: what a restore must match.
dr_table_fingerprint() {
    local db=$1 tables t
    tables=$(dr_psql "$db" -At -c "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename)
        FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
        ORDER BY 1") || return 1
    for t in $tables; do
        dr_psql "$db" -At -F ' ' -c "SELECT '$t', count(*),
            coalesce(md5(string_agg(r::text, E'\\n' ORDER BY r::text)), 'empty') FROM $t r" || return 1
    done
}
