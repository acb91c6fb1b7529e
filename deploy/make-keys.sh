#!/bin/sh
# Make the secrets a deployment mounts, once (deploy/README.md, "Keys"):
#   <dir>/private/<instance>.key   each instance's Ed25519 signing key (PKCS#8 PEM), mode 600
#   <dir>/trusted/<instance>.pub   its public half (SubjectPublicKeyInfo PEM): TRUSTED_KEYS_DIR
#   <dir>/trusted/<instance>.trust.yaml  what that key speaks for (shared/trust.py): its service and
#                                  department or council, from the instance's name; edit it where a
#                                  department's instance is named otherwise
#   <dir>/gateway-token.secret     the gateway's bearer-token secret (32 random bytes, hex)
#   <dir>/notifications-webhook-secrets.key  the Fernet key sealing webhook secrets at rest
#                                  (services/notifications/notifications/sealing.py), for
#                                  notifications and its workers alone
# <dir> is deploy/keys (git-ignored) unless KEYS_DIR says otherwise. Existing files are kept:
# a replaced key could no longer vouch for the checkpoints it signed, so rotation is a
# deliberate act, `rotate` (shared/signing.py, rotate_key, does the same):
#   <dir>/trusted/<instance>.retired-<UTC time>.pub  the old public key, trusted for what was
#                                  signed until that time: now + ROTATE_GRACE_S (default 300 s,
#                                  the time to hand the new private key to the running instance)
#   <dir>/private/<instance>.key   replaced by a new key: the old private key is gone
#   <dir>/trusted/<instance>.pub   the new key's public half; the claims file is kept
#
#   deploy/make-keys.sh                          # the instances docker-compose.yml and deploy/k8s run
#   deploy/make-keys.sh nominations-doan-thanh-nien-yen-the   # one more department
#   deploy/make-keys.sh rotate awards_huyen_yen_the           # a new key for one instance
set -eu
umask 077

KEYS_DIR=${KEYS_DIR:-$(dirname "$0")/keys}

if [ "${1:-}" = rotate ]; then
    [ "$#" -eq 2 ] || { echo "usage: make-keys.sh rotate <instance>" >&2; exit 2; }
    instance=$2
    case "$instance" in
        *.retired-*) echo "make-keys: bad instance name: $instance" >&2; exit 2 ;;
        [A-Za-z0-9]*) ;;
        *) echo "make-keys: bad instance name: $instance" >&2; exit 2 ;;
    esac
    private="$KEYS_DIR/private/$instance.key"
    trusted="$KEYS_DIR/trusted"
    [ -e "$private" ] || { echo "make-keys: no key to rotate: $private" >&2; exit 2; }
    grace=${ROTATE_GRACE_S:-300}
    until=$(( $(date -u +%s) + grace ))
    # GNU date, then BSD date
    at=$(date -u -d "@$until" +%Y%m%dT%H%M%SZ 2>/dev/null || date -u -r "$until" +%Y%m%dT%H%M%SZ)
    retired="$trusted/$instance.retired-$at.pub"
    [ ! -e "$retired" ] || { echo "make-keys: $retired exists: rotated a moment ago" >&2; exit 1; }
    # Each file is made whole under a name that is not a key's, then renamed into place:
    # the old public key first, so it is in the folder throughout.
    openssl pkey -in "$private" -pubout -out "$trusted/.$instance.retired.tmp"
    chmod 644 "$trusted/.$instance.retired.tmp"
    mv "$trusted/.$instance.retired.tmp" "$retired"
    openssl genpkey -algorithm ed25519 -out "$KEYS_DIR/private/.$instance.key.tmp"
    openssl pkey -in "$KEYS_DIR/private/.$instance.key.tmp" -pubout -out "$trusted/.$instance.pub.tmp"
    chmod 644 "$trusted/.$instance.pub.tmp"
    mv "$trusted/.$instance.pub.tmp" "$trusted/$instance.pub"
    mv "$KEYS_DIR/private/.$instance.key.tmp" "$private"  # the old private key is gone
    echo "retired the old key of $instance as $retired (it vouches for what was signed until $at)"
    echo "made $private: give it to $instance, and $trusted/ to every instance, before $at"
    exit 0
fi
# Instance names as the services sign with them: NOMINATIONS_INSTANCE_ID for departments,
# awards_<jurisdiction> for councils (shared/council_queues.py, service_name), NOTIFICATIONS_INSTANCE_ID.
DEFAULT_INSTANCES="nominations-hoi-nong-dan-yen-the nominations-lien-doan-lao-dong-yen-the awards_huyen_yen_the awards_tinh_bac_giang awards_xa_yen_the awards_tinh_bac_ninh notifications gateway"
[ "$#" -gt 0 ] || set -- $DEFAULT_INSTANCES

mkdir -p "$KEYS_DIR/private" "$KEYS_DIR/trusted"
chmod 755 "$KEYS_DIR/trusted"  # public: readable by whatever user a container runs as
for instance in "$@"; do
    case "$instance" in
        [A-Za-z0-9]*) ;;
        *) echo "make-keys: bad instance name: $instance" >&2; exit 2 ;;
    esac
    private="$KEYS_DIR/private/$instance.key"
    if [ ! -e "$private" ]; then
        openssl genpkey -algorithm ed25519 -out "$private"
        echo "made $private"
    fi
    # The public half is derived, so it is always rewritten from the private key.
    openssl pkey -in "$private" -pubout -out "$KEYS_DIR/trusted/$instance.pub"
    chmod 644 "$KEYS_DIR/trusted/$instance.pub"
    claims="$KEYS_DIR/trusted/$instance.trust.yaml"
    if [ ! -e "$claims" ]; then  # kept once written: the deployment may have corrected it
        case "$instance" in
            nominations-*) printf 'service: nominations\ndepartment: %s\n' "${instance#nominations-}" ;;
            awards_*) printf 'service: awards\ncouncil: %s\n' "$(echo "${instance#awards_}" | tr _ -)" ;;
            notifications*) printf 'service: notifications\n' ;;
            gateway*) printf 'service: gateway\n' ;;  # it may sign callers (shared/callers.py), no events
            *) echo "make-keys: $instance: write $claims by hand (service, department or council)" >&2; continue ;;
        esac > "$claims"
        chmod 644 "$claims"
        echo "made $claims"
    fi
done

if [ ! -e "$KEYS_DIR/gateway-token.secret" ]; then
    openssl rand -hex 32 > "$KEYS_DIR/gateway-token.secret"
    echo "made $KEYS_DIR/gateway-token.secret"
fi

if [ ! -e "$KEYS_DIR/notifications-webhook-secrets.key" ]; then
    # A Fernet key: 32 random bytes, URL-safe base64. To rotate, put a new one first in the file.
    openssl rand -base64 32 | tr '+/' '-_' > "$KEYS_DIR/notifications-webhook-secrets.key"
    echo "made $KEYS_DIR/notifications-webhook-secrets.key"
fi
