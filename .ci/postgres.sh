#!/usr/bin/env bash
# Makes sure the PostgreSQL server the tests use is running: 127.0.0.1:5432,
# user postgres without a password (trust). Installs the Debian package and
# starts the cluster when needed; a fresh Debian cluster asks for passwords
# on TCP, so the loopback gets trust for user postgres (a test machine's
# setting, never a production one). Quick when the server is up.
set -euo pipefail

reachable() {
  psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1
}

if command -v psql >/dev/null 2>&1 && reachable; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "postgres.sh: PostgreSQL at 127.0.0.1:5432 is unreachable and only root can install or start it" >&2
  exit 1
fi
if [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version="$(ls /etc/postgresql | sort -V | tail -1)"
hba="/etc/postgresql/$version/main/pg_hba.conf"
if ! grep -qE '^host\s+all\s+(all|postgres)\s+127\.0\.0\.1/32\s+trust' "$hba"; then
  sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
fi
pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null ||
  pg_ctlcluster --skip-systemctl-redirect "$version" main reload
for _ in $(seq 60); do
  reachable && exit 0
  sleep 1
done
echo "postgres.sh: PostgreSQL $version did not become reachable at 127.0.0.1:5432" >&2
exit 1
