#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (Debian packages,
# only those missing: the Docker engine, a local registry, busybox, htpasswd, PostgreSQL, Redis
# and RabbitMQ), starts PostgreSQL, Redis and RabbitMQ when they are not answering, sets up
# .venv from the lock file, runs every test on the embedded SQLite default, then the database
# and Celery tests on PostgreSQL (the local server unless RUNWRIGHT_TEST_POSTGRES names
# another). Each step is skipped when already done. Extra arguments go to both pytest runs.
# RUNWRIGHT_TEST_NO_SETUP=1 skips installing and starting services (they are someone else's);
# RUNWRIGHT_TEST_SETUP_ONLY=1 installs and starts them and runs no test.
set -euo pipefail
cd "$(dirname "$0")/.."

installed() {  # a Debian package that dpkg says is installed
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "scripts/test.sh: '$*' needs root (or sudo)" >&2; return 1; fi
}

if [ -z "${RUNWRIGHT_TEST_NO_SETUP:-}" ]; then
  # System packages: the Docker engine and a local registry for the Docker tests, busybox for
  # local images (no registry is reachable here), htpasswd for the registry's auth.
  need=()
  command -v dockerd >/dev/null || need+=(docker.io)
  [ -x /bin/busybox ] || need+=(busybox-static)
  command -v docker-registry >/dev/null || need+=(docker-registry)
  command -v htpasswd >/dev/null || need+=(apache2-utils)
  # The web UI's browser tests (driven by Playwright, never a downloaded browser).
  command -v chromium >/dev/null || need+=(chromium)
  # The Ansible tests' SSH target: a real sshd on a loopback port, password logins, become.
  command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  command -v sshpass >/dev/null || need+=(sshpass)
  command -v sudo >/dev/null || need+=(sudo)
  # The services (their commands may be in sbin, off a user's PATH: dpkg knows).
  fresh_pg=
  if ! installed postgresql && ! command -v pg_ctlcluster >/dev/null; then need+=(postgresql); fresh_pg=1; fi
  installed redis-server || command -v redis-server >/dev/null || need+=(redis-server)
  fresh_rabbit=
  if ! installed rabbitmq-server && ! command -v rabbitmq-server >/dev/null; then need+=(rabbitmq-server); fresh_rabbit=1; fi
  if [ ${#need[@]} -gt 0 ]; then
    echo "== installing ${need[*]}"
    as_root apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Lock::Timeout=600 update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
      --no-install-recommends "${need[@]}"
  fi

  # PostgreSQL, Redis and RabbitMQ on 127.0.0.1, started when they do not answer. (The Docker
  # tests start dockerd themselves: tests/infra/docker_engine.py.)
  if [ -n "$fresh_pg" ] && installed postgresql; then
    # The cluster the package made just now: the tests log in as postgres over 127.0.0.1
    # without a password (a server someone else set up is left as it is).
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
      if [ -f "$hba" ]; then as_root sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"; fi
    done
    if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then  # started by the package: reload
      as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main reload || true
    fi
  fi
  if [ -n "$fresh_rabbit" ] && installed rabbitmq-server && [ ! -e /etc/rabbitmq/rabbitmq.conf ] && [ -d /etc/rabbitmq ]; then
    # Loopback only (its guest user works only from there anyway).
    echo "listeners.tcp.local = 127.0.0.1:5672" | as_root tee /etc/rabbitmq/rabbitmq.conf >/dev/null
  fi
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
      echo "== starting PostgreSQL"
      as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
    else
      echo "scripts/test.sh: PostgreSQL is not running and not installed here; its tests will say so" >&2
    fi
  fi
  if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    if command -v redis-server >/dev/null; then
      echo "== starting Redis"
      as_root mkdir -p /var/lib/redis /var/log/redis
      as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    else
      echo "scripts/test.sh: Redis is not running and not installed here; its tests will say so" >&2
    fi
  fi
  if command -v rabbitmqctl >/dev/null || [ -x /usr/sbin/rabbitmqctl ]; then
    PATH=$PATH:/usr/sbin
    if ! as_root rabbitmqctl -q status >/dev/null 2>&1; then
      echo "== starting RabbitMQ"
      as_root rabbitmq-server -detached || true
      as_root rabbitmqctl await_startup --timeout 120 >/dev/null 2>&1 || true
    fi
  else
    echo "scripts/test.sh: RabbitMQ is not installed here; its tests will say so" >&2
  fi
fi
[ -z "${RUNWRIGHT_TEST_SETUP_ONLY:-}" ] || exit 0

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -r requirements.lock
.venv/bin/python -m pip install -q --no-deps -e .

# The local Kubernetes cluster of tests/kubernetes (v1.20.2 from Debian's source package):
# built once per machine (about 6 minutes), then cached; the tests start and stop it.
echo "== the local Kubernetes cluster's binaries"
as_root bash tests/infra/k8s/build.sh

echo "== runwright tests on SQLite"
env -u DATABASE_URL .venv/bin/python -m pytest -m "not postgres" "$@"

echo "== runwright database and Celery tests on PostgreSQL"
DATABASE_URL=${RUNWRIGHT_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres} \
  .venv/bin/python -m pytest tests/logging_core tests/celery tests/kubernetes/test_kubernetes_worker_death.py "$@"
