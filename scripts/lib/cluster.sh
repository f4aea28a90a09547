#!/usr/bin/env bash
# Sourced by scripts/cluster.sh and the cluster test: a one-node Kubernetes cluster as processes on
# this machine (see scripts/cluster.sh for what runs). Every file lives under $SMITH_CLUSTER_DIR;
# `down` removes it and every trace outside it.
source "$(dirname "${BASH_SOURCE[0]}")/images.sh"

SMITH_CLUSTER_DIR="${SMITH_CLUSTER_DIR:-$SMITH_CACHE_DIR/cluster}"
# containerd's root (its content store and unpacked image layers) is a cache kept across
# up/down, like the binaries: importing the images anew takes minutes (the replica image is
# 1.7 GB). `down` deletes every container and sandbox in it; SMITH_CLUSTER_PURGE=1 deletes it too.
SMITH_CLUSTER_IMAGE_CACHE="${SMITH_CLUSTER_IMAGE_CACHE:-$SMITH_CACHE_DIR/cluster-images}"
SMITH_COREDNS_VERSION="${SMITH_COREDNS_VERSION:-1.14.7}"
SMITH_CRICTL_VERSION="${SMITH_CRICTL_VERSION:-1.37.0}"
SMITH_PAUSE_IMAGE="docker.io/library/smith-pause:1"
# Fixed names and ranges: one cluster per machine.
_SMITH_NODE=smith-node
_SMITH_POD_CIDR=10.244.0.0/24
_SMITH_CLUSTER_CIDR=10.244.0.0/16
_SMITH_SERVICE_CIDR=10.96.0.0/24
_SMITH_KUBERNETES_SVC_IP=10.96.0.1
_SMITH_BRIDGE=smith0
_SMITH_CNI_NETWORK=smith-pod-network
_SMITH_APISERVER_PORT=6443
_SMITH_ETCD_PORT=22379

_smith_cluster_log() { echo "smith-cluster: $*" >&2; }

# The node's address: where pods reach the API server, CoreDNS and services on the host.
smith_cluster_node_ip() {
  if [ -n "${SMITH_CLUSTER_NODE_IP:-}" ]; then
    echo "$SMITH_CLUSTER_NODE_IP"
    return
  fi
  local dev
  dev="$(ip -4 route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')"
  ip -4 -o addr show dev "$dev" | awk '{ split($4, a, "/"); print a[1]; exit }'
}

# Debian packages the node needs, installed when missing (as images.sh does for docker.io).
_smith_cluster_packages() {
  local missing=()
  command -v containerd >/dev/null 2>&1 || missing+=(containerd)
  command -v runc >/dev/null 2>&1 || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null 2>&1 || missing+=(iptables)
  command -v conntrack >/dev/null 2>&1 || missing+=(conntrack)
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
  [ "${#missing[@]}" -eq 0 ] && return 0
  _smith_cluster_log "installing Debian's ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  }
}

smith_coredns_bin() { echo "$SMITH_CACHE_DIR/coredns/v$SMITH_COREDNS_VERSION-min/bin/coredns"; }
smith_crictl_bin() { echo "$SMITH_CACHE_DIR/crictl/v$SMITH_CRICTL_VERSION/bin/crictl"; }

# CoreDNS with only the plugins the cluster's Corefile (below) uses, chosen at compile time the
# way CoreDNS documents for custom builds: a main package that imports those plugins and sets
# dnsserver.Directives (in plugin.cfg's order) before coremain.Run(). The full build compiles
# 1,382 packages (every cloud provider's SDK), this one 793: a 52 MB binary instead of 76 MB, and
# minutes less on a cold machine. Built by _smith_go_build (scripts/lib/k8s.sh) from that main package.
_smith_build_coredns() {
  SMITH_GO_BUILD_MAIN='package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
)

func init() {
	dnsserver.Directives = []string{"bind", "ready", "health", "errors", "cache", "kubernetes", "loop", "forward"}
}

func main() { coremain.Run() }' _smith_go_build "$1" "github.com/coredns/coredns@v$SMITH_COREDNS_VERSION" . ""
}

