#!/bin/bash
# Per-cluster files under $RUNWRIGHT_K8S_DIR: a CA and serving certificate, token kubeconfigs
# (context "runwright-local"), the local images (docker-archive tarballs for `ctr images
# import`), and the containerd and CNI configuration. Made once; the configs are rewritten
# on every call so a moved cache or directory is picked up. Called by start.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/env.sh"
bash "$HERE/build.sh" --check || { echo "[k8s] no built binaries in $BIN: run $HERE/build.sh first (about 6 min once per machine)" >&2; exit 1; }
mkdir -p "$K/img" "$P"
if [[ ! -f $K/img/busybox.tar || ! -f $K/img/pause.tar ]]; then
  python3 "$HERE/mkimage.py" "$K/img/pause.tar" localhost/pause:3.4.1 '["/pause"]' "$BIN/pause:/pause" >/dev/null
  links=()
  for a in $(/bin/busybox --list); do [[ $a == busybox ]] || links+=(--link "bin/$a=busybox"); done
  python3 "$HERE/mkimage.py" "$K/img/busybox.tar" localhost/busybox:1 '[]' /bin/busybox:/bin/busybox "${links[@]}" >/dev/null
fi
if [[ ! -f $P/tokens.csv ]]; then
  openssl genrsa -out "$P/ca.key" 2048 2>/dev/null
  openssl req -x509 -new -nodes -key "$P/ca.key" -subj "/CN=runwright-local-ca" -days 3650 -out "$P/ca.crt"
  openssl genrsa -out "$P/apiserver.key" 2048 2>/dev/null
  printf '[req]\ndistinguished_name=dn\n[dn]\n[ext]\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > "$P/apiserver.cnf"
  openssl req -new -key "$P/apiserver.key" -subj "/CN=kube-apiserver" -out "$P/apiserver.csr"
  openssl x509 -req -in "$P/apiserver.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 3650 \
    -extfile "$P/apiserver.cnf" -extensions ext -out "$P/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$P/sa.key" 2048 2>/dev/null; openssl rsa -in "$P/sa.key" -pubout -out "$P/sa.pub" 2>/dev/null
  umask 077
  for u in admin kcm sched kubelet; do echo "$u-$(openssl rand -hex 16),$u,uid-$u,system:masters"; done > "$P/tokens.csv.tmp"
  for u in admin kcm sched kubelet; do
    tok=$(awk -F, -v u=$u '$2==u{print $1}' "$P/tokens.csv.tmp")
    cat > "$K/$u.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: runwright-local
  cluster: {server: "https://127.0.0.1:6443", certificate-authority: "$P/ca.crt"}
users:
- name: $u
  user: {token: "$tok"}
contexts:
- name: $K8S_CONTEXT
  context: {cluster: runwright-local, user: $u}
current-context: $K8S_CONTEXT
KC
  done
  mv "$P/tokens.csv.tmp" "$P/tokens.csv"
fi
mkdir -p "$K/containerd" "$K/cni/net.d"
# Separate from Docker's containerd (/var/run/docker/containerd, root /var/lib/docker/containerd)
# and the system one (/run/containerd, /var/lib/containerd): own socket, root, state; the k8s.io
# namespace; shim sockets are hashed from this socket's address, so they cannot collide either.
cat > "$K/containerd/config.toml" <<CT
version = 2
root = "$K/containerd/root"
state = "$K/containerd/state"
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$CTRD_SOCK.ttrpc"
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$K/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:3.4.1"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # this machine lacks CAP_SYS_RESOURCE: without this every pod fails in runc
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$K/cni/net.d"
CT
cat > "$K/cni/net.d/10-runwright.conflist" <<CN
{"cniVersion": "0.4.0", "name": "runwright-k8s", "plugins": [{"type": "bridge", "bridge": "rwk8s0", "isGateway": true,
 "isDefaultGateway": false, "ipMasq": false, "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.77.0/24"}]],
 "routes": [], "dataDir": "$K/cni/ipam"}}]}
CN
