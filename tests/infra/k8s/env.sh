# Shared settings of the local Kubernetes test cluster; sourced by the other scripts here.
#
# RUNWRIGHT_K8S_CACHE  where the built server binaries are kept between runs (outside the
#                      repository; default ${XDG_CACHE_HOME:-$HOME/.cache}/runwright/k8s-v1.20.2).
#                      Delete it to force a rebuild.
# RUNWRIGHT_K8S_DIR    the running cluster's state: PKI, kubeconfigs, etcd data, containerd
#                      root/state/socket, logs, pid files (default /tmp/runwright-k8s).
K8S_VERSION=1.20.2
K8S_DEB_VERSION=1.20.5+really1.20.2-1.1+deb12u1
# Raised when the recipe changes what is built: cached binaries of another revision are rebuilt.
K8S_BUILD_REV=2
K8S_CACHE=${RUNWRIGHT_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runwright/k8s-v$K8S_VERSION}
K=${RUNWRIGHT_K8S_DIR:-/tmp/runwright-k8s}
BIN=$K8S_CACHE/bin
P=$K/pki
# The cluster's own containerd: its socket, root and state live under $K, never Docker's
# (/var/run/docker/containerd, /var/lib/docker) or the system default (/run/containerd).
CTRD_SOCK=$K/containerd/containerd.sock
CTR="ctr -a $CTRD_SOCK -n k8s.io"
K8S_KUBECONFIG=$K/admin.kubeconfig
K8S_CONTEXT=runwright-local
# seconds since the script started, for the timing lines
_t0=$(date +%s.%N)
el() { printf '%.1fs' "$(echo "$(date +%s.%N) - $_t0" | bc)"; }
