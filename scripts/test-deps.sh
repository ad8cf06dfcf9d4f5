#!/usr/bin/env bash
# What the test suite needs besides the venv: redis-server (tests/serving starts private
# instances on free ports). Used by `make test` and by .ci/run. As root on Debian/Ubuntu it
# installs the package; otherwise it stops at once with one line saying what to install.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "make test needs redis-server: install it first (Debian/Ubuntu: sudo apt-get install redis-server), then run make test again" >&2
  exit 1
fi
echo "installing redis-server (Debian package) for the Redis store tests" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# the package may start a system service on 6379; the tests do not use it
systemctl disable --now redis-server >/dev/null 2>&1 || service redis-server stop >/dev/null 2>&1 || true
command -v redis-server >/dev/null 2>&1 || { echo "redis-server is still missing after apt-get install" >&2; exit 1; }
