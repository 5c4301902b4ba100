#!/usr/bin/env bash
# Stops every process cluster:up started, by the pids it recorded, and removes the state.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
if [[ ! -d $CLUSTER_DIR ]]; then say "nothing to stop ($CLUSTER_DIR absent)"; exit 0; fi
# Reverse start order: the simulator and controllers before the API server, etcd last.
for name in sim kube-scheduler kube-controller-manager kube-apiserver etcd registry dockerd; do
  if [[ -f $CLUSTER_DIR/pids/$name ]]; then say "stopping $name (pid $(cat "$CLUSTER_DIR/pids/$name"))"; fi
  stop_pid "$CLUSTER_DIR/pids/$name"
done
# dockerd leaves its mounts behind on some kernels; they must go before the directory can.
if [[ -d $CLUSTER_DIR/docker ]]; then
  grep -o " $CLUSTER_DIR/docker[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
fi
rm -rf "$CLUSTER_DIR"
say "stopped; removed $CLUSTER_DIR"
