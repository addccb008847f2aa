#!/usr/bin/env bash
# Installs the systems `npm run bench:compare` measures Vigil against: etcd 3.4 and ZooKeeper 3.8
# from Debian (bookworm), plus a headless JRE for ZooKeeper. The benchmark never installs anything
# itself; it skips a system that is missing. Needs root (or sudo) and apt.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# etcd-client brings etcdctl (handy for poking at a cluster by hand; the bench uses the npm client).
$SUDO apt-get install -y -q --no-install-recommends etcd-server etcd-client zookeeper default-jre-headless

# The Debian packages enable system services; the benchmark runs its own members on free loopback
# ports, so stop the packaged daemons to keep them from holding 2379/2181 and eating CPU.
for unit in etcd zookeeper; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$unit" 2>/dev/null; then
    $SUDO systemctl stop "$unit" || true
    $SUDO systemctl disable "$unit" || true
  fi
done

echo "etcd: $(etcd --version 2>/dev/null | head -n 1)"
echo "zookeeper: $(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null)"
echo "java: $(java -version 2>&1 | head -n 1)"
