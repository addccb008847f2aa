#!/usr/bin/env bash
# Builds, without any container registry, a stand-in for the official Node base image that the
# Dockerfile names (FROM node:20-bookworm-slim), for machines that cannot reach Docker Hub (CI):
# the host's node binary and the shared libraries it links, busybox-static from the Debian mirror
# (sh, env, ln, …), and with --with-npm the host's npm. With --npm-cache DIR it also carries a
# copy of that npm cache and an npmrc that prefers it (`prefer-offline`), so that the
# Dockerfile's `npm ci` finds what the host's `npm ci` already fetched and goes to the registry
# only for what is missing. The image is `docker import`ed from a root file system.
#
#   scripts/docker/make-base-image.sh IMAGE[:TAG] [--with-npm] [--npm-cache DIR]
#
# Adapted from the shared reference recipe (reference/docker/make-node-base-image.sh). Needs
# root (or docker access), apt-get (for `apt-get download`), ldd and a running Docker daemon.
set -euo pipefail

image=${1:?usage: make-base-image.sh IMAGE[:TAG] [--with-npm] [--npm-cache DIR]}
shift
with_npm=false
npm_cache=
while [ $# -gt 0 ]; do
  case $1 in
    --with-npm) with_npm=true ;;
    --npm-cache) npm_cache=${2:?--npm-cache needs a directory}; shift ;;
    *) echo "make-base-image.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$npm_cache" ] && [ "$with_npm" != true ]; then
  echo "make-base-image.sh: --npm-cache needs --with-npm" >&2
  exit 2
fi

rootfs=$(mktemp -d /tmp/vigil-rootfs.XXXXXX)
debs=$(mktemp -d /tmp/vigil-debs.XXXXXX)
cleanup() { rm -rf "$rootfs" "$debs"; }
trap cleanup EXIT
# apt-get download drops privileges to _apt, which must be able to write here.
if id _apt >/dev/null 2>&1; then chown _apt "$debs"; fi

# A binary and every shared library ldd says it loads, at the same paths.
copy_with_libs() {
  local bin=$1 dest=$2
  install -D -m755 "$bin" "$rootfs$dest"
  ldd "$bin" | awk '/=>/ {print $3} /ld-linux/ {print $1}' | while read -r lib; do
    [ -e "$lib" ] || continue
    install -D -m755 "$(readlink -f "$lib")" "$rootfs$lib"
  done
}

node_bin=$(readlink -f "$(command -v node)")
copy_with_libs "$node_bin" /usr/local/bin/node

# busybox-static from the Debian mirror; apt-get download does not install it on the host.
# A machine whose package lists were never fetched gets them first.
(cd "$debs" && { apt-get download -q busybox-static >/dev/null 2>&1 || { apt-get update -qq && apt-get download -q busybox-static >/dev/null; }; } \
  && dpkg-deb -x busybox-static_*.deb x)
install -D -m755 "$debs/x/bin/busybox" "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
  [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
done

if [ "$with_npm" = true ]; then
  npm_dir="$(npm root -g)/npm"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  if [ -n "$npm_cache" ]; then
    # Only the content-addressed cache (tarballs and metadata), not logs or npx installs.
    mkdir -p "$rootfs/var/cache/npm"
    cp -a "$npm_cache/_cacache" "$rootfs/var/cache/npm/"
    mkdir -p "$rootfs/usr/local/etc"
    printf 'cache=/var/cache/npm\nprefer-offline=true\nupdate-notifier=false\nfund=false\naudit=false\n' > "$rootfs/usr/local/etc/npmrc"
    # What the cache lacks comes from the registry, trusted as the host trusts it (a TLS-inspecting
    # proxy's CA included).
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
      install -D -m644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
      echo 'cafile=/etc/ssl/certs/ca-certificates.crt' >> "$rootfs/usr/local/etc/npmrc"
    fi
  fi
fi

mkdir -p "$rootfs"/{etc,tmp,root,home/node,usr/bin} && chmod 1777 "$rootfs/tmp"
ln -s /bin/env "$rootfs/usr/bin/env"   # for '#!/usr/bin/env node' shebangs
# The official image's user: node, uid and gid 1000, home /home/node.
printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/sh\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
chown 1000:1000 "$rootfs/home/node"
# Peers are found by name (docker compose service names): files, then Docker's DNS.
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$rootfs/etc/nsswitch.conf"

tar -C "$rootfs" --numeric-owner -c . | docker import \
  -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  -c 'CMD ["node"]' - "$image" >/dev/null
echo "$image: node $("$node_bin" --version)$([ "$with_npm" = true ] && echo ", npm $(npm --version)")$([ -n "$npm_cache" ] && echo ", offline npm cache")"
