#!/bin/bash
# Start the local cluster on 127.0.0.1: etcd, its own containerd, kube-apiserver,
# kube-controller-manager, kube-scheduler and a kubelet (node "localhost"), then wait until the
# node is Ready and the default ServiceAccount exists. About 25 s.
# Idempotent: a cluster of ours that is already up is left alone (exit 0); a partly running one
# is stopped and started again; what a dead one left (mounts, shims, netns) is cleaned first; a
# port held by something else fails with its number.
# Prints the admin kubeconfig path on its last line. Builds first if needed (build.sh).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/env.sh"
mkdir -p "$K"
exec 9>"$K/.lock"
flock -w 300 9 || { echo "[k8s start] another start or stop holds $K/.lock" >&2; exit 1; }
export RUNWRIGHT_K8S_LOCKED=1
L=$K/logs
COMPONENTS=(etcd containerd apiserver kcm sched kubelet)
. "$HERE/pids.sh"
token() { awk -F, '$2=="admin"{print $1}' "$P/tokens.csv"; }
api() { curl -sf --max-time 5 --cacert "$P/ca.crt" -H "Authorization: Bearer $(token)" "https://127.0.0.1:6443$1"; }
node_ready() {
  api /api/v1/nodes/localhost 2>/dev/null | python3 -c 'import json,sys
c=[x for x in json.load(sys.stdin)["status"].get("conditions",[]) if x["type"]=="Ready"]
sys.exit(0 if c and c[0]["status"]=="True" else 1)' 2>/dev/null
}
n=0; for c in "${COMPONENTS[@]}"; do alive "$c" && n=$((n+1)); done
if [[ $n -eq ${#COMPONENTS[@]} ]] && node_ready; then
  echo "[k8s start] already running"
  echo "$K8S_KUBECONFIG"
  exit 0
fi
if [[ $n -gt 0 ]]; then
  echo "[k8s start] $n of ${#COMPONENTS[@]} components running or node not Ready: stopping first"
  bash "$HERE/stop.sh"
elif [[ -d $K/kubelet/root || -n $(ls "$K"/*.pid 2>/dev/null) ]]; then
  # A cluster of ours that died (SIGKILLed, its machine's processes gone) leaves the kubelet's
  # tmpfs mounts under $K, pod shims and netns; the fresh state below cannot be made over them.
  echo "[k8s start] a dead cluster's state is left: cleaning it first"
  bash "$HERE/stop.sh"
fi
for port in 2379 2380 6443 10248 10250 10257 10259; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "[k8s start] port 127.0.0.1:$port is in use by another process; the cluster needs it" >&2
    exit 1
  fi
done
bash "$HERE/build.sh"
bash "$HERE/prepare.sh"
mkdir -p "$L"
# fresh cluster state each start; PKI, kubeconfigs and image tarballs are kept
rm -rf "$K/etcd-data" "$K/kubelet/root" "$K/cni/ipam"
bg() {  # name command...: detached from our session so a test's Ctrl-C does not reach it
  local name=$1; shift
  setsid nohup "$@" > "$L/$name.log" 2>&1 < /dev/null 9>&- &  # 9>&-: the lock is not theirs
  echo $! > "$K/$name.pid"
}
wait_for() {  # what seconds component command...: poll until the command succeeds
  local what=$1 secs=$2 comp=$3; shift 3
  local end=$(( $(date +%s) + secs ))
  until "$@"; do
    if ! alive "$comp"; then
      echo "[k8s start] $comp exited while waiting for $what; last lines of $L/$comp.log:" >&2
      tail -15 "$L/$comp.log" >&2; exit 1
    fi
    if [[ $(date +%s) -ge $end ]]; then
      echo "[k8s start] $what not reached within ${secs}s; see $L/$comp.log" >&2; exit 1
    fi
    sleep 0.2
  done
}
bg etcd etcd --name runwright-local --data-dir "$K/etcd-data" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster runwright-local=http://127.0.0.1:2380
bg containerd containerd --config "$K/containerd/config.toml"
wait_for "containerd socket" 30 containerd $CTR version
for img in "$K"/img/*.tar; do $CTR images import "$img" >/dev/null; done
echo "[k8s start] etcd + containerd up, images imported ($(el))"
bg apiserver "$BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 --bind-address=127.0.0.1 \
  --advertise-address=127.0.0.1 --secure-port=6443 --insecure-port=0 \
  --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" --client-ca-file="$P/ca.crt" \
  --token-auth-file="$P/tokens.csv" --authorization-mode=Node,RBAC --anonymous-auth=false \
  --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
  --service-account-issuer=https://kubernetes.default.svc --service-cluster-ip-range=10.0.0.0/24 \
  --endpoint-reconciler-type=none --allow-privileged=true --kubelet-preferred-address-types=Hostname \
  --cert-dir="$K/apiserver-certs"
apiserver_ready() { [[ "$(api /readyz 2>/dev/null)" == ok ]]; }
wait_for "kube-apiserver /readyz" 90 apiserver apiserver_ready
echo "[k8s start] kube-apiserver ready ($(el))"
bg kcm "$BIN/kube-controller-manager" --kubeconfig="$K/kcm.kubeconfig" \
  --authentication-kubeconfig="$K/kcm.kubeconfig" --authorization-kubeconfig="$K/kcm.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=10257 --port=0 --cert-dir="$K/kcm-certs" --leader-elect=false \
  --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" --use-service-account-credentials=false \
  --controllers='*,-nodeipam,-cloud-node-lifecycle,-route,-service' --flex-volume-plugin-dir="$K/kcm-flexvolume"
bg sched "$BIN/kube-scheduler" --kubeconfig="$K/sched.kubeconfig" --authentication-kubeconfig="$K/sched.kubeconfig" \
  --authorization-kubeconfig="$K/sched.kubeconfig" --bind-address=127.0.0.1 --secure-port=10259 --port=0 \
  --cert-dir="$K/sched-certs" --leader-elect=false
mkdir -p "$K/kubelet/pki" "$K/kubelet/volumeplugins"
bg kubelet env AWS_EC2_METADATA_DISABLED=true "$BIN/kubelet" --kubeconfig="$K/kubelet.kubeconfig" \
  --container-runtime=remote --container-runtime-endpoint="unix://$CTRD_SOCK" \
  --image-service-endpoint="unix://$CTRD_SOCK" --root-dir="$K/kubelet/root" --cert-dir="$K/kubelet/pki" \
  --volume-plugin-dir="$K/kubelet/volumeplugins" --hostname-override=localhost --address=127.0.0.1 --port=10250 \
  --read-only-port=0 --healthz-bind-address=127.0.0.1 --anonymous-auth=true --authorization-mode=AlwaysAllow \
  --cgroup-driver=cgroupfs --fail-swap-on=false --make-iptables-util-chains=false --eviction-hard= \
  --image-gc-high-threshold=100 --image-gc-low-threshold=99 --container-log-max-size=200Mi
wait_for "node localhost Ready" 120 kubelet node_ready
sa_ready() { api /api/v1/namespaces/default/serviceaccounts/default >/dev/null 2>&1; }
wait_for "default ServiceAccount" 60 kcm sa_ready
echo "[k8s start] node Ready, cluster up ($(el)); KUBECONFIG=$K8S_KUBECONFIG context $K8S_CONTEXT"
echo "$K8S_KUBECONFIG"
