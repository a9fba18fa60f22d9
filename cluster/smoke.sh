#!/usr/bin/env bash
# Smoke test of the loopback cluster: builds the binaries (build.sh, instant when
# cached), starts a cluster in a temporary folder, checks the control plane does its
# work, and stops it again. Exits non-zero on the first failed check.
#
#   cluster/smoke.sh             # KEEP=1 leaves the temp folder (logs) behind
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/versions.env"
say() { echo "cluster/smoke.sh: $*" >&2; }
passed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { echo "FAIL $*"; echo "$passed passed, 1 failed"; exit 1; }

bin=$("$here/build.sh")
dir=$(mktemp -d "${TMPDIR:-/tmp}/loopback-cluster-smoke.XXXXXX")
cleanup() {
  local rc=$?
  "$here/down.sh" "$dir" || rc=1
  if [ "${KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then say "state and logs kept in $dir"; else rm -rf "$dir"; fi
  exit $rc
}
trap cleanup EXIT

kc() { "$bin/kubectl" --kubeconfig="$dir/kubeconfig" "$@"; }
# until N cmd...: retry for N seconds, quietly
until_ok() { local n=$1; shift; for _ in $(seq $((n * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done; return 1; }

# --- versions
v=$("$bin/kube-apiserver" --version); [ "$v" = "Kubernetes $K8S_VERSION" ] && ok "kube-apiserver --version: $v" || bad "kube-apiserver --version: $v"
v=$("$bin/kube-controller-manager" --version); [ "$v" = "Kubernetes $K8S_VERSION" ] && ok "kube-controller-manager --version: $v" || bad "kube-controller-manager --version: $v"
v=$("$bin/kubectl" version --client -o json | grep '"gitVersion"' | head -1 | tr -d ' ,"'); [ "$v" = "gitVersion:$K8S_VERSION" ] && ok "kubectl version --client: $v" || bad "kubectl version --client: $v"
v=$("$bin/etcd" --version | head -1); [ "$v" = "etcd Version: ${ETCD_VERSION#v}" ] && ok "etcd --version: $v" || bad "etcd --version: $v"

# --- start
start=$(date +%s)
CLUSTER_BIN=$bin "$here/up.sh" "$dir" >/dev/null || bad "up.sh $dir"
. "$dir/cluster.env"
ok "up.sh started the cluster in $(( $(date +%s) - start ))s at $APISERVER (Service range $SERVICE_CIDR)"
for c in etcd kube-apiserver kube-controller-manager; do
  pid=$(cat "$dir/run/$c.pid")
  addrs=$(ss -Hltnp 2>/dev/null | grep "pid=$pid," | awk '{print $4}' | sort -u | tr '\n' ' ')
  [ -n "$addrs" ] || bad "$c listens nowhere?"
  for a in $addrs; do case $a in 127.0.0.1:*) ;; *) bad "$c listens on $a, not loopback only" ;; esac; done
  ok "$c (pid $pid) listens on loopback only: $addrs"
done
kc get --raw /readyz >/dev/null && ok "/readyz ok" || bad "/readyz"
[ "$(kc get --raw /version | grep '"gitVersion"' | tr -d ' ,"')" = "gitVersion:$K8S_VERSION" ] && ok "/version is $K8S_VERSION" || bad "/version"
kc get --raw /readyz --server="https://localhost:$APISERVER_PORT" >/dev/null && ok "the serving cert is valid for localhost too" || bad "TLS for localhost"

# --- nodes
kc get nodes -L topology.kubernetes.io/zone -L kubernetes.io/hostname
nodes=$(kc get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.labels.topology\.kubernetes\.io/zone}/{.metadata.labels.kubernetes\.io/hostname} {end}')
[ "$nodes" = "node-a=zone-a/node-a node-b=zone-b/node-b node-c=zone-c/node-c " ] && ok "three nodes with zones and hostnames: $nodes" || bad "nodes: $nodes"
ready=$(kc get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{end}')
[ -z "$ready" ] && ok "no node has a Ready condition (no kubelet)" || bad "Ready conditions: $ready"

# --- controllers
kc create namespace smoke >/dev/null
until_ok 30 kc -n smoke get serviceaccount default && ok "serviceaccount controller made smoke/default" || bad "no ServiceAccount smoke/default"
until_ok 30 kc -n smoke get configmap kube-root-ca.crt && ok "root-ca publisher made smoke/kube-root-ca.crt" || bad "no kube-root-ca.crt"
kc -n smoke create deployment web --image=registry.invalid/never-pulled:1 --replicas=2 >/dev/null
rs_ready() { [ "$(kc -n smoke get rs -l app=web -o jsonpath='{.items[0].metadata.ownerReferences[0].kind}/{.items[0].metadata.ownerReferences[0].name}')" = Deployment/web ]; }
until_ok 60 rs_ready && ok "deployment controller made ReplicaSet $(kc -n smoke get rs -l app=web -o name) owned by Deployment/web" || bad "no ReplicaSet for Deployment web"
two_pods() { [ "$(kc -n smoke get pods -l app=web -o jsonpath='{range .items[*]}{.status.phase}{" "}{end}')" = "Pending Pending " ]; }
until_ok 60 two_pods && ok "replicaset controller made 2 Pods, both Pending" || bad "pods: $(kc -n smoke get pods -o wide 2>&1)"
kc -n smoke get deploy,rs,pods -o wide
owner=$(kc -n smoke get pods -l app=web -o jsonpath='{.items[0].metadata.ownerReferences[0].kind}')
[ "$owner" = ReplicaSet ] && ok "the Pods are owned by the ReplicaSet" || bad "pod owner: $owner"
vol=$(kc -n smoke get pods -l app=web -o jsonpath='{.items[0].spec.volumes[0].name}')
[[ $vol == kube-api-access-* ]] && ok "ServiceAccount admission mounted $vol" || bad "no kube-api-access volume: $vol"
kc -n kube-system get serviceaccount replicaset-controller deployment-controller >/dev/null \
  && ok "--use-service-account-credentials: kube-system has the controllers' own ServiceAccounts" || bad "no controller ServiceAccounts"
tok=$(kc -n smoke create token default --duration=10m)
who=$("$bin/kubectl" --kubeconfig=/dev/null --server="$APISERVER" --certificate-authority="$dir/pki/ca.crt" \
      --token="$tok" auth whoami -o jsonpath='{.status.userInfo.username}')
[ "$who" = system:serviceaccount:smoke:default ] \
  && ok "a TokenRequest token signed with the SA key authenticates as $who" || bad "SA token authenticates as '$who'"
kc -n smoke delete deployment web >/dev/null
gone() { [ -z "$(kc -n smoke get rs,pods -o name 2>/dev/null)" ]; }
until_ok 60 gone \
  && ok "garbage collector removed the ReplicaSet and Pods" || bad "ReplicaSet/Pods left after deleting the Deployment"

# --- RBAC (can-i prints the authorizer's reason after a "no": keep the first word)
can() { kc auth can-i "$@" 2>/dev/null | awk '{print $1; exit}'; }
[ "$(can '*' '*')" = yes ] && ok "auth can-i '*' '*' as admin: yes" || bad "admin is not cluster-admin"
sa=system:serviceaccount:smoke:default
[ "$(can list pods -n smoke --as=$sa)" = no ] && ok "auth can-i list pods as $sa: no" || bad "$sa can list pods before any binding"
kc -n smoke create role pod-reader --verb=get,list,watch --resource=pods >/dev/null
kc -n smoke create rolebinding pod-reader --role=pod-reader --serviceaccount=smoke:default >/dev/null
sa_can_list() { [ "$(can list pods -n smoke --as=$sa)" = yes ]; }
until_ok 10 sa_can_list \
  && ok "after a RoleBinding, auth can-i list pods as $sa: yes" || bad "RoleBinding not honoured"
[ "$(can list pods -n default --as=$sa)" = no ] && ok "...and still no in namespace default" || bad "RoleBinding leaks to default"
node_can() { can "$@" --as=system:node:node-a --as-group=system:nodes; }
[ "$(node_can get nodes/node-a)" = yes ] && [ "$(node_can get nodes/node-b)" = no ] && [ "$(node_can update nodes/node-b --subresource=status)" = yes ] \
  && ok "Node authorizer: system:node:node-a may get node-a, not node-b" || bad "Node authorizer"

echo "$passed passed, 0 failed"
