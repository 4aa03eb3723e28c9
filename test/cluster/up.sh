#!/usr/bin/env bash
# Starts a real single-node Kubernetes on this machine: etcd, kube-apiserver, controller-manager,
# scheduler, containerd, kubelet, kube-proxy and CoreDNS as host processes, pods on a private bridge.
# Returns when the node is Ready, cluster DNS answers and the default ServiceAccount exists; prints
# the kubeconfig path as its last line. Idempotent: a healthy cluster is reused, a broken one is
# torn down first.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "the local cluster needs root (network, mounts, cgroups)"

"$CLUSTER_DIR/host-deps.sh"
"$CLUSTER_DIR/build.sh"

if [ -f "$STATE_DIR/up" ] && "$CLUSTER_DIR/health.sh" >/dev/null 2>&1; then
  log "cluster already up"; echo "$KUBECONFIG_ADMIN"; exit 0
fi
if [ -d "$STATE_DIR" ] || [ -d "$RUN_DIR" ] || ip link show "$BRIDGE" >/dev/null 2>&1; then
  log "found leftovers of an earlier cluster: tearing them down first"
  "$CLUSTER_DIR/down.sh"
fi

mkdir -p "$STATE_DIR"/{logs,pids,etcd,kubelet,pod-logs,cni/net.d,cni/ipam,containerd} "$RUN_DIR"
"$CLUSTER_DIR/pki.sh"

# start NAME CMD...: a host process with its own session, logging to a file, remembered by PID.
start() {
  local name=$1; shift
  setsid "$@" >>"$STATE_DIR/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$STATE_DIR/pids/$name.pid"
}
# wait_for WHAT SECONDS CMD...: polls until CMD succeeds; on timeout shows the log of WHAT.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ -f "$STATE_DIR/pids/$what.pid" ] && ! kill -0 "$(cat "$STATE_DIR/pids/$what.pid")" 2>/dev/null; then
      tail -n 30 "$STATE_DIR/logs/$what.log" >&2 || true; die "$what exited"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 30 "$STATE_DIR/logs/$what.log" >&2 2>/dev/null || true; die "timed out waiting for $what"
    fi
    sleep 0.5
  done
}
kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# --- host network: the bridge, sysctls, containment ------------------------------------------------
log "network: bridge $BRIDGE ($NODE_IP), pods $POD_CIDR, services $SERVICE_CIDR"
{ cat /proc/sys/net/ipv4/ip_forward; cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo 0; } > "$STATE_DIR/sysctl.saved"
modprobe br_netfilter 2>/dev/null || true
sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
ip link add "$BRIDGE" type bridge
ip addr add "$NODE_IP/${NODE_POD_SUBNET#*/}" dev "$BRIDGE"
ip link set "$BRIDGE" up
# Unallocated pod and service addresses must never follow the default route off the machine. Service
# addresses route onto the bridge (not a blackhole): the host's own connections to a ClusterIP are
# routed before kube-proxy's OUTPUT DNAT sees them.
ip route add blackhole "$POD_CIDR"
ip route add "$SERVICE_CIDR" dev "$BRIDGE"
# Pods may talk to each other and to this host, never forward anywhere else. In the mangle table so
# kube-proxy's filter rules cannot accept such packets first.
for ipt in iptables ip6tables; do
  $ipt -t mangle -N "$CONTAIN_CHAIN"
  $ipt -t mangle -A "$CONTAIN_CHAIN" -i "$BRIDGE" ! -o "$BRIDGE" -j DROP
  $ipt -t mangle -A "$CONTAIN_CHAIN" ! -i "$BRIDGE" -o "$BRIDGE" -j DROP
  $ipt -t mangle -I FORWARD 1 -j "$CONTAIN_CHAIN"
done
# Pods get no upstream resolver from the host (dnsPolicy Default would otherwise leak it).
: > "$STATE_DIR/resolv.conf"

# --- etcd -------------------------------------------------------------------------------------------
log "starting etcd"
start etcd "$BIN_DIR/etcd" --name weft --data-dir "$STATE_DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "weft=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
  --quota-backend-bytes 4294967296 --snapshot-count 10000 --log-level warn
wait_for etcd 60 curl -fsS "http://127.0.0.1:$ETCD_CLIENT_PORT/health"