# Every binary of the cluster, built once per machine (serially, under the build lock).
smith_ensure_cluster_tools() {
  smith_find_go >/dev/null || {
    echo "smith: Go is not installed: the cluster's components are built from Go modules. Install Go >= 1.26." >&2
    return 2
  }
  mkdir -p "$SMITH_CACHE_DIR/k8s"
  (
    exec 9>"$SMITH_CACHE_DIR/k8s/.build.lock"
    flock 9
    local c
    for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
      smith_build_k8s_component "$c" || exit 1
    done
    [ -x "$(smith_coredns_bin)" ] || _smith_build_coredns "$(smith_coredns_bin)" || exit 1
    [ -x "$(smith_crictl_bin)" ] || _smith_go_build "$(smith_crictl_bin)" "sigs.k8s.io/cri-tools@v$SMITH_CRICTL_VERSION" sigs.k8s.io/cri-tools/cmd/crictl "-X sigs.k8s.io/cri-tools/pkg/version.Version=v$SMITH_CRICTL_VERSION" || exit 1
    smith_build_helm || exit 1
  )
}

# --- PKI (openssl): one CA, the API server's serving cert, a client cert per component. ---

# _smith_cert <name> <subject> <extendedKeyUsage> [subjectAltName]
_smith_cert() {
  local pki="$SMITH_CLUSTER_DIR/pki" name="$1" subj="$2" eku="$3" san="${4:-}"
  local ext="$pki/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } >"$ext"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 30 \
    -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$ext"
  chmod 600 "$pki/$name.key"
}

_smith_cluster_pki() {
  local pki="$SMITH_CLUSTER_DIR/pki" ip="$1"
  mkdir -p "$pki"
  chmod 700 "$pki"
  openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -subj "/CN=smith-cluster-ca" -days 30 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$pki/ca.crt" 2>/dev/null
  chmod 600 "$pki/ca.key"
  _smith_cert apiserver "/CN=kube-apiserver" serverAuth \
    "IP:$_SMITH_KUBERNETES_SVC_IP,IP:$ip,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  _smith_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  _smith_cert admin "/O=system:masters/CN=smith-cluster-admin" clientAuth
  _smith_cert kube-controller-manager "/CN=system:kube-controller-manager" clientAuth
  _smith_cert kube-scheduler "/CN=system:kube-scheduler" clientAuth
  _smith_cert kube-proxy "/CN=system:kube-proxy" clientAuth
  _smith_cert kubelet "/O=system:nodes/CN=system:node:$_SMITH_NODE" clientAuth
  _smith_cert kubelet-serving "/CN=$_SMITH_NODE" serverAuth "IP:$ip,IP:127.0.0.1,DNS:$_SMITH_NODE"
  _smith_cert coredns "/CN=smith-cluster:coredns" clientAuth
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  chmod 600 "$pki/sa.key"
}

# _smith_kubeconfig <name> (client cert pki/<name>.crt): writes $SMITH_CLUSTER_DIR/<name>.kubeconfig.
_smith_kubeconfig() {
  local pki="$SMITH_CLUSTER_DIR/pki" name="$1" server="$2"
  local out="$SMITH_CLUSTER_DIR/$name.kubeconfig"
  cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: smith
    cluster:
      server: $server
      certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
  - name: $name
    user:
      client-certificate-data: $(base64 -w0 "$pki/$name.crt")
      client-key-data: $(base64 -w0 "$pki/$name.key")
contexts:
  - name: smith
    context:
      cluster: smith
      user: $name
current-context: smith
EOF
  chmod 600 "$out"
}

# --- processes ---

# _smith_start <name> <command...>: in its own session, logging to logs/<name>.log, pid in run/.
_smith_start() {
  local name="$1"
  shift
  setsid "$@" >>"$SMITH_CLUSTER_DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$SMITH_CLUSTER_DIR/run/$name.pid"
}

