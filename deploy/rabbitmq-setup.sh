#!/bin/sh
# One deployment's RabbitMQ vhost and application user, with the least privileges the services
# need (see "RabbitMQ: vhost and user" in deploy/README.md). Safe to re-run: it creates what is
# missing and resets the password and permissions of what exists.
#
#   RABBITMQ_PASSWORD=... deploy/rabbitmq-setup.sh              # vhost and user "exemplars"
#   RABBITMQ_VHOST=exemplars-staging RABBITMQ_USER=exemplars-staging deploy/rabbitmq-setup.sh
#   RABBITMQ_PASSWORD=... RABBITMQ_WORKER_PASSWORD=... deploy/rabbitmq-setup.sh  # and "exemplars-worker"
#   RABBITMQCTL="kubectl exec -i -n exemplars exemplars-rabbitmq-server-0 -- rabbitmqctl" deploy/rabbitmq-setup.sh
#
# The password comes from RABBITMQ_PASSWORD or, when that is unset, a prompt. It reaches
# rabbitmqctl on standard input, never as an argument (which `ps` would show), and is never
# stored here. It goes into AMQP_URI unencoded, so it must be URL-safe: `openssl rand -hex 24`.
#
# With RABBITMQ_WORKER_PASSWORD, a second user for the delivery workers (notifications.worker),
# RABBITMQ_WORKER_USER (default "<user>-worker"): they take jobs from notifications.deliveries and
# retry or park them, and need nothing else -- in particular not nameko-rpc, so a worker's
# credentials cannot send a command to any service (the services also take commands only with a
# gateway-signed caller, shared/callers.py). Without it the workers connect as the services' user.
set -eu

VHOST=${RABBITMQ_VHOST:-exemplars}
APP_USER=${RABBITMQ_USER:-exemplars}
WORKER_USER=${RABBITMQ_WORKER_USER:-$APP_USER-worker}
CTL=${RABBITMQCTL:-rabbitmqctl}
# "quorum" makes every durable queue declared without a type a quorum queue. Only on RabbitMQ
# >= 3.13.7: older brokers also try it for nameko's auto-delete reply queues, which fails.
QUEUE_TYPE=${RABBITMQ_DEFAULT_QUEUE_TYPE:-}

# What the services declare, bind, publish to and consume from -- and nothing else:
#   exchanges  nameko-rpc (nameko RPC); <source>.events (shared/relay.py, one per publishing service)
#   queues     rpc-<service>, rpc.reply-<service>-<uuid> (nameko RPC and its reply queues);
#              evt-<source>-<type>--<service>.<method> (nameko event handlers);
#              notifications.deliveries (the delivery work queue, notifications/ledger.py);
#              each consumer's <queue>.retry.<ms>ms and <queue>.parked (shared/reliable_events.py)
#   amq.default  the default exchange, through which retries, parking and jobs are published
SOURCES='(nominations|awards|notifications)'
SERVICE='[A-Za-z0-9_]+'
SUFFIX='(\.retry\.[0-9]+ms|\.parked)?'
EXCHANGES="nameko-rpc|${SOURCES}\\.events"
QUEUES="rpc-${SERVICE}|rpc\\.reply-${SERVICE}-[0-9a-f-]{36}|evt-${SOURCES}-[A-Za-z0-9_.#*-]+--${SERVICE}\\.${SERVICE}${SUFFIX}|notifications\\.deliveries${SUFFIX}"
CONFIGURE="^(${EXCHANGES}|${QUEUES})\$"           # declare
WRITE="^(${EXCHANGES}|${QUEUES}|amq\\.default)\$"  # publish to an exchange; bind a queue
READ="^(${EXCHANGES}|${QUEUES})\$"                 # consume from a queue; bind from an exchange
# The delivery workers: their work queue, its delay and parked queues, the default exchange.
JOBS="notifications\\.deliveries${SUFFIX}"
WORKER_CONFIGURE="^${JOBS}\$"
WORKER_WRITE="^(${JOBS}|amq\\.default)\$"
WORKER_READ="^${JOBS}\$"

if [ "${1:-}" = "--print-permissions" ]; then  # for review and for tests: the regexes, one per line
    printf '%s\n%s\n%s\n' "$CONFIGURE" "$WRITE" "$READ"
    exit 0
fi
if [ "${1:-}" = "--print-worker-permissions" ]; then
    printf '%s\n%s\n%s\n' "$WORKER_CONFIGURE" "$WORKER_WRITE" "$WORKER_READ"
    exit 0
fi

if [ -z "${RABBITMQ_PASSWORD+set}" ]; then
    if [ ! -t 0 ]; then
        echo "rabbitmq-setup: set RABBITMQ_PASSWORD or run from a terminal to be asked for it" >&2
        exit 2
    fi
    printf 'Password for RabbitMQ user %s: ' "$APP_USER" >&2
    stty -echo
    IFS= read -r RABBITMQ_PASSWORD
    stty echo
    printf '\n' >&2
fi
for password in "$RABBITMQ_PASSWORD" ${RABBITMQ_WORKER_PASSWORD+"$RABBITMQ_WORKER_PASSWORD"}; do
    case "$password" in
        "" | *[!A-Za-z0-9._~-]*)
            echo "rabbitmq-setup: the password must be non-empty and URL-safe (A-Z a-z 0-9 . _ ~ -)" >&2
            exit 2 ;;
    esac
done

if ! $CTL -q list_vhosts --no-table-headers | grep -qxF "$VHOST"; then
    if [ -n "$QUEUE_TYPE" ]; then
        $CTL -q add_vhost "$VHOST" --default-queue-type "$QUEUE_TYPE"
    else
        $CTL -q add_vhost "$VHOST"
    fi
fi

user_with() {  # user password configure write read
    if $CTL -q list_users --no-table-headers | cut -f1 | grep -qxF "$1"; then
        printf '%s\n' "$2" | $CTL -q change_password "$1" >/dev/null
    else
        printf '%s\n' "$2" | $CTL -q add_user "$1" >/dev/null
    fi
    $CTL -q set_user_tags "$1"  # no tags: no management UI or HTTP API
    $CTL -q set_permissions -p "$VHOST" "$1" "$3" "$4" "$5"
}
user_with "$APP_USER" "$RABBITMQ_PASSWORD" "$CONFIGURE" "$WRITE" "$READ"
echo "rabbitmq-setup: user $APP_USER on vhost $VHOST with the services' permissions"
if [ -n "${RABBITMQ_WORKER_PASSWORD+set}" ]; then
    user_with "$WORKER_USER" "$RABBITMQ_WORKER_PASSWORD" "$WORKER_CONFIGURE" "$WORKER_WRITE" "$WORKER_READ"
    echo "rabbitmq-setup: user $WORKER_USER on vhost $VHOST with the delivery workers' permissions (no RPC)"
fi
