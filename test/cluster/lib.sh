# Shared settings and helpers for the local cluster scripts (sourced, not run).
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLUSTER_DIR=${MEDAUDIT_CLUSTER_DIR:-$repo/.cluster}
CACHE=${MEDAUDIT_CACHE:-$HOME/.cache/medaudit-deploy}
K8S_VERSION=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$repo/test/cluster/build/go.mod")
BIN="$CACHE/$K8S_VERSION/bin"
REGISTRY=127.0.0.1:5000
APISERVER_PORT=${MEDAUDIT_APISERVER_PORT:-6443}
ETCD_PORT=${MEDAUDIT_ETCD_PORT:-23790}
NODES=${MEDAUDIT_NODES:-3}

say() { echo "[cluster] $*"; }

# pid_alive FILE: the process recorded in FILE is still running.
pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid FILE: stop the process recorded in FILE (and only it), then forget it.
stop_pid() {
  local f=$1 pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}
