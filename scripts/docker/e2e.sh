#!/usr/bin/env bash
# The Docker end-to-end (issue 11; docs/docker.md): builds the image from the Dockerfile, runs
# docker-compose.yml's three-node cluster, and drives it from the host through the SDK
# (scripts/docker/e2e-driver.ts): writes and reads; the leader killed, another paused, both back,
# every acknowledged write on all three; `compose down` and `up` on the same volumes; `docker
# stop` of the leader hands leadership over without an election timeout; then the same volumes
# with TLS on (docker-compose.tls.yml, certificates from `vigil certs`), served over WSS and HTTPS.
#
#   bash scripts/docker/e2e.sh
#
# Exit status: 0 passed; 77 this machine cannot run Docker (one line says why); else failed.
# It installs Debian's docker.io and docker-compose when they are missing (root), starts its own
# dockerd (by PID, with its data under a temporary directory, stopped at the end) unless one is
# running, and builds the Dockerfile's base image locally when the daemon lacks it, because no
# container registry may be reachable (make-base-image.sh). Everything it made — containers,
# networks, volumes, images, the daemon and its data — is removed on exit, failure included.
# Every step has a deadline, and the whole run at most `e2eTimeoutS`.
set -euo pipefail
cd "$(dirname "$0")/../.."

readonly skipStatus=77
readonly e2eTimeoutS=600
started=$SECONDS
say() { printf '== docker e2e [%3ds] %s\n' "$((SECONDS - started))" "$*"; }
skip() {
  echo "docker e2e: SKIPPED, this machine cannot run Docker: $*"
  exit "$skipStatus"
}

# ---- what it made, for the cleanup ----
work=
dockerd_pid=
watchdog_pid=
step_pid=
compose_up=false
made_base=false
app_image=vigil-e2e:$$
project=vigil-e2e-$$
export COMPOSE_PROJECT_NAME=$project VIGIL_IMAGE=$app_image

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  [ -n "$step_pid" ] && kill -TERM "$step_pid" 2>/dev/null && wait "$step_pid" 2>/dev/null
  if [ "$compose_up" = true ]; then
    if [ "$status" -ne 0 ] && [ "$status" -ne "$skipStatus" ]; then
      say "failed (status $status): the nodes' last log lines"
      timeout 30 "${compose[@]}" logs --no-color --tail 40 2>&1 | cut -c1-400
    fi
    say "cleaning up: docker compose down -v"
    timeout 60 "${compose[@]}" down -v --remove-orphans -t 10 >/dev/null 2>&1
  fi
  if [ -n "$dockerd_pid" ]; then
    say "cleaning up: stopping dockerd (pid $dockerd_pid)"
    # Our own daemon: its data root goes with it, images and volumes included.
    kill -TERM "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
  else
    timeout 60 docker rmi -f "$app_image" >/dev/null 2>&1
    [ "$made_base" = true ] && timeout 60 docker rmi "$base_image" >/dev/null 2>&1
  fi
  if [ -n "$work" ]; then
    # Mounts a killed daemon may have left under its data root, deepest first.
    awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$work"
  fi
  [ -n "$watchdog_pid" ] && kill "$watchdog_pid" 2>/dev/null
  say "done (status $status) after $((SECONDS - started)) s"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 143' INT TERM

# A watchdog: past the deadline the run is stopped, and the trap cleans up.
( sleep "$e2eTimeoutS"; echo "docker e2e: over ${e2eTimeoutS} s, stopping" >&2; kill -TERM $$ ) 2>/dev/null &
watchdog_pid=$!

# bounded SECONDS COMMAND…: the command with its own deadline, run so that the watchdog's signal
# interrupts the wait for it (bash runs a trap only once a foreground command has finished).
bounded() {
  local seconds=$1
  shift
  timeout "$seconds" "$@" &
  step_pid=$!
  local status=0
  wait "$step_pid" || status=$?
  step_pid=
  return "$status"
}

