#!/usr/bin/env bash
# What the test suite needs besides the venv: redis-server (tests/serving starts private
# instances on free ports), promtool from Debian's prometheus (tests/serving/test_deploy.py runs
# the alerting rules' unit tests), haproxy (tests/serving/lifecycle/test_fleet.py runs deploy/haproxy/haproxy.cfg
# on loopback in front of the replicas), chromium (tests/serving/http/test_ui.py drives it with Playwright;
# Playwright's own browser download is not used) and Java 17 or newer (tests/data/spark run
# PySpark, the engine of 'data prepare --engine spark'). Used by `make test` and by .ci/run. As
# root on Debian/Ubuntu it installs the missing packages; otherwise it stops at once with one line
# saying what to install. Idempotent: nothing is installed when all are already there.
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
   && [ -z "${PRISMREC_CHROMIUM:-}" ]; then
  missing+=(chromium fonts-dejavu-core)
fi
# PySpark 4 needs Java 17 or 21; 'java -version' prints e.g. 'openjdk version "17.0.15"'
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1; }
need_java=0
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ] 2>/dev/null; then
  need_java=1
  missing+=(openjdk-17-jre-headless)
fi
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "make test needs ${missing[*]}: install them first (Debian/Ubuntu: sudo apt-get install ${missing[*]}), then run make test again" >&2
  exit 1
fi
echo "installing ${missing[*]} (Debian packages) for the Redis store, fleet, alerts, browser and Spark tests" >&2
apt-get update -qq
# Debian 13 ships Java 21 only; Spark 4 runs on either
if [ "$need_java" -eq 1 ] && ! apt-cache show openjdk-17-jre-headless >/dev/null 2>&1; then
  missing=("${missing[@]/openjdk-17-jre-headless/openjdk-21-jre-headless}")
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# the packages may start system services (redis on 6379); the tests start their own
for svc in redis-server haproxy prometheus; do
  systemctl disable --now "$svc" >/dev/null 2>&1 || service "$svc" stop >/dev/null 2>&1 || true
done
for prog in redis-server haproxy promtool; do
  command -v "$prog" >/dev/null 2>&1 || { echo "$prog is still missing after apt-get install" >&2; exit 1; }
done
command -v java >/dev/null 2>&1 || { echo "java is still missing after apt-get install" >&2; exit 1; }
if [ -z "${PRISMREC_CHROMIUM:-}" ]; then
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
    || { echo "chromium is still missing after apt-get install" >&2; exit 1; }
fi
