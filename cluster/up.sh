#!/usr/bin/env bash
# Starts a real Kubernetes control plane on loopback, with all its state in DIR:
# etcd, kube-apiserver (TLS, Node,RBAC, default admission plugins, service-account
# signing) and kube-controller-manager. No kubelet, no scheduler: Pods are stored and
# stay Pending. Three Nodes are created, node-a/b/c in zone-a/b/c.
#
#   cluster/up.sh DIR            # prints DIR/kubeconfig on stdout when ready
#   KUBECONFIG=DIR/kubeconfig kubectl get nodes
#   cluster/down.sh DIR
#
# DIR gets: kubeconfig (admin, client cert), cluster.env (ports, binaries), pki/,
# etcd/ (data), logs/ (with the apiserver's audit log, logs/audit.log: JSON lines,
# policy in audit-policy.yaml), run/*.pid. Every server listens on 127.0.0.1 only, on free ports
# picked under a lock, so several clusters can run side by side. Each cluster's
# Service ClusterIPs come from its own loopback /24 (127.<hi>.<lo>.0/24, from the
# apiserver port), so nothing in the cluster ever points at a non-loopback address.
#
# Environment:
#   CLUSTER_BIN       folder with the binaries (default: the output of build.sh)
#   KCM_CONTROLLERS   --controllers of kube-controller-manager (default below)
#   UP_TIMEOUT        seconds to wait for readiness (default 120)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
say() { echo "cluster/up.sh: $*" >&2; }
die() { say "$*"; exit 1; }
[ $# -eq 1 ] || die "usage: $0 DIR"
mkdir -p "$1"
dir="$(cd "$1" && pwd)"
timeout_s="${UP_TIMEOUT:-120}"
# All controllers that kube-controller-manager turns on by default, except the node
# lifecycle controller: with no kubelet it would mark every Node NotReady/unreachable,
# taint it NoSchedule+NoExecute, and have bound Pods evicted after 5 minutes.
controllers="${KCM_CONTROLLERS:-*,-node-lifecycle-controller}"

if [ -f "$dir/run/kube-apiserver.pid" ] && kill -0 "$(cat "$dir/run/kube-apiserver.pid")" 2>/dev/null; then
  die "a cluster is already running in $dir (cluster/down.sh $dir first)"
fi

bin="${CLUSTER_BIN:-$("$here/build.sh")}"
for b in etcd kube-apiserver kube-controller-manager kubectl; do
  [ -x "$bin/$b" ] || die "$bin/$b is missing"
done
command -v openssl >/dev/null || die "openssl not found"

pki="$dir/pki" logs="$dir/logs" run="$dir/run"
mkdir -p "$pki" "$logs" "$run" "$dir/etcd"
chmod 700 "$pki" "$dir/etcd"

# On any failure: show the logs' tails and stop whatever was started.
started=0 ok=0
on_exit() {
  local rc=$?
  [ "$ok" = 1 ] && return 0
  for c in etcd kube-apiserver kube-controller-manager; do
    [ -s "$logs/$c.log" ] && { say "--- last lines of $logs/$c.log"; tail -15 "$logs/$c.log" >&2; }
  done
  [ "$started" = 1 ] && { "$here/down.sh" "$dir" >&2 || true; }
  say "failed (exit $rc)"
}
trap on_exit EXIT
fail() { say "$*"; exit 1; }

# ---------------------------------------------------------------- certificates
# A cluster CA (client certs: admin, controller manager; the apiserver's serving cert,
# made below once the port is known), a front-proxy CA with the apiserver's proxy
# client cert (as kubeadm makes them: aggregated APIs and the controller manager's
# delegated authentication read it from kube-system/extension-apiserver-authentication),
# and the service-account key pair. All RSA 2048, valid 10 years.
new_ca() { # name CN
  printf '[req]\ndistinguished_name = dn\n[dn]\n[v3_ca]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign, digitalSignature\nsubjectKeyIdentifier = hash\n' >"$pki/$1.cnf"
  openssl genrsa -out "$pki/$1.key" 2048 2>/dev/null
  openssl req -x509 -new -key "$pki/$1.key" -subj "/CN=$2" -days 3650 -sha256 \
    -config "$pki/$1.cnf" -extensions v3_ca -out "$pki/$1.crt" 2>/dev/null
  rm -f "$pki/$1.cnf"
}
sign() { # ca name subject ext-lines...
  local ca=$1 name=$2 subj=$3; shift 3
  printf '%s\n' "$@" >"$pki/$name.ext"
  openssl genrsa -out "$pki/$name.key" 2048 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/$ca.crt" -CAkey "$pki/$ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 \
    -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}
client_ext=("basicConstraints = critical, CA:FALSE" "keyUsage = critical, digitalSignature, keyEncipherment"
            "extendedKeyUsage = clientAuth")
if [ ! -s "$pki/sa.pub" ]; then   # made last: its absence means start afresh
  say "making certificates in $pki"
  new_ca ca loopback-cluster-ca
  sign ca admin "/O=system:masters/CN=kubernetes-admin" "${client_ext[@]}"
  sign ca kube-controller-manager "/CN=system:kube-controller-manager" "${client_ext[@]}"
  new_ca front-proxy-ca front-proxy-ca
  sign front-proxy-ca front-proxy-client "/CN=front-proxy-client" "${client_ext[@]}"
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
fi

# ---------------------------------------------------------------- ports
lock="${TMPDIR:-/tmp}/loopback-cluster-ports.lock"
exec 9>"$lock"
flock -w 120 9 || die "could not take $lock"
port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
picked=" "
pick_port() { # VAR: sets VAR to a free port not picked before (no subshell: $picked)
  local p
  for _ in $(seq 500); do
    p=$((20000 + RANDOM % 12000))      # below the ephemeral range (32768+)
    case $picked in *" $p "*) continue ;; esac
    if port_free "$p"; then picked+="$p "; printf -v "$1" '%s' "$p"; return 0; fi
  done
  fail "found no free port"
}
# A restart in the same DIR keeps its ports (the Service range and the SA issuer
# derive from the apiserver port, and etcd already holds objects made with them).
if [ -s "$dir/cluster.env" ] && [ -s "$dir/etcd/member/snap/db" ]; then
  etcd_port=$(sed -n 's/^ETCD_PORT=//p' "$dir/cluster.env"); peer_port=$(sed -n 's/^ETCD_PEER_PORT=//p' "$dir/cluster.env")
  api_port=$(sed -n 's/^APISERVER_PORT=//p' "$dir/cluster.env"); kcm_port=$(sed -n 's/^KCM_PORT=//p' "$dir/cluster.env")
  for p in "$etcd_port" "$peer_port" "$api_port" "$kcm_port"; do
    port_free "$p" || fail "port $p of the cluster state in $dir is taken now; remove $dir to start afresh"
  done
  say "restarting the cluster state in $dir on its ports"
