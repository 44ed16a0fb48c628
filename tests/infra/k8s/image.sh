#!/bin/bash
# Make a local image available to the cluster's pods (use it with imagePullPolicy: Never).
#   image.sh import TAR...       a docker-archive tarball (mkimage.py, `docker save`)
#   image.sh from-docker REF...  an image of the Docker engine on this machine (`docker save`)
# The tarball is kept in $RUNWRIGHT_K8S_DIR/img, so later starts import it again; it is
# imported at once when the cluster is running.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/env.sh"
mkdir -p "$K/img"
cmd=${1:-}; shift || true
[[ $cmd == import || $cmd == from-docker ]] && [[ $# -gt 0 ]] || { echo "usage: $0 import TAR... | from-docker REF..." >&2; exit 2; }
for arg in "$@"; do
  if [[ $cmd == import ]]; then
    [[ -f $arg ]] || { echo "[k8s image] no such file: $arg" >&2; exit 2; }
    dest=$K/img/$(basename "$arg")
    [[ $(realpath "$arg") == $(realpath -m "$dest") ]] || cp "$arg" "$dest"
  else
    dest=$K/img/docker-$(echo "$arg" | tr '/:@' '___').tar
    docker save -o "$dest" "$arg"
  fi
  if [[ -S $CTRD_SOCK ]] && $CTR version >/dev/null 2>&1; then
    $CTR images import "$dest" >/dev/null
    echo "[k8s image] imported $arg"
  else
    echo "[k8s image] kept $dest; imported at the next start"
  fi
done
