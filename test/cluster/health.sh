#!/usr/bin/env bash
# Exits 0 when the local cluster is usable: apiserver ready, node Ready, cluster DNS resolves
# kubernetes.default.svc.cluster.local through the kube-dns Service, and the default ServiceAccount exists.
. "$(dirname "$0")/lib.sh"
kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_ADMIN" --request-timeout 5s "$@"; }
kc get --raw /readyz >/dev/null
[ "$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ] || { echo "node not Ready"; exit 1; }
kc -n default get serviceaccount default >/dev/null || { echo "no default ServiceAccount"; exit 1; }
node_bin="$("$ROOT_DIR/scripts/ensure-node.sh")"
"$node_bin/node" -e '
  const { Resolver } = require("node:dns").promises;
  const r = new Resolver({ timeout: 1000, tries: 1 });
  r.setServers([process.argv[1]]);
  r.resolve4("kubernetes.default.svc.cluster.local").then(
    (a) => { if (a[0] !== process.argv[2]) { console.error("dns answered", a); process.exit(1); } },
    (e) => { console.error("dns:", e.code); process.exit(1); });
' "$DNS_SVC_IP" "$KUBERNETES_SVC_IP"