_smith_alive() {
  local pidfile="$SMITH_CLUSTER_DIR/run/$1.pid"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# _smith_stop <name> [timeout s]: TERM, then KILL.
_smith_stop() {
  local pidfile="$SMITH_CLUSTER_DIR/run/$1.pid" pid i
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 "$((${2:-15} * 5))"); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# _smith_wait <what> <seconds> <command...>: until the command succeeds; names the log on failure.
_smith_wait() {
  local what="$1" secs="$2" i
  shift 2
  for i in $(seq 1 "$((secs * 2))"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  _smith_cluster_log "$what did not come up in $secs s; its log: $SMITH_CLUSTER_DIR/logs/$what.log"
  tail -n 30 "$SMITH_CLUSTER_DIR/logs/$what.log" >&2 2>/dev/null || true
  return 1
}

# _smith_kapi <method> <path> [json body]: the API server as the cluster admin.
_smith_kapi() {
  local pki="$SMITH_CLUSTER_DIR/pki" method="$1" path="$2"
  local args=(-sS --fail-with-body --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" -X "$method")
  [ "$#" -ge 3 ] && args+=(-H "Content-Type: application/json" --data-binary "$3")
  curl "${args[@]}" "https://127.0.0.1:$_SMITH_APISERVER_PORT$path"
}

_smith_node_ready() {
  _smith_kapi GET "/api/v1/nodes/$_SMITH_NODE" 2>/dev/null |
    jq -e '.status.conditions[] | select(.type == "Ready" and .status == "True")' >/dev/null
}

# --- images ---

# smith-pause:1 from infra/docker/pause (a static Go binary in a FROM-scratch image).
_smith_pause_image() {
  docker image inspect smith-pause:1 >/dev/null 2>&1 && return 0
  local go ctx
  go="$(smith_find_go)" || return 2
  ctx="$(mktemp -d "${TMPDIR:-/tmp}/smith-pause.XXXXXX")"
  (cd infra/docker/pause && CGO_ENABLED=0 GOTOOLCHAIN=local "$go" build -trimpath -ldflags "-s -w" -o "$ctx/pause" .) &&
    cp infra/docker/pause/Dockerfile "$ctx/" &&
    docker build -q -t smith-pause:1 "$ctx" >/dev/null
  local status=$?
  rm -rf "$ctx"
  return $status
}

# Imports Docker images into the cluster's containerd (namespace k8s.io), skipping those whose
# image id containerd already has under that name.
_smith_import_images() {
  local sock="$SMITH_CLUSTER_DIR/containerd/containerd.sock" image id have
  for image in ${SMITH_CLUSTER_IMAGES_PREFIX-smith-pause:1} $SMITH_CLUSTER_IMAGES; do
    id="$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null)" || {
      _smith_cluster_log "no Docker image $image (scripts/lib/images.sh builds it): not imported"
      continue
    }
    have="$(ctr -a "$sock" -n k8s.io images ls -q "name==docker.io/library/$image" 2>/dev/null)"
    if [ -n "$have" ] && [ "$(cat "$SMITH_CLUSTER_IMAGE_CACHE/imported/${image//[:\/]/_}" 2>/dev/null)" = "$id" ]; then
      continue
    fi
    local start=$SECONDS
    docker save "$image" | ctr -a "$sock" -n k8s.io images import - >/dev/null || return 1
    echo "$id" >"$SMITH_CLUSTER_IMAGE_CACHE/imported/${image//[:\/]/_}"
    _smith_cluster_log "imported $image in $((SECONDS - start)) s"
  done
}

# true when this process may not lower its oom_score_adj (no CAP_SYS_RESOURCE).
_smith_restrict_oom() {
  if (echo -1 >/proc/self/oom_score_adj) 2>/dev/null; then echo false; else echo true; fi
}

# smith_cluster_import <image...>: Docker images into the running cluster's containerd.
smith_cluster_import() {
  _smith_alive containerd || {
    _smith_cluster_log "no cluster running (scripts/cluster.sh up)"
    return 1
  }
  SMITH_CLUSTER_IMAGES="$*" SMITH_CLUSTER_IMAGES_PREFIX="" _smith_import_images
}

# --- up ---

smith_cluster_up() {
  [ "$(id -u)" -eq 0 ] || {
    echo "smith: scripts/cluster.sh needs root (a kubelet and containerd)" >&2
    return 2
  }
  if _smith_alive kubelet && _smith_node_ready; then
    _smith_cluster_log "already up"
    echo "$SMITH_CLUSTER_DIR/admin.kubeconfig"
    return 0
  fi
  if [ -d "$SMITH_CLUSTER_DIR" ]; then
    _smith_cluster_log "a partial cluster is in $SMITH_CLUSTER_DIR: taking it down first"
    smith_cluster_down
  fi
  local started=$SECONDS
  _smith_cluster_packages || return 1
  smith_ensure_cluster_tools || return $?
  SMITH_CLUSTER_IMAGES="${SMITH_CLUSTER_IMAGES-smith:$SMITH_IMAGE_TAG smith-replica:$SMITH_IMAGE_TAG smith-etcd:$SMITH_IMAGE_TAG}"

  local d="$SMITH_CLUSTER_DIR" bin ip
  bin="$(smith_k8s_dir)/bin"
  ip="$(smith_cluster_node_ip)"
  [ -n "$ip" ] || {
    _smith_cluster_log "no node IP (no default route?); set SMITH_CLUSTER_NODE_IP"
    return 1
  }
  mkdir -p "$d"/{logs,run,etcd,containerd,cni/net.d,cni/ipam,kubelet,coredns} "$SMITH_CLUSTER_IMAGE_CACHE"/{root,imported}
  chmod 700 "$d"
  # Network namespaces present before: `down` removes only the ones the cluster made.
  ls /var/run/netns 2>/dev/null >"$d/run/netns.before" || true
  # Directories containerd and the CNI plugins make outside the state dir (shim sockets, runc's
  # state, the CNI result cache, netns mounts): `down` removes those that were not here before.
  local p
  for p in /run/containerd /var/lib/cni /var/run/netns; do
    [ -e "$p" ] || echo "$p" >>"$d/run/created.paths"
  done
  _smith_cluster_pki "$ip"
  local server="https://$ip:$_SMITH_APISERVER_PORT"
  for c in admin kube-controller-manager kube-scheduler kube-proxy kubelet coredns; do
    _smith_kubeconfig "$c" "$server"
  done

  # etcd, then the API server.
  _smith_start etcd etcd --name smith-cluster --data-dir "$d/etcd" \
    --listen-client-urls "http://127.0.0.1:$_SMITH_ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$_SMITH_ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((_SMITH_ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((_SMITH_ETCD_PORT + 1))" \
    --initial-cluster "smith-cluster=http://127.0.0.1:$((_SMITH_ETCD_PORT + 1))"
  _smith_wait etcd 30 curl -sf "http://127.0.0.1:$_SMITH_ETCD_PORT/health" || return 1
  local pki="$d/pki"
  _smith_start kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$_SMITH_ETCD_PORT" \
    --bind-address 0.0.0.0 --advertise-address "$ip" --secure-port "$_SMITH_APISERVER_PORT" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range "$_SMITH_SERVICE_CIDR" --allow-privileged=true --profiling=false \
    --kubelet-preferred-address-types InternalIP,Hostname
  _smith_wait kube-apiserver 90 _smith_kapi GET /readyz || return 1

  _smith_start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$d/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig "$d/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig "$d/kube-controller-manager.kubeconfig" --authentication-skip-lookup \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --service-cluster-ip-range "$_SMITH_SERVICE_CIDR" --cluster-cidr "$_SMITH_CLUSTER_CIDR" \
    --controllers '*' --profiling=false
  _smith_start kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig "$d/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig "$d/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "$d/kube-scheduler.kubeconfig" --authentication-skip-lookup \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false

  # CoreDNS on the node IP: the cluster's DNS (cluster.local from the API, the rest forwarded).
  _smith_kapi POST /apis/rbac.authorization.k8s.io/v1/clusterroles '{"metadata":{"name":"smith-cluster:coredns"},"rules":[{"apiGroups":[""],"resources":["services","endpoints","pods","namespaces"],"verbs":["list","watch"]},{"apiGroups":["discovery.k8s.io"],"resources":["endpointslices"],"verbs":["list","watch"]}]}' >/dev/null
  _smith_kapi POST /apis/rbac.authorization.k8s.io/v1/clusterrolebindings '{"metadata":{"name":"smith-cluster:coredns"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"smith-cluster:coredns"},"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"smith-cluster:coredns"}]}' >/dev/null
  cat >"$d/coredns/Corefile" <<EOF
.:53 {
    bind $ip
    errors
    health 127.0.0.1:18180
    ready 127.0.0.1:18181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $d/coredns.kubeconfig smith
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . /etc/resolv.conf
    cache 30
    loop
}
EOF
  _smith_start coredns "$(smith_coredns_bin)" -conf "$d/coredns/Corefile"

  # containerd with its own root, state and socket (Docker's engine may run beside it).
  local sock="$d/containerd/containerd.sock"
  cat >"$d/containerd/config.toml" <<EOF
version = 2
root = "$SMITH_CLUSTER_IMAGE_CACHE/root"
state = "$d/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$SMITH_PAUSE_IMAGE"
  # Without CAP_SYS_RESOURCE (as in some VMs and containers) a negative oom_score_adj (the
  # sandbox's -998, Guaranteed pods' -997) is refused and runc fails ("can't get final child's
  # PID from pipe: EOF"): clamp it to containerd's own.
  restrict_oom_score_adj = $(_smith_restrict_oom)
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni/net.d"
EOF
  cat >"$d/cni/net.d/10-smith.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$_SMITH_CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$_SMITH_BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$_SMITH_POD_CIDR" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$d/cni/ipam"
      }
    },
    { "type": "firewall" },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  _smith_start containerd containerd --config "$d/containerd/config.toml"
  _smith_wait containerd 30 ctr -a "$sock" version || return 1

  # The images: the pause image (the sandbox) and Smith's, from the local Docker engine.
  smith_ensure_docker || return $?
  _smith_pause_image || return 1
  _smith_import_images || return 1

  # kubelet: cgroup v1 (this host) needs failCgroupV1: false since v1.35.
  cat >"$d/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$sock
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $pki/ca.crt }
authorization: { mode: Webhook }
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
address: $ip
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
clusterDomain: cluster.local
clusterDNS: [$ip]
resolvConf: /etc/resolv.conf
failSwapOn: false
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1% }
rotateCertificates: false
serverTLSBootstrap: false
EOF
  _smith_start kubelet "$bin/kubelet" --config "$d/kubelet/config.yaml" \
    --kubeconfig "$d/kubelet.kubeconfig" --root-dir "$d/kubelet/root" --cert-dir "$d/kubelet/pki" \
    --hostname-override "$_SMITH_NODE" --node-ip "$ip" --v 1

  cat >"$d/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: { kubeconfig: $d/kube-proxy.kubeconfig }
hostnameOverride: $_SMITH_NODE
clusterCIDR: $_SMITH_CLUSTER_CIDR
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
iptables: { localhostNodePorts: false }
# 0: leave this machine's conntrack sysctls as they are.
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
EOF
  _smith_start kube-proxy "$bin/kube-proxy" --config "$d/kube-proxy.yaml"

  _smith_wait kubelet 120 _smith_node_ready || return 1
  # The default ServiceAccount exists once the controller-manager runs: Pods need it.
  _smith_wait kube-controller-manager 60 _smith_kapi GET /api/v1/namespaces/default/serviceaccounts/default || return 1
  _smith_cluster_log "up in $((SECONDS - started)) s (node $_SMITH_NODE at $ip; logs in $d/logs)"
  echo "$d/admin.kubeconfig"
}

# --- status ---

smith_cluster_status() {
  local c ok=0
  if [ ! -d "$SMITH_CLUSTER_DIR/run" ]; then
    echo "no cluster ($SMITH_CLUSTER_DIR)"
    return 1
  fi
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler coredns containerd kubelet kube-proxy; do
    if _smith_alive "$c"; then
      echo "$c: running (pid $(cat "$SMITH_CLUSTER_DIR/run/$c.pid"))"
    else
      echo "$c: not running"
      ok=1
    fi
  done
  if _smith_node_ready; then echo "node $_SMITH_NODE: Ready"; else
    echo "node $_SMITH_NODE: not Ready"
    ok=1
  fi
  echo "kubeconfig: $SMITH_CLUSTER_DIR/admin.kubeconfig"
  return $ok
}

# --- down ---

# Removes iptables rules and chains of the cluster (kube-proxy's and kubelet's KUBE-*, the bridge
# plugin's masquerading CNI-* for this network) from one table, leaving everything else.
_smith_iptables_clean() {
  local cmd="$1" table="$2" rules chains
  command -v "$cmd" >/dev/null 2>&1 || return 0
  rules="$("$cmd-save" -t "$table" 2>/dev/null)" || return 0
  chains="$(printf '%s\n' "$rules" | sed -n 's/^:\(KUBE-[^ ]*\|CNI-[^ ]*\) .*/\1/p')"
  # Jumps into those chains from the built-in chains (and Docker's), then the chains themselves.
  printf '%s\n' "$rules" | grep -E '^-A ' | grep -E -- "-j (KUBE-|CNI-)|$_SMITH_CNI_NETWORK" |
    while read -r rule; do
      local chain="${rule#-A }"
      chain="${chain%% *}"
      case "$chain" in KUBE-* | CNI-*) continue ;; esac
      # shellcheck disable=SC2086
      eval "$cmd -t $table -D ${rule#-A }" 2>/dev/null || true
    done
  local c
  for c in $chains; do "$cmd" -t "$table" -F "$c" 2>/dev/null || true; done
  for c in $chains; do "$cmd" -t "$table" -X "$c" 2>/dev/null || true; done
}

