#!/usr/bin/env bash
# Start this machine's PostgreSQL and RabbitMQ if they are not running, and wait for them.
# (On this kind of machine both are installed from Debian's packages; CI starts from a
# fresh clone, so the project itself makes sure they answer.)
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432; then
  echo "PostgreSQL is not answering on 5432; starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
if ! port_open 5672; then
  echo "RabbitMQ is not answering on 5672; starting it"
  rabbitmq-server -detached
fi
ready=no
for _ in $(seq 1 60); do
  if port_open 5432 && port_open 5672; then ready=yes; break; fi
  sleep 1
done
if [ "$ready" != yes ]; then
  echo "PostgreSQL or RabbitMQ did not come up within 60 s" >&2
  exit 1
fi

