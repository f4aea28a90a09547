#!/usr/bin/env bash
# Sourced by scripts/images.sh and the image tests: builds Smith's images with a local Docker
# engine, from a base image made here when no image registry is reachable.
#
#   smith-node:<node version>   Debian bookworm (debootstrap, minbase) + Node.js and npm from the
#                               npm registry, as scripts/lib/node.sh provisions them. Users build
#                               on the public node:24-bookworm-slim instead (NODE_IMAGE).
#   smith:<tag>                 the API + scheduler image (infra/docker/Dockerfile)
#   smith-replica:<tag>         the replica image (infra/docker/Dockerfile.replica)
#   smith-etcd:<tag>            etcd for the chart's StatefulSet (infra/docker/Dockerfile.etcd)
#
# The debootstrap tree is cached as a tarball under ~/.cache/smith/images, built once per machine.
source "$(dirname "${BASH_SOURCE[0]}")/node.sh"
source "$(dirname "${BASH_SOURCE[0]}")/k8s.sh"

SMITH_IMAGES_DIR="${SMITH_IMAGES_DIR:-$SMITH_CACHE_DIR/images}"
SMITH_NPM_VERSION="${SMITH_NPM_VERSION:-11.19.1}"
SMITH_IMAGE_TAG="${SMITH_IMAGE_TAG:-dev}"
# The chart's default etcd (values.yaml etcd.image.tag).
SMITH_ETCD_IMAGE_VERSION="${SMITH_ETCD_IMAGE_VERSION:-3.6.16}"

# Docker's own engine: started here when installed and not running (nothing starts services on
# these machines), installed with apt-get when root.
smith_ensure_docker() {
  if docker info >/dev/null 2>&1; then return 0; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "smith: no Docker engine; install one (sudo apt-get install -y docker.io) and start it" >&2
      return 2
    fi
    echo "smith: installing Debian's docker.io" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null || {
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
    } || return 1
  fi
  [ "$(id -u)" -eq 0 ] || { echo "smith: dockerd is not running; start it" >&2; return 2; }
  mkdir -p "$SMITH_IMAGES_DIR"
  echo "smith: starting dockerd (log: $SMITH_IMAGES_DIR/dockerd.log)" >&2
  nohup dockerd >"$SMITH_IMAGES_DIR/dockerd.log" 2>&1 &
  local i
  for i in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "smith: dockerd did not come up; see $SMITH_IMAGES_DIR/dockerd.log" >&2
  return 1
}

# The Debian mirror apt already uses (deb822 or one-line sources), for debootstrap.
smith_debian_mirror() {
  local uri
  uri="$(sed -n 's/^URIs:[[:space:]]*\(http[^[:space:]]*debian\)\/\{0,1\}$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)"
  [ -n "$uri" ] || uri="$(sed -n 's/^deb[[:space:]]\+\(http[^[:space:]]*debian\)\/\{0,1\}[[:space:]]\+bookworm[[:space:]].*/\1/p' /etc/apt/sources.list 2>/dev/null | head -1)"
  echo "${uri:-http://deb.debian.org/debian}"
}

# smith-base:bookworm, imported from a debootstrap tree (cached tarball).
smith_base_image() {
  docker image inspect smith-base:bookworm >/dev/null 2>&1 && return 0
  local tarball="$SMITH_IMAGES_DIR/bookworm-minbase.tar"
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null || return 1
    local root
    root="$(mktemp -d "${TMPDIR:-/tmp}/smith-rootfs.XXXXXX")"
    echo "smith: debootstrap bookworm (minbase) from $(smith_debian_mirror); about a minute" >&2
    debootstrap --variant=minbase bookworm "$root" "$(smith_debian_mirror)" >"$SMITH_IMAGES_DIR/debootstrap.log" 2>&1 || {
      echo "smith: debootstrap failed; see $SMITH_IMAGES_DIR/debootstrap.log" >&2
      rm -rf "$root"
      return 1
    }
    # apt's lists and caches are not part of an image.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
    tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  docker import "$tarball" smith-base:bookworm >/dev/null
}

