#!/usr/bin/env bash
# Builds the upstream control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler) and a kubectl of the same version
# once into a cache outside the repository; later calls reuse it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$here/build/go.mod")
CACHE=${MEDAUDIT_CACHE:-$HOME/.cache/medaudit-deploy}
BIN="$CACHE/$K8S_VERSION/bin"
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)

missing=()
for b in "${binaries[@]}"; do [[ -x "$BIN/$b" ]] || missing+=("$b"); done
if ((${#missing[@]} == 0)); then
  echo "[build] control plane $K8S_VERSION cached in $BIN"
  exit 0
fi

command -v go >/dev/null || { echo "[build] go is required to build the control plane" >&2; exit 1; }
mkdir -p "$BIN"
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
cd "$here/build"
start=$(date +%s)
for b in "${missing[@]}"; do
  case $b in
    etcd) pkg=./cmd/etcd ;;
    *) pkg=k8s.io/kubernetes/cmd/$b ;;
  esac
  echo "[build] $b ($K8S_VERSION) from the Go module proxy — first run only, several minutes each"
  t0=$(date +%s)
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$BIN/$b.tmp" "$pkg"
  mv "$BIN/$b.tmp" "$BIN/$b"
  echo "[build] $b done in $(( $(date +%s) - t0 )) s"
done
echo "[build] control plane built in $(( $(date +%s) - start )) s into $BIN"
