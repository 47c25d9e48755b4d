#!/usr/bin/env bash
# The store's PostgreSQL tests need a server on 127.0.0.1:5432 with trust auth (as this machine
# kind provides); start the cluster when it is not answering.
set -euo pipefail
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432
