#!/usr/bin/env bash
# `make uninstall`: removes Weft. Webhook configurations go first, so no pod creation ever waits on a
# webhook that is being removed. The SMI CRDs go too (their conversion webhook would dangle), and with
# them every SMI object; KEEP_CRDS=1 keeps them and switches their conversion off instead.
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT_DIR"
KUBECTL="${KUBECTL:-/usr/lib/google-cloud-sdk/bin/kubectl.1.33}"
k() { "$KUBECTL" "$@"; }
k delete mutatingwebhookconfiguration weft-injector --ignore-not-found
k delete validatingwebhookconfiguration weft-smi-validator --ignore-not-found
if [ "${KEEP_CRDS:-0}" = 1 ]; then
  for crd in $(k get crd -o name | grep smi-spec.io); do
    k patch "$crd" --type=merge -p '{"spec":{"conversion":{"strategy":"None","webhook":null}}}'
  done
  k delete -f deploy/base/weft.yaml --ignore-not-found --wait=true
else
  k delete -k deploy/base --ignore-not-found --wait=true
fi
left=$(k get mutatingwebhookconfigurations,validatingwebhookconfigurations -o name | grep -c weft || true)
[ "$left" = 0 ] || { echo "uninstall: $left Weft webhook configurations remain" >&2; exit 1; }
echo "Weft uninstalled"