# ---- the machine ----
[ "$(uname -s)" = Linux ] || skip "it is not Linux ($(uname -s))"
daemon_running() { timeout 20 docker info >/dev/null 2>&1; }
have_compose() { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; }
if ! command -v docker >/dev/null 2>&1 || ! have_compose || { ! daemon_running && ! command -v dockerd >/dev/null 2>&1; }; then
  [ "$(id -u)" -eq 0 ] || skip "docker, dockerd or docker-compose is missing, and installing them needs root"
  command -v apt-get >/dev/null 2>&1 || skip "docker is missing and there is no apt-get to install docker.io"
  say "installing Debian's docker.io and docker-compose"
  { bounded 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive bounded 600 apt-get install -y -qq docker.io docker-compose >/dev/null; } \
    || skip "apt-get install docker.io docker-compose failed"
fi
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi

work=$(mktemp -d /var/tmp/vigil-docker-e2e.XXXXXX)
if daemon_running; then
  say "using the running Docker daemon"
else
  [ "$(id -u)" -eq 0 ] || skip "no Docker daemon answers (docker info), and starting one needs root"
  export DOCKER_HOST="unix://$work/docker.sock"
  dockerd --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
    --host "$DOCKER_HOST" >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 60); do
    daemon_running && break
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.5
  done
  daemon_running || skip "dockerd did not start: $(grep -v '^$' "$work/dockerd.log" | tail -1 | cut -c1-300)"
  say "started dockerd (pid $dockerd_pid, data under $work)"
fi
say "$(docker version --format 'docker {{.Server.Version}}' 2>/dev/null), $("${compose[@]}" version --short 2>/dev/null || echo compose)"

# ---- images ----
base_image=$(awk 'toupper($1) == "FROM" { print $2 }' Dockerfile | sort -u)
[ "$(wc -l <<<"$base_image")" -eq 1 ] || { echo "docker e2e: the Dockerfile's stages use different bases: $base_image" >&2; exit 1; }
if timeout 30 docker image inspect "$base_image" >/dev/null 2>&1; then
  say "base image $base_image is present"
else
  say "no registry: building a stand-in for $base_image from this machine's node and npm"
  bounded 300 bash scripts/docker/make-base-image.sh "$base_image" --with-npm --npm-cache "$(npm config get cache)"
  made_base=true
fi
probe=$(timeout 60 docker run --rm "$base_image" node -e 'process.stdout.write("ok")' 2>&1) \
  || skip "a container cannot run here: $(tail -1 <<<"$probe" | cut -c1-300)"

# BuildKit (parallel stages) where the CLI can use it: a CLI older than 23 has it built in, a newer
# one needs the buildx plugin; else the classic builder, which is what docker-compose 1.29 uses.
client_major=$(docker version -f '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)
if docker buildx version >/dev/null 2>&1 || [ "${client_major:-99}" -lt 23 ] 2>/dev/null; then builder=BuildKit; export DOCKER_BUILDKIT=1
else builder='the classic builder'; export DOCKER_BUILDKIT=0; fi
say "building $app_image from the Dockerfile with $builder"
build_started=$SECONDS
if ! bounded 600 docker build --force-rm -t "$app_image" . >"$work/build.log" 2>&1; then
  tail -40 "$work/build.log"
  echo "docker e2e: docker build failed" >&2
  exit 1
fi
image_bytes=$(docker image inspect -f '{{.Size}}' "$app_image")
base_bytes=$(docker image inspect -f '{{.Size}}' "$base_image")
say "built in $((SECONDS - build_started)) s: $((image_bytes / 1000000)) MB, of which $(((image_bytes - base_bytes) / 1000000)) MB on top of the base image"

# ---- the cluster ----
# Free loopback ports for the three client ports and the three ZooKeeper ports (8181-8183 and
# 2181-2183 may be taken on a developer's machine).
read -r p1 p2 p3 z1 z2 z3 < <(node -e '
  const net = require("node:net");
  const one = () => new Promise((resolve) => { const s = net.createServer().listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); }); });
  (async () => console.log((await Promise.all([one(), one(), one(), one(), one(), one()])).join(" ")))();')
export VIGIL_NODE1_PORT=$p1 VIGIL_NODE2_PORT=$p2 VIGIL_NODE3_PORT=$p3
export VIGIL_NODE1_ZOOKEEPER_PORT=$z1 VIGIL_NODE2_ZOOKEEPER_PORT=$z2 VIGIL_NODE3_ZOOKEEPER_PORT=$z3
export VIGIL_E2E_PORTS="1=$p1,2=$p2,3=$p3" VIGIL_E2E_STATE="$work/state.json"

