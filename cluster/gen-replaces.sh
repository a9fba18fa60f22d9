#!/usr/bin/env bash
# Regenerates the two wrapper modules, k8s/go.mod and etcd/go.mod (+ go.sum), from the
# pinned versions in versions.env and from each release's OWN go.mod, as the module
# proxy serves it:
#
#   k8s/   requires k8s.io/kubernetes $K8S_VERSION. That release's go.mod replaces every
#          staging module with ./staging/src/k8s.io/<name>, and a dependency's replaces
#          are ignored, so each of those lines becomes
#          `k8s.io/<name> => k8s.io/<name> v0.<minor>.<patch>` here.
#   etcd/  requires go.etcd.io/etcd/server/v3 $ETCD_VERSION. Its go.mod replaces its
#          sibling modules with ../api, ../client/v3, ...; each of those becomes
#          `<module> => <module> $ETCD_VERSION`.
#
# Every replacement target is checked against the module proxy first. One the proxy
# refuses is left out, with a comment, only when the release's go.mod does not require
# it (it is then outside the build graph); otherwise the script stops and names it.
# Then `go mod tidy` completes go.mod/go.sum, and the versions the wrapper selects are
# compared with the release's own go.mod (drift is printed, not fatal).
#
#   ./gen-replaces.sh            # both
#   ./gen-replaces.sh k8s        # or: etcd
#
# Needs only the go command and the module proxy. Progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
say() { echo "gen-replaces.sh: $*" >&2; }
die() { say "$*"; exit 1; }
command -v go >/dev/null || die "go not found"

# go.mod of MODULE@VERSION from the proxy (through the module cache); prints its path.
release_gomod() {
  local gomod
  gomod=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "$1@$2" \
          | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [ -n "$gomod" ] && [ -f "$gomod" ] || die "the module proxy gave no go.mod for $1@$2"
  echo "$gomod"
}

