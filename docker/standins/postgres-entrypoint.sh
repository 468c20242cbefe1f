#!/bin/sh
# The official postgres image's start-up, reduced to what docker/compose.yml uses: on first
# start (empty PGDATA) initdb with POSTGRES_USER as superuser and POSTGRES_PASSWORD as its
# password (SCRAM over TCP, no password on the container's own Unix socket), POSTGRES_DB
# created, listening on every address unless `-c listen_addresses=...` says otherwise; then
# `postgres ARGS`.
set -eu

if [ "${1:-postgres}" != postgres ]; then
    exec "$@"
fi
[ "$#" -gt 0 ] && shift

user="${POSTGRES_USER:-postgres}"
database="${POSTGRES_DB:-$user}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "postgres stand-in: POSTGRES_PASSWORD is not set" >&2
        exit 1
    fi
    password_file="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
    initdb --username="$user" --pwfile="$password_file" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$password_file"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    pg_ctl --silent --wait -o "-c listen_addresses=''" start
    if [ "$database" != postgres ]; then
        createdb --username="$user" --maintenance-db=postgres "$database"
    fi
    pg_ctl --silent --wait --mode=fast stop
    echo "postgres stand-in: database $database created for $user" >&2
fi

exec postgres "$@"