# The containers by compose's labels (both compose versions set them), as 1=<id>,2=<id>,3=<id>.
containers() {
  local ids=() id n
  for n in 1 2 3; do
    id=$(timeout 30 docker ps -aq --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=node$n")
    [ -n "$id" ] || { echo "docker e2e: no container for node$n" >&2; return 1; }
    ids+=("$n=$id")
  done
  VIGIL_E2E_CONTAINERS=$(IFS=,; echo "${ids[*]}")
  export VIGIL_E2E_CONTAINERS
}
up() { bounded 120 "${compose[@]}" up -d --no-build "$@" >>"$work/compose.log" 2>&1 || { cat "$work/compose.log"; return 1; }; }
driver() {
  say "phase $1"
  bounded 200 node --import tsx scripts/docker/e2e-driver.ts "$1"
}

# The SDK the driver imports is the built one; `vigil certs` (the TLS phase) is the CLI's.
bounded 300 npx tsc -b packages/client packages/cli

# Started in reverse order, node3 alone first: the cluster forms whatever the order.
compose_up=true
say "docker compose up: node3 first, then the others (client ports $p1 $p2 $p3)"
up node3
sleep 2
up
containers

# Inside a container: node is PID 1 (no shell in between), the user is not root, and vigil is on
# the PATH for `compose exec` (as in `docker compose exec node1 vigil shell`).
node1=$(cut -d, -f1 <<<"$VIGIL_E2E_CONTAINERS" | cut -d= -f2)
pid1=$(timeout 30 docker exec "$node1" cat /proc/1/cmdline | tr '\0' ' ')
[[ $pid1 == "node /app/packages/cli/bin/vigil.js server"* ]] || { echo "docker e2e: PID 1 is '$pid1', not node" >&2; exit 1; }
uid=$(timeout 30 docker exec "$node1" id -u)
[ "$uid" != 0 ] || { echo "docker e2e: the node runs as root" >&2; exit 1; }
timeout 60 "${compose[@]}" exec -T node1 vigil --help >/dev/null || { echo "docker e2e: vigil is not on the PATH in the container" >&2; exit 1; }
say "PID 1: $pid1(uid $uid); vigil on the PATH"

# Each member's ZooKeeper port answers ZooKeeper's health word through its published port.
for z in $z1 $z2 $z3; do
  bounded 60 node -e '
    const net = require("node:net");
    const port = Number(process.argv[1]);
    const deadline = Date.now() + 30000;
    const ask = () => { const s = net.connect(port, "127.0.0.1"); let out = "";
      s.on("connect", () => s.write("ruok")); s.on("data", (d) => (out += d));
      s.on("close", () => { if (out === "imok") process.exit(0); if (Date.now() > deadline) { console.error(`no imok from ${port}: "${out}"`); process.exit(1); } setTimeout(ask, 200); });
      s.on("error", () => undefined); };
    ask();' "$z"
done
say "ZooKeeper ports $z1 $z2 $z3: imok"

driver form
driver chaos

say "docker compose down (volumes kept), then up"
bounded 120 "${compose[@]}" down -t 10 >>"$work/compose.log" 2>&1
up
containers
driver durable

driver handover

# TLS: the same volumes under docker-compose.tls.yml, with certificates from `vigil certs`.
say "docker compose down, then up with docker-compose.tls.yml"
bounded 120 "${compose[@]}" down -t 10 >>"$work/compose.log" 2>&1
certs="$work/certs"
bounded 60 node packages/cli/bin/vigil.js certs --out "$certs" --nodes 3 --hosts 127.0.0.1,localhost,node1,node2,node3 >/dev/null
# The nodes run as uid 1000 and key files are mode 0600 (docs/docker.md).
chown -R 1000:1000 "$certs" 2>/dev/null || chmod a+r "$certs"/*.pem
export VIGIL_CERTS_DIR=$certs VIGIL_E2E_CA=$certs/ca.pem
compose+=(-f docker-compose.yml -f docker-compose.tls.yml)
up
containers
driver tls
say "passed"
