#!/usr/bin/env bash
# Kinto, the third-party example target (examples/kinto): install it from PyPI into
# its own virtualenv, write its config and create its schema; `start` also runs it
# on 127.0.0.1. It is never imported by the fleet, only declared in configuration.
#   bash scripts/kinto.sh          install, configure, migrate
#   bash scripts/kinto.sh start    ... and start it in the background on $KINTO_PORT
# Needs PostgreSQL and Toxiproxy from scripts/services.sh (role and database `kinto`).
set -euo pipefail
cd "$(dirname "$0")/.."
KINTO_VERSION=26.5.0
KINTO_VENV="${KINTO_VENV:-.venv-kinto}"
KINTO_PORT="${KINTO_PORT:-8888}"
KINTO_DIR="${KINTO_DIR:-.chaosfleet/kinto}"
# through the Toxiproxy proxy kinto-db, so the fleet's network faults reach it
KINTO_DB_URL="${KINTO_DB_URL:-postgresql://kinto:kinto@127.0.0.1:25460/kinto}"
log() { printf '[kinto] %s\n' "$*"; }

if [ ! -x "$KINTO_VENV/bin/kinto" ] || ! "$KINTO_VENV/bin/kinto" version 2>/dev/null | grep -q "^$KINTO_VERSION"; then
  log "installing kinto $KINTO_VERSION into $KINTO_VENV"
  python3 -m venv "$KINTO_VENV"
  "$KINTO_VENV/bin/pip" install -q --upgrade pip
  "$KINTO_VENV/bin/pip" install -q "kinto[postgresql]==$KINTO_VERSION"
fi
curl -sf -XPOST 127.0.0.1:8474/proxies \
  -d '{"name":"kinto-db","listen":"127.0.0.1:25460","upstream":"127.0.0.1:5432"}' >/dev/null \
  || curl -sf -XPOST 127.0.0.1:8474/proxies/kinto-db -d '{"enabled":true}' >/dev/null
mkdir -p "$KINTO_DIR"
sed -e "s#@PORT@#$KINTO_PORT#" -e "s#@DB_URL@#$KINTO_DB_URL#" \
  examples/kinto/kinto.ini.template >"$KINTO_DIR/kinto.ini"
"$KINTO_VENV/bin/kinto" migrate --ini "$KINTO_DIR/kinto.ini" >"$KINTO_DIR/migrate.log" 2>&1 \
  || { cat "$KINTO_DIR/migrate.log" >&2; exit 1; }
log "configured: $KINTO_DIR/kinto.ini (storage $KINTO_DB_URL)"
if [ "${1:-}" = start ]; then
  nohup "$KINTO_VENV/bin/kinto" start --ini "$KINTO_DIR/kinto.ini" >"$KINTO_DIR/kinto.log" 2>&1 &
  echo $! >"$KINTO_DIR/kinto.pid"
  for _ in $(seq 1 150); do
    curl -sf "127.0.0.1:$KINTO_PORT/v1/__heartbeat__" >/dev/null && { log "started on 127.0.0.1:$KINTO_PORT"; exit 0; }
    sleep 0.2
  done
  log "did not answer on 127.0.0.1:$KINTO_PORT within 30 s"; tail -20 "$KINTO_DIR/kinto.log" >&2; exit 1
fi
