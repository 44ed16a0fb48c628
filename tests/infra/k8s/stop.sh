#!/bin/bash
# Stop the local cluster started by start.sh, by the PIDs it recorded (never by name), and
# undo what the kubelet and CNI left on the host: pod containers and shims of OUR containerd,
# mounts under $RUNWRIGHT_K8S_DIR, CNI network namespaces and bridge, kubelet cgroups and
# iptables chains, and the host paths the v1.20 kubelet hardcodes. Safe to run when nothing is
# running. `stop.sh --purge` also removes $RUNWRIGHT_K8S_DIR (PKI, images); the build cache stays.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/env.sh"
. "$HERE/pids.sh"
[[ -d $K ]] || { echo "[k8s stop] nothing to stop ($K does not exist)"; exit 0; }
if [[ -z ${RUNWRIGHT_K8S_LOCKED:-} ]]; then
  exec 9>"$K/.lock"
  flock -w 300 9 || { echo "[k8s stop] another start or stop holds $K/.lock" >&2; exit 1; }
fi
stop_pid() {  # label pidfile-name
  local f=$K/$2.pid p
  [[ -f $f ]] || return 0
  p=$(cat "$f")
  # only a process that is still ours (its command line names our directory)
  if ours "$p"; then
    kill "$p"
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p"
    echo "[k8s stop] stopped $1 ($p)"
  fi
  rm -f "$f"
}
stop_pid kubelet kubelet
# every pod sandbox/container left in our containerd (tasks first, then containers)
if [[ -S $CTRD_SOCK ]] && $CTR version >/dev/null 2>&1; then
  for t in $($CTR tasks ls -q 2>/dev/null); do $CTR tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
  for _ in $(seq 1 50); do
    [[ -z $($CTR tasks ls -q 2>/dev/null | head -1) ]] && break
    for t in $($CTR tasks ls -q 2>/dev/null); do $CTR tasks delete -f "$t" >/dev/null 2>&1; done
    sleep 0.1
  done
  for c in $($CTR containers ls -q 2>/dev/null); do $CTR containers delete "$c" >/dev/null 2>&1; done
fi
stop_pid containerd containerd
# shims of OUR containerd (their command line names our socket), by PID; Docker's have its own
for d in /proc/[0-9]*; do
  if tr '\0' ' ' 2>/dev/null < "$d/cmdline" | grep -q -- "-address $CTRD_SOCK "; then
    kill "${d#/proc/}" 2>/dev/null && echo "[k8s stop] stopped shim ${d#/proc/}"
  fi
done
stop_pid kube-scheduler sched
stop_pid kube-controller-manager kcm
stop_pid kube-apiserver apiserver
stop_pid etcd etcd
# mounts under $K (deepest first) and the CNI network namespaces of our pods
for m in $(awk -v k="$K/" 'index($2, k) == 1 {print $2}' /proc/mounts | sort -r); do
  umount "$m" 2>/dev/null || umount -l "$m"
done
for m in $(awk '$2 ~ "^(/var)?/run/netns/cni-" {print $2}' /proc/mounts); do umount "$m" 2>/dev/null; rm -f "$m"; done
ip link show rwk8s0 >/dev/null 2>&1 && ip link delete rwk8s0
for cg in /sys/fs/cgroup/*/kubepods; do [[ -d $cg ]] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null; done
if iptables -S KUBE-FIREWALL >/dev/null 2>&1 || iptables -t nat -S KUBE-POSTROUTING >/dev/null 2>&1; then
  iptables -D INPUT -j KUBE-FIREWALL 2>/dev/null; iptables -D OUTPUT -j KUBE-FIREWALL 2>/dev/null
  iptables -t nat -D POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING 2>/dev/null
  for ch in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-MARK-DROP; do iptables -F $ch 2>/dev/null; iptables -X $ch 2>/dev/null; done
  for ch in KUBE-KUBELET-CANARY KUBE-MARK-DROP KUBE-MARK-MASQ KUBE-POSTROUTING; do
    iptables -t nat -F $ch 2>/dev/null; iptables -t nat -X $ch 2>/dev/null; done
  iptables -t mangle -F KUBE-KUBELET-CANARY 2>/dev/null; iptables -t mangle -X KUBE-KUBELET-CANARY 2>/dev/null
  echo "[k8s stop] removed the kubelet's iptables chains"
fi
# host paths the v1.20 kubelet / controller-manager hardcode (pod logs, device plugins, flexvolume)
rm -rf /var/log/pods /var/log/containers /var/lib/kubelet /usr/libexec/kubernetes
# libcni's result cache entries of our network
grep -l '"runwright-k8s"' /var/lib/cni/results/* 2>/dev/null | xargs -r rm -f
rm -rf "$K/etcd-data" "$K/kubelet/root" "$K/cni/ipam"
if [[ ${1:-} == --purge ]]; then rm -rf "$K"; echo "[k8s stop] removed $K"; fi
echo "[k8s stop] cluster stopped ($(el))"
