#!/usr/bin/env bash
# What the test suite needs besides the venv: redis-server (tests/serving starts private
# instances on free ports) and chromium (tests/serving/test_ui.py drives it with Playwright;
# Playwright's own browser download is not used). Used by `make test` and by .ci/run. As root on
# Debian/Ubuntu it installs the missing packages; otherwise it stops at once with one line saying
# what to install. Idempotent: nothing is installed when both are already there.
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
   && [ -z "${PRISMREC_CHROMIUM:-}" ]; then
  missing+=(chromium fonts-dejavu-core)
fi
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "make test needs ${missing[*]}: install them first (Debian/Ubuntu: sudo apt-get install ${missing[*]}), then run make test again" >&2
  exit 1
fi
echo "installing ${missing[*]} (Debian packages) for the Redis store and browser tests" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# the redis package may start a system service on 6379; the tests do not use it
systemctl disable --now redis-server >/dev/null 2>&1 || service redis-server stop >/dev/null 2>&1 || true
command -v redis-server >/dev/null 2>&1 || { echo "redis-server is still missing after apt-get install" >&2; exit 1; }
if [ -z "${PRISMREC_CHROMIUM:-}" ]; then
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
    || { echo "chromium is still missing after apt-get install" >&2; exit 1; }
fi
