#!/usr/bin/env bash
# Installs the Debian packages the local cluster runs on, if any is missing; with arguments, only those
# packages (the integration tests need iptables, iproute2, curl and openssl, not the cluster).
. "$(dirname "$0")/lib.sh"
want=("$@")
[ ${#want[@]} -eq 0 ] && want=(containerd runc containernetworking-plugins umoci iptables ipset conntrack iproute2 openssl jq curl)
need=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && exit 0
log "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The package may start its own containerd; ours runs with its own config and socket.