else
  pick_port etcd_port; pick_port peer_port; pick_port api_port; pick_port kcm_port
fi
svc_cidr="127.$(( (api_port >> 8) & 255 )).$(( api_port & 255 )).0/24"
svc_ip="127.$(( (api_port >> 8) & 255 )).$(( api_port & 255 )).1"
server="https://127.0.0.1:$api_port"

# The serving cert names this cluster's port-derived kubernetes Service IP too.
sign ca kube-apiserver "/CN=kube-apiserver" \
  "basicConstraints = critical, CA:FALSE" "keyUsage = critical, digitalSignature, keyEncipherment" \
  "extendedKeyUsage = serverAuth" \
  "subjectAltName = IP:127.0.0.1, DNS:localhost, IP:$svc_ip, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local"

kubeconfig() { # file user
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: loopback
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 "$pki/$2.crt")
    client-key-data: $(base64 -w0 "$pki/$2.key")
contexts:
- name: $2@loopback
  context: {cluster: loopback, user: $2}
current-context: $2@loopback
EOF
  chmod 600 "$1"
}
kubeconfig "$dir/kube-controller-manager.kubeconfig" kube-controller-manager
kubeconfig "$dir/kubeconfig.tmp" admin

cat >"$dir/cluster.env" <<EOF
CLUSTER_BIN=$bin
AUDIT_LOG=$logs/audit.log
KUBECONFIG=$dir/kubeconfig
APISERVER=$server
APISERVER_PORT=$api_port
ETCD_PORT=$etcd_port
ETCD_PEER_PORT=$peer_port
KCM_PORT=$kcm_port
SERVICE_CIDR=$svc_cidr
EOF

# ---------------------------------------------------------------- audit
# The apiserver's audit log, kept cheap: every write (create, update, patch, delete)
# at Metadata level, so each event carries who did what and the admission webhooks'
# audit annotations (`<webhook name>/<key>`, plus the apiserver's own
# `mutation.webhook.admission.k8s.io/...` and `failed-open...` ones), but no bodies.
# Reads only by service accounts outside kube-system (a webhook's lookups, made with
# its token); the controllers' and the admin's reads, and lease heartbeats, are not
# logged. No RequestReceived stage: one event per request (a watch also gets
# ResponseStarted).
cat >"$dir/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    resources: [{group: coordination.k8s.io, resources: [leases]}]
  - level: Metadata
    verbs: [create, update, patch, delete, deletecollection]
  - level: None
    userGroups: ["system:serviceaccounts:kube-system"]
  - level: Metadata
    verbs: [get, list, watch]
    userGroups: ["system:serviceaccounts"]
  - level: None
