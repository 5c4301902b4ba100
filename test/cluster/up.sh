#!/usr/bin/env bash
# Starts the local cluster: upstream etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler, simulated nodes, an OCI registry on 127.0.0.1:5000 and a Docker engine.
# Idempotent: whatever already runs is kept; a component that died (pid file left, process gone)
# is reported with the end of its log and started again. Writes $CLUSTER_DIR/kubeconfig and env.
#   up.sh [--restart NAME]...   first stops NAME (one of $COMPONENTS, by its pid), then starts it again
set -euo pipefail
source "$(dirname "$0")/lib.sh"
t_start=$(date +%s.%N)
restart=()
while (($#)); do
  case $1 in
    --restart)
      [[ " ${COMPONENTS[*]} " == *" ${2:-} "* ]] || { echo "up.sh: --restart takes one of: ${COMPONENTS[*]}" >&2; exit 2; }
      restart+=("$2"); shift 2 ;;
    *) echo "usage: up.sh [--restart NAME]..." >&2; exit 2 ;;
  esac
done
mkdir -p "$CLUSTER_DIR"/{pids,logs,pki}
chmod 700 "$CLUSTER_DIR"
for name in "${restart[@]}"; do
  say "stopping $name to restart it"
  stop_pid "$CLUSTER_DIR/pids/$name"
done

