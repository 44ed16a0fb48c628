#!/bin/bash
# Is the local cluster up? Prints each component's PID and resident memory (the pod shims and
# containers included) and exits 0 when every component runs and the API answers, 1 otherwise.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/env.sh"
total=0; ok=1
rss() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
for c in etcd containerd apiserver kcm sched kubelet; do
  f=$K/$c.pid; p=$(cat "$f" 2>/dev/null || true)
  if [[ -n $p ]] && kill -0 "$p" 2>/dev/null; then
    r=$(rss "$p"); total=$((total + r)); printf '%-11s pid %-7s %6d MB\n' "$c" "$p" $((r / 1024))
  else
    printf '%-11s not running\n' "$c"; ok=0
  fi
done
shims=0
for d in /proc/[0-9]*; do
  if tr '\0' ' ' 2>/dev/null < "$d/cmdline" | grep -q -- "-address $CTRD_SOCK "; then
    p=${d#/proc/}; r=$(rss "$p"); shims=$((shims + r))
    # the shim's children: the pod's pause and containers
    for c in $(cat "/proc/$p/task/$p/children" 2>/dev/null); do shims=$((shims + $(rss "$c"))); done
  fi
done
printf '%-11s %21d MB\n' "shims+pods" $((shims / 1024))
printf '%-11s %21d MB\n' "total" $(((total + shims) / 1024))
if [[ -f $P/tokens.csv ]]; then
  tok=$(awk -F, '$2=="admin"{print $1}' "$P/tokens.csv")
  [[ $(curl -sf --max-time 5 --cacert "$P/ca.crt" -H "Authorization: Bearer $tok" https://127.0.0.1:6443/readyz) == ok ]] || ok=0
else ok=0; fi
echo "kubeconfig  $K8S_KUBECONFIG (context $K8S_CONTEXT)"
[[ $ok == 1 ]] && echo "cluster up" || echo "cluster not up"
[[ $ok == 1 ]]
