#!/usr/bin/env bash
# Sourced by the two set-up commands: Node.js >= 22 first on PATH, etcd installed, npm
# dependencies installed. Everything they need on a fresh machine.
source "$(dirname "${BASH_SOURCE[0]}")/node.sh"
source "$(dirname "${BASH_SOURCE[0]}")/etcd.sh"
source "$(dirname "${BASH_SOURCE[0]}")/deps.sh"

smith_setup() {
  smith_ensure_node
  smith_ensure_etcd
  smith_ensure_deps
}
