#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl (k8s.io/kubernetes) and etcd
# (go.etcd.io/etcd/server/v3) from the Go module proxy, through the wrapper modules in
# k8s/ and etcd/ beside this script, once per machine, and prints the folder holding
# the four binaries. No binary is downloaded: everything is compiled from source.
#
#   BIN=$(cluster/build.sh)      # first run ~10 min on 2 busy cores (9m50s here), then instant
#   "$BIN/kube-apiserver" --version; "$BIN/etcd" --version
#
# CLUSTER_HOME (default ~/.cache/linkerd-ha-cluster-<k8s>-etcd-<etcd>) holds bin/,
# build.log and build-times.txt. The Go build cache is the machine's usual one (about
# 4 GB after this build; `go clean -cache` reclaims it), and the module cache gets
# about 0.9 GB. Later runs print the path at once. Progress and build times go to stderr;
# the path, and only the path, goes to stdout. Builds run under `nice -n 19`.
# Versions come from versions.env; k8s/go.mod and etcd/go.mod are generated from them
# by gen-replaces.sh and are built read-only (-mod=readonly), so they must be complete.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
home="${CLUSTER_HOME:-$HOME/.cache/linkerd-ha-cluster-$K8S_VERSION-etcd-$ETCD_VERSION}"
bin="$home/bin"
say() { echo "cluster/build.sh: $*" >&2; }
die() { say "$*"; exit 1; }

cached() {
  [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kube-controller-manager" ] \
    && [ -x "$bin/kubectl" ] && [ -x "$bin/etcd" ] \
    && [ "$("$bin/kube-apiserver" --version 2>/dev/null)" = "Kubernetes $K8S_VERSION" ] \
    && [ "$("$bin/etcd" --version 2>/dev/null | head -1)" = "etcd Version: ${ETCD_VERSION#v}" ]
}
if cached; then echo "$bin"; exit 0; fi

command -v go >/dev/null || die "go not found (Go >= 1.26 is needed)"
# The wrappers must pin what versions.env says (regenerate with gen-replaces.sh).
grep -qx "require k8s.io/kubernetes $K8S_VERSION\|[[:space:]]k8s.io/kubernetes $K8S_VERSION\( // indirect\)\?" "$here/k8s/go.mod" \
  || die "k8s/go.mod does not pin k8s.io/kubernetes $K8S_VERSION: run cluster/gen-replaces.sh k8s"
grep -qx "require go.etcd.io/etcd/server/v3 $ETCD_VERSION\|[[:space:]]go.etcd.io/etcd/server/v3 $ETCD_VERSION\( // indirect\)\?" "$here/etcd/go.mod" \
  || die "etcd/go.mod does not pin go.etcd.io/etcd/server/v3 $ETCD_VERSION: run cluster/gen-replaces.sh etcd"
# If a release's go.mod ever asks for a Go newer than the machine's, the module proxy
# serves go1.27.3: use it (a machine ignores go.mod's toolchain line otherwise).
need_go=$(awk '$1 == "go" { print $2; exit }' "$here/k8s/go.mod" "$here/etcd/go.mod" | sort -V | tail -1)
have_go=$(go env GOVERSION); have_go=${have_go#go}
if [ "$(printf '%s\n%s\n' "$need_go" "$have_go" | sort -V | head -1)" != "$need_go" ]; then
  say "go.mod needs Go $need_go, the machine has $have_go: using GOTOOLCHAIN=go1.27.3"
  export GOTOOLCHAIN=go1.27.3
fi

mkdir -p "$bin"
tmp="$home/tmp"; rm -rf "$tmp"; mkdir -p "$tmp"
log="$home/build.log"; : >"$log"
export CGO_ENABLED=0
build_date=$(date -u +'%Y-%m-%dT%H:%M:%SZ')

# The ldflags of kubernetes' hack/lib/version.sh, for both version packages. The module
# zip carries no git commit, so gitCommit and gitTreeState stay empty rather than lie.
k8s_minor=${K8S_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
k8s_ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  k8s_ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState= -X $pkg.buildDate=$build_date"
done
# etcd's version is a constant of go.etcd.io/etcd/api/v3/version, so it needs no
# ldflag; its GitSHA ldflag is left alone, since the module zip carries no commit
# (etcd --version then says "Git SHA: Not provided (use ./build instead of go build)").
etcd_ldflags="-s -w"

times=()
build_one() { # name wrapper-dir package ldflags
  local name=$1 dir=$2 pkg=$3 ldflags=$4 start secs
  say "building $name ($pkg) (log: $log)"
  start=$(date +%s)
  if ! ( cd "$dir" && nice -n 19 go build -mod=readonly -trimpath -ldflags "$ldflags" \
           -o "$tmp/$name" "$pkg" ) >>"$log" 2>&1; then
    tail -30 "$log" >&2; die "building $name failed"
  fi
  secs=$(( $(date +%s) - start ))
  times+=("$name $((secs / 60))m$((secs % 60))s")
  say "built $name in $((secs / 60))m$((secs % 60))s"
}

total_start=$(date +%s)
build_one etcd "$here/etcd" go.etcd.io/etcd/server/v3 "$etcd_ldflags"
build_one kube-apiserver "$here/k8s" k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
build_one kube-controller-manager "$here/k8s" k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"
build_one kubectl "$here/k8s" k8s.io/kubernetes/cmd/kubectl "$k8s_ldflags"
install -m 0755 "$tmp/etcd" "$tmp/kube-apiserver" "$tmp/kube-controller-manager" "$tmp/kubectl" "$bin/"
rm -rf "$tmp"
total=$(( $(date +%s) - total_start ))
say "build times (a shared Go build cache: later binaries reuse earlier packages):"
for t in "${times[@]}"; do say "  $t"; done
say "  total $((total / 60))m$((total % 60))s"
{ echo "# $(date -u +%FT%TZ) on $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(go env GOVERSION)"
  printf '%s\n' "${times[@]}" "total $((total / 60))m$((total % 60))s"; } >>"$home/build-times.txt"
cached || die "the binaries in $bin do not report $K8S_VERSION / etcd ${ETCD_VERSION#v}"
echo "$bin"