# Best effort throughout: one step failing (a rule already gone) must not keep the others from
# running, whatever the caller's errexit.
smith_cluster_down() { (
  set +e +o pipefail
  _smith_cluster_down
); }

_smith_cluster_down() {
  local d="$SMITH_CLUSTER_DIR"
  [ -d "$d" ] || {
    _smith_cluster_log "no cluster in $d"
    return 0
  }
  local sock="$d/containerd/containerd.sock" crictl
  crictl="$(smith_crictl_bin)"
  # The kubelet first (it would restart what is stopped), then every pod through the CRI, which
  # tears their networks down with the CNI plugins (addresses, veths, masquerading rules).
  _smith_stop kubelet 20
  if _smith_alive containerd && [ -x "$crictl" ]; then
    local pods
    pods="$("$crictl" -r "unix://$sock" pods -q 2>/dev/null || true)"
    if [ -n "$pods" ]; then
      # shellcheck disable=SC2086
      "$crictl" -r "unix://$sock" -t 30s stopp $pods >/dev/null 2>&1 || true
      # shellcheck disable=SC2086
      "$crictl" -r "unix://$sock" -t 30s rmp -f $pods >/dev/null 2>&1 || true
    fi
  fi
  # Whatever is left (no crictl, or the CRI not answering): the tasks, then the containers and
  # their snapshots, so that the image cache holds nothing but images.
  if _smith_alive containerd; then
    local t
    for t in $(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr -a "$sock" -n k8s.io tasks rm -f "$t" >/dev/null 2>&1 || true
    done
    for t in $(ctr -a "$sock" -n k8s.io containers ls -q 2>/dev/null); do
      ctr -a "$sock" -n k8s.io containers rm "$t" >/dev/null 2>&1 || true
    done
  fi
  local c
  for c in kube-proxy coredns kube-scheduler kube-controller-manager containerd kube-apiserver etcd; do
    _smith_stop "$c" 15
  done
  # Shims outliving containerd (and the containers under them).
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $sock( |$)" || true); do
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
  done
  # kube-proxy's own clean-up of its iptables (and nftables) state, then anything left.
  "$(smith_k8s_dir)/bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
  for c in filter nat mangle; do
    _smith_iptables_clean iptables "$c"
    _smith_iptables_clean ip6tables "$c"
  done
  # Network namespaces the CRI made (cni-*) that were not there before `up`.
  local ns
  for ns in $(ls /var/run/netns 2>/dev/null | grep '^cni-' || true); do
    grep -qx "$ns" "$d/run/netns.before" 2>/dev/null && continue
    ip netns delete "$ns" 2>/dev/null || { umount "/var/run/netns/$ns" 2>/dev/null; rm -f "/var/run/netns/$ns"; }
  done
  ip link delete "$_SMITH_BRIDGE" 2>/dev/null || true
  # Mounts under the state dir (overlay rootfs, secret tmpfs, shm), deepest first.
  local m
  for m in $(awk -v d="$d" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  # The kubelet's cgroups (kubepods*) in every v1 hierarchy and the unified one, deepest first.
  local root
  for root in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
    [ -d "$root/kubepods" ] || [ -d "$root/kubepods.slice" ] || continue
    find "$root"/kubepods* -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  # Empty directories only: whatever else uses them keeps its files. /run/containerd and
  # /var/lib/cni are pruned also when they were there before `up` (an earlier cluster's).
  local p
  for p in /run/containerd /var/lib/cni $(cat "$d/run/created.paths" 2>/dev/null); do
    [ -d "$p" ] && find "$p" -depth -type d -empty -delete 2>/dev/null
  done
  rm -rf "$d"
  if [ "${SMITH_CLUSTER_PURGE:-}" = 1 ]; then
    rm -rf "$SMITH_CLUSTER_IMAGE_CACHE"
    _smith_cluster_log "down: $d and $SMITH_CLUSTER_IMAGE_CACHE removed"
  else
    _smith_cluster_log "down: $d removed (image cache kept: $SMITH_CLUSTER_IMAGE_CACHE; SMITH_CLUSTER_PURGE=1 removes it)"
  fi
}