ensure_packages() {
  local need=()
  command -v dockerd >/dev/null || need+=(docker.io)
  command -v docker-registry >/dev/null || need+=(docker-registry)
  [[ -x /bin/busybox ]] || need+=(busybox-static)
  command -v openssl >/dev/null || need+=(openssl)
  command -v curl >/dev/null || need+=(curl)
  ((${#need[@]})) || return 0
  say "installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

# start NAME CMD...: run CMD in the background, logging to logs/NAME.log, pid in pids/NAME.
start() {
  local name=$1; shift
  if pid_alive "$CLUSTER_DIR/pids/$name"; then say "$name already running (pid $(cat "$CLUSTER_DIR/pids/$name"))"; return 0; fi
  if died "$name"; then
    report_death "$name"
    say "restarting $name"
    echo "--- $(date -u +%FT%TZ) restarted by up.sh after it died" >>"$CLUSTER_DIR/logs/$name.log"
  else
    say "starting $name"
  fi
  nohup "$@" >>"$CLUSTER_DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$CLUSTER_DIR/pids/$name"
}

# wait_for WHAT SECONDS CMD...: retry CMD until it succeeds, or fail naming WHAT and its log.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s) > deadline )); then
      say "$what did not come up in ${secs}s; last log lines:" >&2
      tail -n 20 "$CLUSTER_DIR/logs/$what.log" >&2 2>/dev/null || true
      exit 1
    fi
    sleep 0.2
  done
}

make_pki() {
  local p=$CLUSTER_DIR/pki
  [[ -f $p/admin.crt ]] && return 0
  say "creating certificates"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=medaudit-local-ca" \
    -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
  # issue NAME SUBJECT [SANS]: a key and a certificate signed by the local CA.
  issue() {
    local name=$1 subj=$2 sans=${3:-}
    openssl req -newkey rsa:2048 -nodes -subj "$subj" -keyout "$p/$name.key" -out "$p/$name.csr" 2>/dev/null
    if [[ -n $sans ]]; then printf 'subjectAltName=%s\n' "$sans" >"$p/$name.ext"; else : >"$p/$name.ext"; fi
    openssl x509 -req -in "$p/$name.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 30 \
      -extfile "$p/$name.ext" -out "$p/$name.crt" 2>/dev/null
    rm -f "$p/$name.csr" "$p/$name.ext"
  }
  issue apiserver "/CN=kube-apiserver" "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  issue apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  issue kubelet "/CN=medaudit-sim-kubelet" "IP:127.0.0.1,DNS:localhost"
  issue admin "/O=system:masters/CN=medaudit-admin"
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  chmod 600 "$p"/*.key
}

write_kubeconfig() {
  local p=$CLUSTER_DIR/pki
  cat >"$CLUSTER_DIR/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $p/ca.crt
users:
- name: admin
  user:
    client-certificate: $p/admin.crt
    client-key: $p/admin.key
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
KC
  chmod 600 "$CLUSTER_DIR/kubeconfig"
  # kubectl of the server's own version, first on PATH for whoever sources env.
  mkdir -p "$CLUSTER_DIR/bin"
  ln -sf "$BIN/kubectl" "$CLUSTER_DIR/bin/kubectl"
  cat >"$CLUSTER_DIR/env" <<ENV
export PATH=$CLUSTER_DIR/bin:\$PATH
export KUBECONFIG=$CLUSTER_DIR/kubeconfig
export DOCKER_HOST=unix://$CLUSTER_DIR/docker/docker.sock
export MEDAUDIT_REGISTRY=$REGISTRY
export MEDAUDIT_CLUSTER_DIR=$CLUSTER_DIR
ENV
}

start_docker() {
  local d=$CLUSTER_DIR/docker
  mkdir -p "$d"/{data,exec}
  start dockerd dockerd --host "unix://$d/docker.sock" --data-root "$d/data" --exec-root "$d/exec" \
    --pidfile "$d/pid" --storage-driver vfs --iptables=false --ip6tables=false --bridge=none
}

start_registry() {
  mkdir -p "$CLUSTER_DIR/registry/data"
  cat >"$CLUSTER_DIR/registry/config.yml" <<YML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $CLUSTER_DIR/registry/data}
  delete: {enabled: true}
http:
  addr: $REGISTRY
YML
  start registry docker-registry serve "$CLUSTER_DIR/registry/config.yml"
}

start_control_plane() {
  local p=$CLUSTER_DIR/pki kc=$CLUSTER_DIR/kubeconfig
  mkdir -p "$CLUSTER_DIR/etcd"
  start etcd "$BIN/etcd" --data-dir "$CLUSTER_DIR/etcd" --name local \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls http://127.0.0.1:0 --unsafe-no-fsync --quota-backend-bytes 1073741824 --log-level warn
  wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

  # --shutdown-send-retry-after: on SIGTERM it answers 429 and exits in about 3 s, cleanly, rather
  # than waiting up to 60 s for open watches (and being killed by stop_pid after 5 s).
  start kube-apiserver "$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" --client-ca-file "$p/ca.crt" \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --service-account-issuer https://kubernetes.default.svc --api-audiences https://kubernetes.default.svc \
    --service-cluster-ip-range 10.96.0.0/16 --authorization-mode Node,RBAC \
    --kubelet-client-certificate "$p/apiserver-kubelet-client.crt" --kubelet-client-key "$p/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP --allow-privileged=true --event-ttl 2h \
    --endpoint-reconciler-type none --profiling=false --shutdown-send-retry-after=true
  wait_for kube-apiserver 60 curl -sf --cacert "$p/ca.crt" --cert "$p/admin.crt" --key "$p/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz"

  start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig "$kc" \
    --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" --bind-address 127.0.0.1 --secure-port 0 \
    --leader-elect=false --service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" \
    --use-service-account-credentials=false --controllers '*,-nodeipam' --concurrent-deployment-syncs 10 \
    --horizontal-pod-autoscaler-sync-period 5s --profiling=false
  start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$kc" \
    --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" --bind-address 127.0.0.1 --secure-port 0 \
    --leader-elect=false --profiling=false
}

start_simulator() {
  local sim=$repo/lib/test/cluster/sim/main.js
  if [[ ! -f $sim || -n $(find "$repo/test/cluster/sim" -newer "$sim" -name '*.ts' 2>/dev/null | head -1) ]]; then
    say "compiling the node simulator"
    # tsc compiles the whole project and still emits when other parts have type errors: only the
    # simulator's own errors stop it here.
    local out
    if ! out=$(cd "$repo" && npx tsc -p tsconfig.json 2>&1); then
      if grep -q '^test/cluster/sim/' <<<"$out" || [[ ! -f $sim ]]; then echo "$out" >&2; say "the node simulator does not compile" >&2; exit 1; fi
      say "tsc: $(grep -c 'error TS' <<<"$out") type errors outside the simulator, ignored here"
    fi
  fi
  start sim node "$sim" --cluster-dir "$CLUSTER_DIR" --nodes "$NODES" --registry "$REGISTRY"
}

nodes_ready() {
  local ready
  ready=$(kubectl --kubeconfig "$CLUSTER_DIR/kubeconfig" get nodes --no-headers 2>/dev/null | awk '$2 == "Ready"' | wc -l)
  (( ready >= NODES ))
}

ensure_packages
bash "$repo/test/cluster/build.sh"
[[ -d $repo/node_modules ]] || (cd "$repo" && npm ci --no-audit --no-fund)
make_pki
write_kubeconfig
start_docker
start_registry
start_control_plane
start_simulator
wait_for registry 30 curl -sf "http://$REGISTRY/v2/"
wait_for dockerd 60 env DOCKER_HOST="unix://$CLUSTER_DIR/docker/docker.sock" docker version
wait_for sim 60 nodes_ready
elapsed=$(awk -v s="$t_start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
say "ready in ${elapsed}s: $NODES nodes, registry $REGISTRY, Kubernetes $K8S_VERSION"
say "use it: source $CLUSTER_DIR/env && kubectl get nodes    stop it: npm run cluster:down"
