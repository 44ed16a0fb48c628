#!/bin/bash
# Build (once per machine) the Kubernetes v1.20.2 server binaries from Debian bookworm's
# `kubernetes` source package into $RUNWRIGHT_K8S_CACHE/bin: kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet and a static pause. Later runs find
# bin/.complete (of this recipe's K8S_BUILD_REV) and return at once; `build.sh --check` only
# says whether that is so (exit 0) without building. Safe to run concurrently (flock on the cache).
# About 6 minutes on 2 cores the first time. Needs root (apt-get) and the Debian mirror.
set -euo pipefail
. "$(dirname "$0")/env.sh"
if [[ ${1:-} == --check ]]; then grep -qx "rev=$K8S_BUILD_REV" "$BIN/.complete" 2>/dev/null; exit; fi
need=()
for pkg in golang-go etcd-server etcd-client rsync containerd runc containernetworking-plugins \
           busybox-static gcc libc6-dev openssl iptables bc curl golang-github-modern-go-reflect2-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if [[ ${#need[@]} -gt 0 ]]; then
  apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${need[@]}" >/dev/null
  echo "[k8s build] installed ${need[*]} ($(el))"
fi
mkdir -p "$K8S_CACHE"
exec 9>"$K8S_CACHE/.lock"
flock 9
if grep -qx "rev=$K8S_BUILD_REV" "$BIN/.complete" 2>/dev/null; then
  echo "[k8s build] cached binaries in $BIN"
  exit 0
fi
SRC=$K8S_CACHE/src
mkdir -p "$SRC/apt/lists/partial" "$SRC/apt/archives/partial"
orig=$SRC/kubernetes_1.20.5+really1.20.2.orig.tar.gz
if [[ ! -f $orig ]]; then
  # deb-src of the machine's own Debian mirror (the first URIs: line of its apt sources)
  uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [[ -n $uri ]] || uri=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list)
  echo "deb-src $uri bookworm main" > "$SRC/apt/sources.list"
  APTO=(-o "Dir::Etc::sourcelist=$SRC/apt/sources.list" -o Dir::Etc::sourceparts=- \
        -o "Dir::State::lists=$SRC/apt/lists" -o "Dir::Cache::archives=$SRC/apt/archives")
  apt-get "${APTO[@]}" update -qq 2>&1 | grep -v unsandboxed || true
  (cd "$SRC" && apt-get "${APTO[@]}" source --download-only "kubernetes=$K8S_DEB_VERSION" -qq 2>&1 \
     | grep -v unsandboxed || true)
  [[ -f $orig ]] || { echo "[k8s build] could not download the kubernetes source package" >&2; exit 1; }
  echo "[k8s build] source downloaded ($(el))"
fi
tree=$SRC/kubernetes-$K8S_VERSION
rm -rf "$tree" && tar xzf "$orig" -C "$SRC"
# The vendored reflect2 v1.0.1 corrupts memory under Go >= 1.18 (its map iteration no longer
# matches the runtime's; kube-apiserver dies with "fatal error: fault" in mapiternext while
# encoding JSON). v1.0.2, Debian's golang-github-modern-go-reflect2-dev, is the fix; same API.
rsync -a --delete --exclude go.mod /usr/share/gocode/src/github.com/modern-go/reflect2/ \
  "$tree/vendor/github.com/modern-go/reflect2/"
# `go build` alone fails on this tree; make (which needs rsync) sets it up.
if ! (cd "$tree" && GOCACHE=$SRC/gocache CGO_ENABLED=0 GOPROXY=off \
      make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet" \
      >"$SRC/make.log" 2>&1); then
  tail -20 "$SRC/make.log" >&2
  echo "[k8s build] make failed; full log: $SRC/make.log" >&2
  exit 1
fi
rm -rf "$BIN.tmp" && mkdir -p "$BIN.tmp"
cp "$tree"/_output/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,kubelet} "$BIN.tmp/"
gcc -Os -static -DVERSION=3.4.1-local -o "$BIN.tmp/pause" "$tree/build/pause/linux/pause.c"
printf 'rev=%s\n%s built %s in %s\n' "$K8S_BUILD_REV" "$K8S_DEB_VERSION" "$(date -u +%FT%TZ)" "$(el)" > "$BIN.tmp/.complete"
rm -rf "$BIN" && mv "$BIN.tmp" "$BIN"
# the build tree and Go cache are 2+ GB and only the binaries are reused
rm -rf "$tree" "$SRC/gocache"
echo "[k8s build] binaries built into $BIN ($(el))"