# smith-node:<version>: the base + Node.js and npm from the npm registry.
smith_node_image() {
  local image="smith-node:$SMITH_NODE_VERSION"
  docker image inspect "$image" >/dev/null 2>&1 && { echo "$image"; return 0; }
  smith_base_image || return 1
  local ctx
  ctx="$(mktemp -d "${TMPDIR:-/tmp}/smith-node-image.XXXXXX")"
  mkdir -p "$ctx/node/bin" "$ctx/node/lib/node_modules"
  # The node binary: the same package scripts/lib/node.sh provisions the host from.
  local arch
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) return 1 ;; esac
  (cd "$ctx" && npm pack --silent "node-linux-$arch@$SMITH_NODE_VERSION" "npm@$SMITH_NPM_VERSION" >/dev/null) || {
    rm -rf "$ctx"
    return 1
  }
  mkdir "$ctx/x" && tar -xzf "$ctx"/node-linux-*.tgz -C "$ctx/x"
  cp "$ctx/x/package/bin/node" "$ctx/node/bin/node"
  mkdir "$ctx/node/lib/node_modules/npm" && tar -xzf "$ctx"/npm-*.tgz -C "$ctx/node/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ctx/node/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ctx/node/bin/npx"
  rm -rf "$ctx/x" "$ctx"/*.tgz
  cat >"$ctx/Dockerfile" <<'EOF'
FROM smith-base:bookworm
COPY node/ /usr/local/
RUN node --version && npm --version
EOF
  docker build -q -t "$image" "$ctx" >/dev/null || {
    rm -rf "$ctx"
    return 1
  }
  rm -rf "$ctx"
  echo "$image"
}

# smith_build_image <Dockerfile> <image:tag> [extra docker build args...]
smith_build_image() {
  local dockerfile="$1" image="$2"
  shift 2
  local node_image
  node_image="$(smith_node_image)" || return 1
  # Behind a TLS-inspecting proxy (as on these machines) npm in the build must trust its CA too:
  # the CAs added to this machine the Debian way (/usr/local/share/ca-certificates), which are
  # public certificates, passed as a build argument.
  local ca=() pems=""
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    pems="$(cat /usr/local/share/ca-certificates/*.crt)"
    ca=(--build-arg "EXTRA_CA_CERTS=$pems")
  fi
  echo "smith: building $image from $dockerfile on $node_image" >&2
  # The legacy builder: Debian's docker.io has no buildx, and these Dockerfiles need no BuildKit.
  DOCKER_BUILDKIT=0 docker build --network host -f "$dockerfile" -t "$image" \
    --build-arg "NODE_IMAGE=$node_image" "${ca[@]}" "$@" . >&2
}

# smith-etcd: the etcd server built from its Go module (cached), on the base image.
smith_build_etcd_image() {
  local bin="$SMITH_CACHE_DIR/etcd/v$SMITH_ETCD_IMAGE_VERSION/bin/etcd"
  if [ ! -x "$bin" ]; then
    _smith_go_build "$bin" "go.etcd.io/etcd/server/v3@v$SMITH_ETCD_IMAGE_VERSION" go.etcd.io/etcd/server/v3 "" || return $?
  fi
  smith_base_image || return 1
  local ctx
  ctx="$(mktemp -d "${TMPDIR:-/tmp}/smith-etcd-image.XXXXXX")"
  cp "$bin" "$ctx/etcd"
  echo "smith: building smith-etcd:$SMITH_IMAGE_TAG (etcd $SMITH_ETCD_IMAGE_VERSION)" >&2
  docker build -q -f infra/docker/Dockerfile.etcd -t "smith-etcd:$SMITH_IMAGE_TAG" \
    --build-arg BASE_IMAGE=smith-base:bookworm "$ctx" >/dev/null
  local status=$?
  rm -rf "$ctx"
  return $status
}

# All images, tagged $SMITH_IMAGE_TAG. Returns 2 when there is no Docker engine to be had.
smith_build_images() {
  smith_ensure_docker || return $?
  smith_build_image infra/docker/Dockerfile "smith:$SMITH_IMAGE_TAG" &&
    smith_build_image infra/docker/Dockerfile.replica "smith-replica:$SMITH_IMAGE_TAG" &&
    smith_build_etcd_image
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  cd "$(dirname "${BASH_SOURCE[0]}")/../.."
  smith_build_images
  docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^smith(-replica|-etcd)?:'"$SMITH_IMAGE_TAG"' '
fi
