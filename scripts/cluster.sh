#!/usr/bin/env bash
# A one-node Kubernetes cluster made of processes on this machine, for the cluster tests:
#
#   scripts/cluster.sh up       starts it (idempotent); prints the admin kubeconfig's path last
#   scripts/cluster.sh status   what runs; exit 0 when the node is Ready
#   scripts/cluster.sh import IMAGE...  imports Docker images into the running cluster's containerd
#   scripts/cluster.sh down     stops everything and removes every trace (processes, mounts, network
#                               namespaces, the bridge, the iptables rules, cgroups, the state dir)
#
# etcd (Debian's etcd-server) + kube-apiserver + kube-controller-manager + kube-scheduler +
# kube-proxy (iptables mode) + kubelet, all built from the Kubernetes Go modules by
# scripts/lib/k8s.sh; Debian's containerd, runc and CNI plugins (bridge, host-local, loopback,
# portmap); CoreDNS (built from its Go module with only the plugins its Corefile uses) as a host process serving cluster.local on the node
# IP. The images built by scripts/lib/images.sh (smith, smith-replica, smith-etcd) and a pause image
# built here (infra/docker/pause) are imported into containerd: nothing is pulled from a registry.
# Root only (a kubelet and containerd need it). One cluster per machine.
#
# Knobs: SMITH_CLUSTER_DIR (state; default ~/.cache/smith/cluster), SMITH_CLUSTER_NODE_IP (default:
# the address of the default route's interface), SMITH_CLUSTER_IMAGES (images to import, default
# "smith:$SMITH_IMAGE_TAG smith-replica:$SMITH_IMAGE_TAG smith-etcd:$SMITH_IMAGE_TAG"; "" for none).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/cluster.sh

case "${1:-}" in
  up) smith_cluster_up ;;
  down) smith_cluster_down ;;
  status) smith_cluster_status ;;
  import)
    shift
    smith_cluster_import "$@"
    ;;
  *)
    echo "usage: scripts/cluster.sh up|down|status|import IMAGE..." >&2
    exit 64
    ;;
esac