# --- control plane ----------------------------------------------------------------------------------
log "starting kube-apiserver"
start kube-apiserver "$BIN_DIR/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$APISERVER_PORT" \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --client-ca-file "$PKI/ca.crt" \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --authorization-mode Node,RBAC --allow-privileged=true \
  --enable-admission-plugins NodeRestriction,MutatingAdmissionWebhook,ValidatingAdmissionWebhook \
  --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
  --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
  --requestheader-extra-headers-prefix X-Remote-Extra- \
  --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
  --profiling=false --event-ttl 1h --v 1
wait_for kube-apiserver 120 kc get --raw /readyz

log "starting kube-controller-manager and kube-scheduler"
start kube-controller-manager "$BIN_DIR/kube-controller-manager" \
  --kubeconfig "$STATE_DIR/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$STATE_DIR/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$STATE_DIR/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
  --root-ca-file "$PKI/ca.crt" --service-account-private-key-file "$PKI/sa.key" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" --profiling=false --v 1
start kube-scheduler "$BIN_DIR/kube-scheduler" \
  --kubeconfig "$STATE_DIR/scheduler.kubeconfig" \
  --authentication-kubeconfig "$STATE_DIR/scheduler.kubeconfig" \
  --authorization-kubeconfig "$STATE_DIR/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false --profiling=false --v 1

# --- node: containerd, images, kubelet, kube-proxy --------------------------------------------------
cat > "$STATE_DIR/cni/net.d/10-weft-bridge.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "weft-local",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$STATE_DIR/cni/ipam",
        "ranges": [[{"subnet": "$NODE_POD_SUBNET", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
JSON
cat > "$STATE_DIR/containerd/config.toml" <<TOML
version = 2
root = "$STATE_DIR/containerd/root"
state = "$RUN_DIR/containerd"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.grpc.v1.introspection.tracing"]
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # The VM lacks CAP_SYS_RESOURCE in its bounding set: runc must not lower oom_score_adj.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_unprivileged_ports = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE_DIR/cni/net.d"
TOML
log "starting containerd"
start containerd /usr/bin/containerd --config "$STATE_DIR/containerd/config.toml"
wait_for containerd 30 ctr --address "$CONTAINERD_SOCK" version

log "importing images"
"$ROOT_DIR/test/images/build.sh" --import ${WEFT_CLUSTER_IMAGES:-pause node-base}

cat > "$STATE_DIR/kubelet-config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
clusterDomain: cluster.local
clusterDNS: [$DNS_SVC_IP]
resolvConf: $STATE_DIR/resolv.conf
failSwapOn: false
podLogsDir: $STATE_DIR/pod-logs
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
maxPods: 110
YAML
log "starting kubelet"
start kubelet "$BIN_DIR/kubelet" --config "$STATE_DIR/kubelet-config.yaml" \
  --kubeconfig "$STATE_DIR/kubelet-client.kubeconfig" --root-dir "$STATE_DIR/kubelet" \
  --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v 1

cat > "$STATE_DIR/kube-proxy-config.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
clientConnection: {kubeconfig: $STATE_DIR/kube-proxy.kubeconfig}
bindAddress: 127.0.0.1
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
nodePortAddresses: [$NODE_IP/32]
conntrack: {maxPerCore: 0}
YAML
log "starting kube-proxy"
start kube-proxy "$BIN_DIR/kube-proxy" --config "$STATE_DIR/kube-proxy-config.yaml" --v 1

# --- cluster DNS: CoreDNS on the node address behind the kube-dns Service --------------------------
cat > "$STATE_DIR/Corefile" <<COREFILE
# Only cluster names: there is deliberately no upstream forwarder, so nothing resolves off-machine.
cluster.local in-addr.arpa ip6.arpa {
    bind $NODE_IP
    errors
    ready 127.0.0.1:19181
    health 127.0.0.1:19180
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $STATE_DIR/coredns.kubeconfig weft-local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
COREFILE
log "starting coredns"
start coredns "$BIN_DIR/coredns" -conf "$STATE_DIR/Corefile" -dns.port 53
kc apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $DNS_SVC_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: v1
kind: Endpoints
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
subsets:
- addresses: [{ip: $NODE_IP}]
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
YAML

log "waiting for the node, DNS and the default ServiceAccount"
wait_for kubelet 180 "$CLUSTER_DIR/health.sh"
touch "$STATE_DIR/up"
log "cluster up ($(kc version -o json | jq -r .serverVersion.gitVersion))"
echo "$KUBECONFIG_ADMIN"
