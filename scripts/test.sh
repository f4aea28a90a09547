#!/usr/bin/env bash
# The test command: works on a fresh machine. Provisions Node.js >= 22, installs the npm
# dependencies and etcd (Debian's etcd-server), then runs format, lint, knip (dead code),
# typecheck and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
smith_setup
source scripts/lib/k8s.sh
# Kubernetes tests: kube-apiserver + helm built from Go modules into ~/.cache/smith/k8s
# (~13 min the first time on 2 cores, then instant). Without Go this returns 2 and those tests
# skip with a message; CI sets SMITH_REQUIRE_KUBE_TESTS=1 so that a missing Go fails the run.
smith_ensure_k8s_tools || [ $? -eq 2 ]
source scripts/lib/images.sh
# The images (API + scheduler, replica, etcd), built for real with a local Docker engine from a
# debootstrapped base (~/.cache/smith/images, once per machine; then Docker's layer cache). Without
# a Docker engine this returns 2 and the image tests skip; CI sets SMITH_REQUIRE_IMAGE_TESTS=1.
smith_build_images || [ $? -eq 2 ]
source scripts/lib/cluster.sh
# The one-node cluster's components (controller-manager, scheduler, kubelet, kube-proxy, CoreDNS,
# crictl; ~28 min the first time on 2 cores, then cached) for packages/testing/src/kube/cluster.test.ts,
# which brings the cluster up and down itself. Root only (kubelet, containerd); without root or Go
# the cluster test skips with a message.
if [ "$(id -u)" -eq 0 ]; then smith_ensure_cluster_tools || [ $? -eq 2 ]; fi
echo "smith: node $(node --version), $(etcd --version | head -1)" >&2

echo "== format" >&2
npm run --silent format:check
echo "== lint" >&2
npm run --silent lint
echo "== knip" >&2
npm run --silent knip
echo "== typecheck" >&2
npm run --silent typecheck
echo "== test" >&2
results="$(mktemp -t smith-vitest-XXXXXX.json)"
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@"
status=$?
set -e
# One plain closing line for CI: "N passed, N failed, N skipped".
node -e '
const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' "$results" 2>/dev/null || true
rm -f "$results"
exit "$status"
