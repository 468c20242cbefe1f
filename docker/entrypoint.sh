#!/bin/sh
# The container's entrypoint: `memoryapp-entrypoint ROLE [EXTRA ARGS...]`.
#
# Roles: web, worker-chat, worker-memory, beat (the services of docker/compose.yml), and
# `manage ARGS` for one management command. Anything else is executed as given, so
# `docker compose run --rm web sh` still works. Every role waits for the database first;
# workers and beat also wait until the web container has applied the migrations, so they never
# run against a half-migrated schema.
set -eu

export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-memoryapp.settings}"

role="${1:-web}"
if [ "$#" -gt 0 ]; then
    shift
fi

log() {
    echo "[entrypoint] $*" >&2
}

# Through Django's own settings, so DATABASE_URL_FILE and friends are honoured.
wait_for_database() {
    python - "${DATABASE_WAIT_SECONDS:-60}" <<'PY'
import sys
import time

from django.db import connection
from django.db.utils import OperationalError

limit = float(sys.argv[1])
deadline = time.monotonic() + limit
while True:
    try:
        connection.ensure_connection()
        break
    except OperationalError as exc:
        if time.monotonic() > deadline:
            sys.exit(f"[entrypoint] database not reachable after {limit:.0f}s: {exc}")
        time.sleep(1)
PY
}

wait_for_migrations() {
    deadline=$(( $(date +%s) + ${MIGRATION_WAIT_SECONDS:-300} ))
    until python manage.py migrate --check >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "migrations still not applied after ${MIGRATION_WAIT_SECONDS:-300}s; is web running?"
            exit 1
        fi
        sleep 3
    done
}

celery_worker() {
    queue="$1"
    shift
    exec celery -A memoryapp worker --queues "$queue" --hostname "$queue@%h" --pool solo \
        --without-mingle --without-gossip \
        --loglevel "${LOG_LEVEL:-INFO}" "$@"
}

case "$role" in
    web)
        wait_for_database
        python manage.py migrate --noinput
        # While no account exists, print the one-time link that creates the owner.
        python manage.py owner_setup_link --base-url "${SITE_URL:-http://localhost:8000}"
        # X-Forwarded-For names the client only when a proxy of ours sets it; otherwise any
        # client could claim any address (127.0.0.1 included) in it.
        case "$(echo "${BEHIND_HTTPS_PROXY:-false}" | tr '[:upper:]' '[:lower:]')" in
            true | 1 | yes | on) set -- --proxy-headers "$@" ;;
        esac
        # DAPHNE_BIND / DAPHNE_PORT: where it listens in the container (with host networking,
        # on the host: docker/compose.host.yml sets 127.0.0.1 and WEB_PORT).
        exec daphne -b "${DAPHNE_BIND:-0.0.0.0}" -p "${DAPHNE_PORT:-8000}" "$@" \
            memoryapp.asgi:application
        ;;
    worker-chat)
        wait_for_database
        wait_for_migrations
        celery_worker "${CHAT_QUEUE:-chat}" "$@"
        ;;
    worker-memory)
        wait_for_database
        wait_for_migrations
        celery_worker "${MEMORY_QUEUE:-memory}" "$@"
        ;;
    beat)
        wait_for_database
        wait_for_migrations
        exec celery -A memoryapp beat --schedule /data/celerybeat-schedule \
            --loglevel "${LOG_LEVEL:-INFO}" "$@"
        ;;
    manage)
        wait_for_database
        exec python manage.py "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
