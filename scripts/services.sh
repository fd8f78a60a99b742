#!/usr/bin/env bash
# Install what is missing and start what is not running, on 127.0.0.1 only:
# Redis, PostgreSQL (roles and databases for the fleet and the reference target)
# and Toxiproxy. Idempotent: a second run changes nothing. Debian only.
set -euo pipefail

TOXIPROXY_VERSION="${TOXIPROXY_VERSION:-v2.12.0}"
GOBIN_DIR="${CHAOSFLEET_GOBIN:-/usr/local/lib/chaosfleet/bin}"
RUN_DIR="${CHAOSFLEET_RUN_DIR:-/var/tmp/chaosfleet}"
REDIS_PORT=6379
PG_PORT=5432
TOXIPROXY_PORT=8474
PG_MAX_CONNECTIONS=200
REFTARGET_SLOTS=40  # connection limit of the reference target's role (pool-exhaustion fault)
KINTO_SLOTS=30      # the same for Kinto, the third-party example target (examples/kinto)

log() { printf '[services] %s\n' "$*"; }
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {  # wait_port PORT NAME: poll until the port accepts, 30 s at most
  local deadline=$((SECONDS + 30))
  until port_open "$1"; do
    if [ $SECONDS -ge $deadline ]; then log "$2 did not open 127.0.0.1:$1 within 30 s"; return 1; fi
    sleep 0.2
  done
}

apt_updated=0
apt_install() {  # apt_install PKG...: install only the packages that are missing
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated = 0 ]; then sudo_if_needed apt-get update -qq; apt_updated=1; fi
  log "installing ${missing[*]}"
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

start_redis() {
  apt_install redis-server
  if port_open $REDIS_PORT; then log "redis already on 127.0.0.1:$REDIS_PORT"; return; fi
  mkdir -p "$RUN_DIR/redis"
  redis-server --bind 127.0.0.1 --port $REDIS_PORT --daemonize yes --dir "$RUN_DIR/redis" \
    --logfile "$RUN_DIR/redis.log" --save "" --appendonly no
  wait_port $REDIS_PORT redis
  log "redis started on 127.0.0.1:$REDIS_PORT"
}

pg_version() { ls /usr/lib/postgresql | sort -n | tail -n 1; }

start_postgres() {
  apt_install postgresql
  local ver; ver=$(pg_version)
  if ! port_open $PG_PORT; then
    if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$ver main$"; then
      sudo_if_needed pg_createcluster "$ver" main >/dev/null
    fi
    sudo_if_needed pg_ctlcluster "$ver" main start
    wait_port $PG_PORT postgresql
    log "postgresql $ver started on 127.0.0.1:$PG_PORT"
  else
    log "postgresql already on 127.0.0.1:$PG_PORT"
  fi
  ensure_role_and_db chaosfleet chaosfleet chaosfleet
  ensure_role_and_db reftarget reftarget reftarget
  # The reference target's role gets its own slot limit, so the pool-exhaustion
  # fault can use every slot of that role without touching the fleet's catalogue;
  # the server gets room for both.
  psql_admin -c "ALTER ROLE reftarget CONNECTION LIMIT $REFTARGET_SLOTS"
  ensure_role_and_db kinto kinto kinto
  psql_admin -c "ALTER ROLE kinto CONNECTION LIMIT $KINTO_SLOTS"
  if [ "$(psql_admin -c 'SHOW max_connections')" -lt $PG_MAX_CONNECTIONS ]; then
    psql_admin -c "ALTER SYSTEM SET max_connections = $PG_MAX_CONNECTIONS"
    sudo_if_needed pg_ctlcluster "$ver" main restart
    wait_port $PG_PORT postgresql
    log "postgresql restarted with max_connections = $PG_MAX_CONNECTIONS"
  fi
}

psql_admin() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qtA "$@"
  else sudo -u postgres psql -v ON_ERROR_STOP=1 -qtA "$@"; fi
}

ensure_role_and_db() {  # ensure_role_and_db ROLE PASSWORD DB
  local role=$1 pass=$2 db=$3
  if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname='$role'")" != 1 ]; then
    psql_admin -c "CREATE ROLE $role LOGIN PASSWORD '$pass' CREATEDB"
    log "created role $role"
  fi
  if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname='$db'")" != 1 ]; then
    psql_admin -c "CREATE DATABASE $db OWNER $role"
    log "created database $db"
  fi
}

start_toxiproxy() {
  local bin="$GOBIN_DIR/toxiproxy-server-$TOXIPROXY_VERSION"
  if [ ! -x "$bin" ]; then
    command -v go >/dev/null || { log "go is needed to build toxiproxy (apt-get install golang-go)"; exit 1; }
    log "building toxiproxy $TOXIPROXY_VERSION with go install"
    local tmp; tmp=$(mktemp -d)
    GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
    mkdir -p "$GOBIN_DIR"
    mv "$tmp/server" "$bin"
    rm -rf "$tmp"
  fi
  if port_open $TOXIPROXY_PORT; then log "toxiproxy already on 127.0.0.1:$TOXIPROXY_PORT"; return; fi
  mkdir -p "$RUN_DIR"
  nohup "$bin" -host 127.0.0.1 -port $TOXIPROXY_PORT >"$RUN_DIR/toxiproxy.log" 2>&1 &
  echo $! >"$RUN_DIR/toxiproxy.pid"
  wait_port $TOXIPROXY_PORT toxiproxy
  log "toxiproxy $TOXIPROXY_VERSION started on 127.0.0.1:$TOXIPROXY_PORT"
}

case "${1:-all}" in
  all) start_redis; start_postgres; start_toxiproxy ;;
  redis) start_redis ;;
  postgres) start_postgres ;;
  toxiproxy) start_toxiproxy ;;
  *) echo "usage: $0 [all|redis|postgres|toxiproxy]" >&2; exit 2 ;;
esac
