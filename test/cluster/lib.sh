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
# Every process cluster:up starts, in start order (its pid in pids/NAME, its output in logs/NAME.log).
COMPONENTS=(dockerd registry etcd kube-apiserver kube-controller-manager kube-scheduler sim)

say() { echo "[cluster] $*"; }

# pid_running PID: the process runs (a zombie, dead but not yet reaped, does not count).
pid_running() {
  kill -0 "$1" 2>/dev/null || return 1
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [[ $state != Z ]]
}

# pid_alive FILE: the process recorded in FILE is still running.
pid_alive() { [[ -f $1 ]] && pid_running "$(cat "$1")"; }

died() { [[ -f $CLUSTER_DIR/pids/$1 ]] && ! pid_alive "$CLUSTER_DIR/pids/$1"; }

# report_death NAME: which component died, and why as far as its log says.
report_death() {
  local name=$1
  say "$name (pid $(cat "$CLUSTER_DIR/pids/$name" 2>/dev/null)) is not running any more; last lines of $CLUSTER_DIR/logs/$name.log:" >&2
  tail -n 25 "$CLUSTER_DIR/logs/$name.log" 2>/dev/null | sed 's/^/    /' >&2 || true
}

# stop_pid FILE: stop the process recorded in FILE (and only it), then forget it.
stop_pid() {
  local f=$1 pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if pid_running "$pid"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do pid_running "$pid" || break; sleep 0.1; done
    # Killed, it is waited for too: whoever checks next must find it gone.
    if pid_running "$pid"; then
      kill -9 "$pid" 2>/dev/null || true
      # A killed process in uninterruptible sleep (dockerd unmounting) goes only when that ends.
      for _ in $(seq 300); do pid_running "$pid" || break; sleep 0.1; done
    fi
  fi
  rm -f "$f"
}