POLICY

# ---------------------------------------------------------------- processes
start() { # name args...   (fd 9, the port lock, is not inherited)
  local name=$1; shift
  nohup "$bin/$name" "$@" >"$logs/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$run/$name.pid"
  started=1
  say "started $name (pid $!, log $logs/$name.log)"
}
wait_listen() { # name port
  local _
  for _ in $(seq $((timeout_s * 5))); do
    ss -Hltn "sport = :$2" 2>/dev/null | grep -q 127.0.0.1 && return 0
    kill -0 "$(cat "$run/$1.pid")" 2>/dev/null || fail "$1 exited"
    sleep 0.2
  done
  fail "$1 did not listen on 127.0.0.1:$2 within ${timeout_s}s"
}

start etcd \
  --name=default --data-dir="$dir/etcd" \
  --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
  --listen-peer-urls="http://127.0.0.1:$peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
  --initial-cluster="default=http://127.0.0.1:$peer_port" --initial-cluster-state=new \
  --unsafe-no-fsync --log-level=warn
wait_listen etcd "$etcd_port"

start kube-apiserver \
  --etcd-servers="http://127.0.0.1:$etcd_port" \
  --bind-address=127.0.0.1 --secure-port="$api_port" \
  --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
  --cert-dir="$dir/apiserver-certs" \
  --tls-cert-file="$pki/kube-apiserver.crt" --tls-private-key-file="$pki/kube-apiserver.key" \
  --client-ca-file="$pki/ca.crt" \
  --requestheader-client-ca-file="$pki/front-proxy-ca.crt" \
  --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
  --authorization-mode=Node,RBAC \
  --service-account-key-file="$pki/sa.pub" \
  --service-account-signing-key-file="$pki/sa.key" \
  --service-account-issuer="$server" \
  --service-cluster-ip-range="$svc_cidr" \
  --audit-policy-file="$dir/audit-policy.yaml" --audit-log-path="$logs/audit.log" \
  --audit-log-format=json --audit-log-maxsize=100 --audit-log-maxbackup=1 \
  --allow-privileged=true --profiling=false
wait_listen kube-apiserver "$api_port"

kc() { "$bin/kubectl" --kubeconfig="$dir/kubeconfig.tmp" "$@"; }
wait_for() { # description command...
  local _
  for _ in $(seq $((timeout_s * 2))); do
    "${@:2}" >/dev/null 2>&1 && return 0
    for c in etcd kube-apiserver kube-controller-manager; do
      [ -f "$run/$c.pid" ] || continue
      kill -0 "$(cat "$run/$c.pid")" 2>/dev/null || fail "$c exited while waiting for $1"
    done
    sleep 0.5
  done
  fail "timed out after ${timeout_s}s waiting for $1"
}
# The controller manager reads kube-system/extension-apiserver-authentication at
# start, which RBAC allows only once the apiserver has bootstrapped its policy.
say "waiting for /readyz"
wait_for "/readyz" kc get --raw /readyz

start kube-controller-manager \
  --kubeconfig="$dir/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig="$dir/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig="$dir/kube-controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$kcm_port" --cert-dir="$dir/kcm-certs" \
  --service-account-private-key-file="$pki/sa.key" \
  --root-ca-file="$pki/ca.crt" \
  --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
  --use-service-account-credentials=true \
  --service-cluster-ip-range="$svc_cidr" \
  --controllers="$controllers" \
  --flex-volume-plugin-dir="$dir/flexvolume" \
  --leader-elect=false --profiling=false
wait_listen kube-controller-manager "$kcm_port"
exec 9>&-   # every port is bound: release the lock

say "waiting for the default namespaces and ServiceAccount"
for ns in default kube-system kube-public kube-node-lease; do
  wait_for "namespace $ns" kc get namespace "$ns"
done
wait_for "ServiceAccount default/default" kc -n default get serviceaccount default

for z in a b c; do
  kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: node-$z
  labels:
    kubernetes.io/hostname: node-$z
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/zone: zone-$z
EOF
done
mv "$dir/kubeconfig.tmp" "$dir/kubeconfig"
ok=1
say "ready: $server (kubeconfig $dir/kubeconfig, nodes node-a/b/c)"
echo "$dir/kubeconfig"
