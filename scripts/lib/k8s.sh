#!/usr/bin/env bash
# Sourced by the set-up scripts (and run by the @smith/testing/kube harness): builds a real
# kube-apiserver and helm from Go module sources, cached outside the repo, once per machine.
#
#   ~/.cache/smith/k8s/v<SMITH_K8S_VERSION>/bin/kube-apiserver
#   ~/.cache/smith/k8s/helm-v<SMITH_HELM_VERSION>/bin/helm
#
# The other components (kube-controller-manager, kube-scheduler, kubelet, kube-proxy) build the
# same way with smith_build_k8s_component <cmd> into the same bin directory; scripts/cluster.sh
# needs them, the apiserver-only tests do not.
#
# There is no Docker here (no kind, no k3s); the Kubernetes tests run a kube-apiserver process
# against their own etcd, the way controller-runtime's envtest does.
#
# k8s.io/kubernetes requires its ~30 staging modules (k8s.io/api, k8s.io/apiserver, ...) at
# v0.0.0 and points them at ./staging with replace directives, which the go command ignores in a
# dependency. So `go install k8s.io/kubernetes/cmd/kube-apiserver@v1.N.M` fails; we build it
# from a small wrapper module that requires k8s.io/kubernetes v1.N.M and replaces each staging
# module with its published v0.N.M. The replace list is generated from kubernetes' own go.mod.
#
# Run directly: `scripts/lib/k8s.sh` (builds both, prints the two paths). Knobs: SMITH_K8S_VERSION,
# SMITH_HELM_VERSION, SMITH_CACHE_DIR (default ~/.cache/smith), SMITH_GO (the go binary).
# Without Go this is not an error for callers that can skip: smith_ensure_k8s_tools returns 2.
SMITH_K8S_VERSION="${SMITH_K8S_VERSION:-1.37.1}"
SMITH_HELM_VERSION="${SMITH_HELM_VERSION:-3.22.0}"
SMITH_CACHE_DIR="${SMITH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/smith}"

smith_k8s_dir() { echo "$SMITH_CACHE_DIR/k8s/v$SMITH_K8S_VERSION"; }
smith_helm_dir() { echo "$SMITH_CACHE_DIR/k8s/helm-v$SMITH_HELM_VERSION"; }

# Finds a Go toolchain: $SMITH_GO when set, else on PATH, else the usual /usr/local/go install.
smith_find_go() {
  if [ -n "${SMITH_GO:-}" ]; then
    [ -x "$SMITH_GO" ] && echo "$SMITH_GO"
  elif command -v go >/dev/null 2>&1; then
    command -v go
  elif [ -x /usr/local/go/bin/go ]; then
    echo /usr/local/go/bin/go
  else
    return 1
  fi
}

# _smith_go_build <out-binary> <module@version> <package> <ldflags> [replace lines...]
# Builds <package> from a throwaway wrapper module; the binary appears atomically at <out-binary>.
# <package> "." builds the main package whose source is in SMITH_GO_BUILD_MAIN instead.
_smith_go_build() {
  local out="$1" modver="$2" pkg="$3" ldflags="$4"
  shift 4
  local go
  go="$(smith_find_go)" || return 2
  local work
  work="$(mktemp -d "${TMPDIR:-/tmp}/smith-gobuild.XXXXXX")" || return 1
  # The wrapper module: a require on the real module plus the generated replaces.
  {
    echo "module smith.local/build"
    echo
    echo "go $("$go" env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')"
    echo
    echo "require ${modver%@*} ${modver#*@}"
    if [ "$#" -gt 0 ]; then
      echo
      echo "replace ("
      printf '\t%s\n' "$@"
      echo ")"
    fi
  } >"$work/go.mod"
  if [ "$pkg" = "." ]; then
    # A main package of our own (SMITH_GO_BUILD_MAIN: its source), built against the module.
    printf '%s\n' "${SMITH_GO_BUILD_MAIN:?}" >"$work/main.go"
  else
    # A blank import keeps the package (and with -mod=mod its whole dependency graph) in the
    # module, so that go.sum gets every checksum the build needs.
    printf 'package build\n\nimport _ "%s"\n' "$pkg" >"$work/tools.go"
  fi
  echo "smith: building $pkg ($modver) with $("$go" version | awk '{print $3}'); this takes minutes the first time" >&2
  local start=$SECONDS
  (
    cd "$work" &&
      GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 "$go" mod tidy >/dev/null &&
      GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 "$go" build -trimpath -ldflags "-s -w $ldflags" -o "$work/out" "$pkg"
  ) || {
    echo "smith: building $pkg failed (wrapper module kept in $work)" >&2
    return 1
  }
  mkdir -p "$(dirname "$out")"
  mv "$work/out" "$out.tmp.$$" && mv "$out.tmp.$$" "$out"
  rm -rf "$work"
  echo "smith: built $out in $((SECONDS - start)) s" >&2
}

