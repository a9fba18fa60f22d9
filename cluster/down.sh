#!/usr/bin/env bash
# Stops what cluster/up.sh DIR started, from its pid files in DIR/run, in reverse order
# (controller manager, apiserver, etcd): SIGTERM, then SIGKILL after 15 s. A pid is
# signalled only while it still runs the binary that up.sh started, so a recycled pid
# is never hit. Safe to call twice, and on a DIR where up.sh failed half way. State,
# certificates and logs stay in DIR (up.sh DIR restarts on them; rm -rf DIR to forget).
set -euo pipefail
say() { echo "cluster/down.sh: $*" >&2; }
[ $# -eq 1 ] || { say "usage: $0 DIR"; exit 2; }
[ -d "$1" ] || { say "$1: no such directory, nothing to stop"; exit 0; }
run="$(cd "$1" && pwd)/run"

ours() { # pid name: is pid alive and running the binary called name?
  local exe
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  [ "$(basename "${exe% (deleted)}")" = "$2" ]
}

for name in kube-controller-manager kube-apiserver etcd; do
  f="$run/$name.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if [[ $pid =~ ^[0-9]+$ ]] && ours "$pid" "$name"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do ours "$pid" "$name" || break; sleep 0.1; done
    if ours "$pid" "$name"; then
      say "$name (pid $pid) ignored SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 50); do ours "$pid" "$name" || break; sleep 0.1; done
    fi
    say "stopped $name (pid $pid)"
  fi
  rm -f "$f"
done
