# shellcheck shell=bash
# Makes sure PostgreSQL and NATS (with JetStream) answer on 127.0.0.1, installing
# them from Debian's packages and starting them when they do not. Sourced by
# scripts/test and scripts/serve.

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

reachable() {
  (exec 3<>"/dev/tcp/$1/$2") >/dev/null 2>&1
}

wait_for() {
  local name=$1 port=$2
  for _ in $(seq 1 100); do
    reachable 127.0.0.1 "$port" && return 0
    sleep 0.2
  done
  echo "$name did not come up on 127.0.0.1:$port" >&2
  return 1
}

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if reachable 127.0.0.1 5432; then return 0; fi
  echo "PostgreSQL is not reachable: installing and starting it" >&2
  command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$version" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    as_root pg_createcluster "$version" main
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for PostgreSQL 5432
  # Password auth over TCP is Debian's default; the tests and the server
  # use postgres:postgres (a trust setup ignores the password).
  as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
}

nats_binary() {
  command -v nats-server 2>/dev/null || ls /usr/sbin/nats-server 2>/dev/null || true
}

ensure_nats() {
  # The tests also start private servers, so the binary must be here.
  [ -n "$(nats_binary)" ] || apt_install nats-server
  if reachable 127.0.0.1 4222; then return 0; fi
  echo "NATS is not reachable: starting it with JetStream" >&2
  local dir=/var/lib/nats-server
  as_root mkdir -p "$dir"
  as_root start-stop-daemon --start --oknodo --background --exec "$(nats_binary)" -- \
    -a 127.0.0.1 -p 4222 -js -sd "$dir" -l /var/log/nats-server.log
  wait_for NATS 4222
}

ensure_services() {
  ensure_postgres
  ensure_nats
}