# The replace lines for k8s.io/kubernetes v$SMITH_K8S_VERSION: every module its go.mod requires
# at v0.0.0 (the staging modules) => the same module at v0.<minor>.<patch>.
smith_k8s_replaces() {
  local go json gomod staging
  go="$(smith_find_go)" || return 2
  # Downloads the module (its zip too: the build needs it, and a proxy that lists a version may
  # still refuse its zip, which is better reported here than deep inside `go build`).
  json="$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod "$go" mod download -json "k8s.io/kubernetes@v$SMITH_K8S_VERSION")"
  if printf '%s\n' "$json" | grep -q '"Error"'; then
    echo "smith: could not download k8s.io/kubernetes@v$SMITH_K8S_VERSION:" >&2
    printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Error": //p' >&2
    return 1
  fi
  gomod="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [ -f "$gomod" ] || { echo "smith: could not find k8s.io/kubernetes@v$SMITH_K8S_VERSION's go.mod" >&2; return 1; }
  staging="v0.${SMITH_K8S_VERSION#*.}"
  awk -v v="$staging" '
    /^require[[:space:]]*\(/ { inreq = 1; next }
    inreq && /^\)/ { inreq = 0; next }
    inreq && $2 == "v0.0.0" { print $1 " => " $1 " " v }
  ' "$gomod"
}

# smith_build_k8s_component <cmd> [version]: k8s.io/kubernetes/cmd/<cmd> at [version] (default
# $SMITH_K8S_VERSION) into ~/.cache/smith/k8s/v<version>/bin/<cmd>.
smith_build_k8s_component() {
  local SMITH_K8S_VERSION="${2:-$SMITH_K8S_VERSION}"
  local cmd="$1" bin
  bin="$(smith_k8s_dir)/bin/$cmd"
  [ -x "$bin" ] && return 0
  local list replaces=()
  list="$(smith_k8s_replaces)" || return 1
  [ -n "$list" ] || { echo "smith: found no staging modules in k8s.io/kubernetes's go.mod" >&2; return 1; }
  mapfile -t replaces <<<"$list"
  local minor="${SMITH_K8S_VERSION#*.}"
  minor="${minor%%.*}"
  # The version the binary reports on /version (else v0.0.0-master).
  local ldflags="-X k8s.io/component-base/version.gitVersion=v$SMITH_K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  _smith_go_build "$bin" "k8s.io/kubernetes@v$SMITH_K8S_VERSION" "k8s.io/kubernetes/cmd/$cmd" "$ldflags" "${replaces[@]}"
}

smith_build_kube_apiserver() { smith_build_k8s_component kube-apiserver; }

smith_build_helm() {
  local bin go json gomod minor
  bin="$(smith_helm_dir)/bin/helm"
  [ -x "$bin" ] && return 0
  go="$(smith_find_go)" || return 2
  # As helm's Makefile does: the Kubernetes version helm assumes without a cluster (`helm
  # template`, `helm lint`, a chart's kubeVersion) is that of the client-go it was built with;
  # without these flags it is v1.20.
  json="$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod "$go" mod download -json "helm.sh/helm/v3@v$SMITH_HELM_VERSION")" || return 1
  gomod="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  minor="$(awk '$1 == "k8s.io/client-go" { split($2, v, "."); print v[2]; exit }' "$gomod")"
  [ -n "$minor" ] || { echo "smith: no k8s.io/client-go in helm's go.mod ($gomod)" >&2; return 1; }
  local ldflags="-X helm.sh/helm/v3/internal/version.version=v$SMITH_HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  ldflags="$ldflags -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
  ldflags="$ldflags -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
  _smith_go_build "$bin" "helm.sh/helm/v3@v$SMITH_HELM_VERSION" helm.sh/helm/v3/cmd/helm "$ldflags"
}

# Builds whatever is missing. Returns 2 (and says how to get Go) when there is no Go toolchain,
# so that a caller may go on without the Kubernetes tests; 1 when a build fails.
smith_ensure_k8s_tools() {
  if [ -x "$(smith_k8s_dir)/bin/kube-apiserver" ] && [ -x "$(smith_helm_dir)/bin/helm" ]; then
    return 0
  fi
  if ! smith_find_go >/dev/null; then
    echo "smith: Go is not installed: the Kubernetes tests (real kube-apiserver + helm) will be skipped. Install Go >= 1.26 (https://go.dev/dl/) to run them; the first run builds kube-apiserver and helm into $SMITH_CACHE_DIR/k8s (about 13 minutes on 2 cores)." >&2
    return 2
  fi
  # One build at a time per machine (test files start in parallel, and so may two checkouts);
  # the loser of the lock finds the binaries built.
  mkdir -p "$SMITH_CACHE_DIR/k8s"
  (
    if command -v flock >/dev/null 2>&1; then
      exec 9>"$SMITH_CACHE_DIR/k8s/.build.lock"
      flock 9
    fi
    # Serial: each build already uses every core, and both at once need more memory.
    smith_build_kube_apiserver || exit 1
    smith_build_helm || exit 1
  )
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  smith_ensure_k8s_tools
  echo "$(smith_k8s_dir)/bin/kube-apiserver"
  echo "$(smith_helm_dir)/bin/helm"
fi