# "old new" pairs of the replace directives of a go.mod whose target is a local path
# (./x or ../x), from both `replace ( ... )` blocks and one-line `replace a => b`.
local_replaces() {
  awk '
    /^replace[[:space:]]*\(/ { inblock = 1; next }
    inblock && /^\)/         { inblock = 0; next }
    { line = $0; sub(/\/\/.*/, "", line) }
    inblock && line ~ /=>/   { split(line, f, /[[:space:]]*=>[[:space:]]*/); emit(f[1], f[2]); next }
    line ~ /^replace[[:space:]].*=>/ {
      sub(/^replace[[:space:]]+/, "", line)
      split(line, f, /[[:space:]]*=>[[:space:]]*/); emit(f[1], f[2])
    }
    function emit(old, new) {
      gsub(/^[[:space:]]+|[[:space:]]+$/, "", old); gsub(/^[[:space:]]+|[[:space:]]+$/, "", new)
      split(old, o, /[[:space:]]+/)                  # drop a version on the left, if any
      if (new ~ /^\.\.?\//) print o[1], new
    }' "$1"
}

# Is MODULE required (at any version) by the go.mod at PATH?
required_by() {
  awk -v m="$1" '
    /^require[[:space:]]*\(/ { inblock = 1; next }
    inblock && /^\)/         { inblock = 0; next }
    inblock && $1 == m       { found = 1 }
    /^require[[:space:]]/ && $2 == m { found = 1 }
    END { exit !found }' "$2"
}

served() { (cd "$(mktemp -d)" && go list -m "$1@$2" >/dev/null 2>&1); }

# Prints go/godebug lines of a release go.mod, so the wrapper builds with the
# same language version and GODEBUG defaults as the release.
go_lines() { grep -E '^(go|godebug)[[:space:]]' "$1" || true; }

# Compare the wrapper's selected versions with what the release go.mod lists.
report_drift() { # dir release-gomod
  local n=0
  while read -r mod ver; do
    want=$(awk -v m="$mod" '($1 == m && $2 ~ /^v/) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' "$2")
    if [ -n "$want" ] && [ "$want" != "v0.0.0" ] && [ "$want" != "$ver" ]; then
      say "  drift: $mod release=$want wrapper=$ver"; n=$((n + 1))
    fi
  done < <(cd "$1" && go list -m -f '{{.Path}} {{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' all 2>/dev/null | tail -n +2)
  say "  $n module(s) differ from the release's go.mod"
}

tidy() { # dir
  say "go mod tidy in $1"
  (cd "$1" && nice -n 19 go mod tidy) >&2
}

gen_k8s() {
  local V=$K8S_VERSION dir=$here/k8s gomod
  [[ $V =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || die "K8S_VERSION must be v1.X.Y, not $V"
  local SV="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
  gomod=$(release_gomod k8s.io/kubernetes "$V")
  say "k8s.io/kubernetes $V: go.mod at $gomod; staging modules at $SV"
  local reps=() skipped=() mod path
  while read -r mod path; do
    case $path in ./staging/src/*) ;; *) die "unexpected local replace in k8s.io/kubernetes $V: $mod => $path" ;; esac
    if served "$mod" "$SV"; then
      reps+=("$mod => $mod $SV")
    elif required_by "$mod" "$gomod"; then
      die "the module proxy refuses $mod@$SV, which k8s.io/kubernetes $V requires"
    else
      say "  the module proxy refuses $mod@$SV; k8s.io/kubernetes $V does not require it, so no replace"
      skipped+=("$mod@$SV")
    fi
  done < <(local_replaces "$gomod")
  [ ${#reps[@]} -gt 0 ] || die "no staging replaces found in k8s.io/kubernetes $V go.mod"
  say "  ${#reps[@]} staging replaces"
  mkdir -p "$dir"
  {
    echo "// Generated by ../gen-replaces.sh from k8s.io/kubernetes $V's own go.mod. Do not edit;"
    echo "// change versions.env and run ../gen-replaces.sh k8s."
    echo "module kubewarden-e2e/cluster/k8s"
    echo
    go_lines "$gomod"
    echo
    echo "tool ("
    printf '\tk8s.io/kubernetes/cmd/%s\n' kube-apiserver kube-controller-manager kubectl
    echo ")"
    echo
    echo "require k8s.io/kubernetes $V"
    echo
    echo "// Every ./staging/src replace of k8s.io/kubernetes $V, pointed at the published $SV."
    for s in "${skipped[@]}"; do
      echo "// Not replaced: $s is refused by the module proxy, and k8s.io/kubernetes $V does not require it."
    done
    echo "replace ("
    printf '\t%s\n' "${reps[@]}"
    echo ")"
  } >"$dir/go.mod"
  rm -f "$dir/go.sum"
  tidy "$dir"
  report_drift "$dir" "$gomod"
}

gen_etcd() {
  local V=$ETCD_VERSION dir=$here/etcd gomod mod path
  gomod=$(release_gomod go.etcd.io/etcd/server/v3 "$V")
  say "go.etcd.io/etcd/server/v3 $V: go.mod at $gomod"
  local reps=() skipped=()
  while read -r mod path; do
    case $path in
      */FORBIDDEN_DEPENDENCY) skipped+=("$mod => $path (a guard against bad imports; not needed outside the etcd repo)"); continue ;;
    esac
    if served "$mod" "$V"; then
      reps+=("$mod => $mod $V")
    else
      die "the module proxy refuses $mod@$V, which go.etcd.io/etcd/server/v3 $V replaces with $path"
    fi
  done < <(local_replaces "$gomod")
  say "  ${#reps[@]} sibling-module replaces"
  mkdir -p "$dir"
  {
    echo "// Generated by ../gen-replaces.sh from go.etcd.io/etcd/server/v3 $V's own go.mod. Do not edit;"
    echo "// change versions.env and run ../gen-replaces.sh etcd."
    echo "module kubewarden-e2e/cluster/etcd"
    echo
    go_lines "$gomod" | grep -v '^toolchain' || true
    echo
    echo "tool go.etcd.io/etcd/server/v3"
    echo
    echo "require go.etcd.io/etcd/server/v3 $V"
    echo
    echo "// The relative replaces of go.etcd.io/etcd/server/v3 $V, pointed at the published $V."
    for s in "${skipped[@]}"; do echo "// Left out: $s"; done
    echo "replace ("
    printf '\t%s\n' "${reps[@]}"
    echo ")"
  } >"$dir/go.mod"
  rm -f "$dir/go.sum"
  tidy "$dir"
  report_drift "$dir" "$gomod"
}

case "${1:-all}" in
  k8s) gen_k8s ;;
  etcd) gen_etcd ;;
  all) gen_k8s; gen_etcd ;;
  *) die "usage: $0 [k8s|etcd|all]" ;;
esac
say "done"
