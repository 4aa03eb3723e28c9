#!/usr/bin/env bash
# Generates the local cluster's PKI with openssl: a cluster CA, a front-proxy CA for the
# aggregation layer, a service-account signing key, and every serving and client certificate.
# ECDSA P-256 throughout. Idempotent: existing files are kept.
. "$(dirname "$0")/lib.sh"
mkdir -p "$PKI"; chmod 700 "$PKI"; cd "$PKI"

key() { [ -f "$1.key" ] || openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null; chmod 600 "$1.key"; }

ca() { # ca NAME CN
  [ -f "$1.crt" ] && return 0
  key "$1"
  openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 3650 -out "$1.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

cert() { # cert NAME CA SUBJECT USAGE [SANS]
  local name=$1 issuer=$2 subj=$3 usage=$4 sans=${5:-}
  [ -f "$name.crt" ] && return 0
  key "$name"
  local ext; ext=$(mktemp)
  { echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -n "$sans" ] && echo "subjectAltName=$sans"; } > "$ext"
  openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA "$issuer.crt" -CAkey "$issuer.key" -CAcreateserial \
    -days 365 -extfile "$ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$ext"
}

ca ca "weft-local-cluster-ca"
ca front-proxy-ca "weft-local-front-proxy-ca"
[ -f sa.key ] || { key sa; openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null; }

api_sans="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP,IP:$KUBERNETES_SVC_IP"
cert apiserver ca "/CN=kube-apiserver" serverAuth "$api_sans"
cert apiserver-kubelet-client ca "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
cert front-proxy-client front-proxy-ca "/CN=front-proxy-client" clientAuth
cert admin ca "/O=system:masters/CN=weft-admin" clientAuth
cert controller-manager ca "/CN=system:kube-controller-manager" clientAuth
cert scheduler ca "/CN=system:kube-scheduler" clientAuth
cert kube-proxy ca "/CN=system:kube-proxy" clientAuth
cert kubelet-client ca "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
cert kubelet-serving ca "/O=system:nodes/CN=system:node:$NODE_NAME" serverAuth "DNS:$NODE_NAME,IP:$NODE_IP"
cert coredns ca "/O=system:masters/CN=weft-coredns" clientAuth
rm -f ./*.srl

kubeconfig() { # kubeconfig FILE CERTNAME
  local f=$1 c=$2
  cat > "$f" <<KC
apiVersion: v1
kind: Config
clusters:
- name: weft-local
  cluster:
    server: https://$NODE_IP:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 < ca.crt)
users:
- name: $c
  user:
    client-certificate-data: $(base64 -w0 < "$c.crt")
    client-key-data: $(base64 -w0 < "$c.key")
contexts:
- name: weft-local
  context: {cluster: weft-local, user: $c}
current-context: weft-local
KC
  chmod 600 "$f"
}
kubeconfig "$KUBECONFIG_ADMIN" admin
for c in controller-manager scheduler kube-proxy kubelet-client coredns; do kubeconfig "$STATE_DIR/$c.kubeconfig" "$c"; done
log "PKI ready in $PKI"
