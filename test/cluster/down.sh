#!/usr/bin/env bash
# Stops everything the local cluster started and removes everything it created: processes (by PID),
# pod processes (by cgroup), mounts, network namespaces, the bridge, routes, iptables chains and rules,
# cgroups, sysctls and state. Idempotent; works after a half-failed start.
. "$(dirname "$0")/lib.sh"
set +e

# kill_wait PID...: TERM, up to 10 s grace, then KILL.
kill_wait() {
  local pids=("$@") i
  [ ${#pids[@]} -eq 0 ] && return 0
  kill -TERM "${pids[@]}" 2>/dev/null
  for i in $(seq 1 40); do
    local alive=0 p
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.25
  done
  kill -KILL "${pids[@]}" 2>/dev/null
  sleep 0.2
}
pid_of() { [ -f "$STATE_DIR/pids/$1.pid" ] && cat "$STATE_DIR/pids/$1.pid"; }
# Processes of ours whose PID file was lost (a half-failed run): matched by binary path or config.
strays() { pgrep -f -- "$1" 2>/dev/null | grep -vx "$$"; }

# 1. kubelet first, so it does not restart what we kill next.
kill_wait $(pid_of kubelet) $(strays "$BIN_DIR/kubelet")

# 2. pod processes: everything in the kubepods cgroups (cgroup v1 hierarchies and the unified one).
kill_pods() {
  local d f pids
  for d in /sys/fs/cgroup/*/kubepods* /sys/fs/cgroup/kubepods* /sys/fs/cgroup/unified/kubepods*; do
    [ -d "$d" ] || continue
    while IFS= read -r f; do
      pids=$(cat "$f" 2>/dev/null)
      [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    done < <(find "$d" -name cgroup.procs 2>/dev/null)
  done
}
kill_pods; sleep 0.3; kill_pods

# 3. containerd shims of our containerd, then every component.
kill_wait $(pgrep -f "containerd-shim.*-address $CONTAINERD_SOCK") 
for c in kube-proxy coredns kube-scheduler kube-controller-manager containerd kube-apiserver etcd; do
  kill_wait $(pid_of "$c")
done
kill_wait $(strays "$BIN_DIR/") $(strays "containerd --config $STATE_DIR/containerd/config.toml")

# 4. mounts under our directories, deepest first (pod volumes, overlay rootfs, netns, shm).
for round in 1 2 3; do
  mapfile -t mnts < <(awk '{print $2}' /proc/mounts | grep -E "^($STATE_DIR|$RUN_DIR)(/|$)" | sort -r)
  [ ${#mnts[@]} -eq 0 ] && break
  for m in "${mnts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
done

# 5. network: iptables (kube-proxy's own cleanup, then anything left), containment, bridge, routes.
[ -x "$BIN_DIR/kube-proxy" ] && "$BIN_DIR/kube-proxy" --cleanup >/dev/null 2>&1
for ipt in iptables ip6tables; do
  for t in filter nat mangle raw; do
    while $ipt -t "$t" -S 2>/dev/null | grep -qE -- "-j (KUBE-|CNI-|$CONTAIN_CHAIN)"; do
      rule=$($ipt -t "$t" -S | grep -E -- "^-A .* -j (KUBE-|CNI-|$CONTAIN_CHAIN)" | head -1)
      [ -z "$rule" ] && break
      eval "$ipt -t $t ${rule/-A/-D}" 2>/dev/null || break
    done
    for ch in $($ipt -t "$t" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-|'"$CONTAIN_CHAIN"')/{print $2}'); do
      $ipt -t "$t" -F "$ch" 2>/dev/null
    done
    for ch in $($ipt -t "$t" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-|'"$CONTAIN_CHAIN"')/{print $2}'); do
      $ipt -t "$t" -X "$ch" 2>/dev/null
    done
  done
done
command -v ipset >/dev/null && for s in $(ipset list -n 2>/dev/null | grep '^KUBE-'); do ipset destroy "$s" 2>/dev/null; done
ip link del "$BRIDGE" 2>/dev/null
ip route del blackhole "$POD_CIDR" 2>/dev/null
ip route del "$SERVICE_CIDR" 2>/dev/null
command -v conntrack >/dev/null && conntrack -D -s "$POD_CIDR" >/dev/null 2>&1

# 6. cgroups the kubelet created, leaves first.
for d in /sys/fs/cgroup/*/kubepods* /sys/fs/cgroup/kubepods* /sys/fs/cgroup/unified/kubepods*; do
  [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
done

# 7. sysctls back as they were, then state.
if [ -f "$STATE_DIR/sysctl.saved" ]; then
  { read -r fwd; read -r brnf; } < "$STATE_DIR/sysctl.saved"
  sysctl -qw net.ipv4.ip_forward="$fwd" net.bridge.bridge-nf-call-iptables="$brnf" 2>/dev/null
fi
rm -rf "$STATE_DIR" "$RUN_DIR"
log "cluster down"
exit 0
