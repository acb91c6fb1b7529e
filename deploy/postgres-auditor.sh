#!/bin/sh
# The auditors' PostgreSQL role: read-only access to every instance's database, nothing else.
# The audit service (behind the gateway's /audit/*) reads the logs as this role (AUDIT_SOURCES), never as the services.
#
# In each instance database it may connect, use schema public and SELECT every table -- those there
# now and, through default privileges, those the services' role creates later (the services create
# their tables on first start, after this has run). It may not insert, update, delete, truncate or
# create anything; PUBLIC loses TEMPORARY on these databases (and CREATE on their schema public,
# already PostgreSQL 15's default), so the role cannot create even temporary tables. Its
# transactions are read-only by default as well.
#
# Runs once, when the PostgreSQL volume is created: docker-compose.yml mounts it and
# deploy/k8s/postgres.yaml carries a copy, as /docker-entrypoint-initdb.d/20-auditor.sh (after
# 10-databases.sql). Safe to run again by hand -- to change the password, or for an instance's
# database added later (AUDITOR_DATABASES=exemplars_<new> …), as a superuser:
#   AUDITOR_DB_PASSWORD=… PGHOST=… PGUSER=exemplars deploy/postgres-auditor.sh
#
#   AUDITOR_DB_PASSWORD  the role's password (required; psql reads it from the environment with
#                        \getenv, so it is never an argument)
#   AUDITOR_DB_ROLE      the role (default exemplars_auditor)
#   SERVICES_DB_ROLE     the role the services connect as, which creates their tables
#                        (default $POSTGRES_USER, else exemplars)
#   AUDITOR_DATABASES    the instance databases (default: those deploy/postgres-init.sql creates;
#                        tests/unit/test_deploy.py checks the two lists are the same)
# psql (15 or newer) connects as $PGUSER, else $POSTGRES_USER (the image's superuser).
#
# The postgres image executes this file, or sources it when it is not executable: so no `set`,
# no `exit` but on failure (which stops the database's initialisation, as it should).

if [ -z "${AUDITOR_DB_PASSWORD:-}" ]; then
    echo "postgres-auditor.sh: set AUDITOR_DB_PASSWORD, the auditors' database password (deploy/README.md)" >&2
    exit 1
fi
export AUDITOR_DB_PASSWORD
auditor_role="${AUDITOR_DB_ROLE:-exemplars_auditor}"
auditor_services_role="${SERVICES_DB_ROLE:-${POSTGRES_USER:-exemplars}}"
auditor_databases="${AUDITOR_DATABASES:-exemplars_nominations_hoi_nong_dan_yen_the exemplars_nominations_lien_doan_lao_dong_yen_the exemplars_huyen_yen_the exemplars_tinh_bac_giang exemplars_xa_yen_the exemplars_tinh_bac_ninh exemplars_notifications}"
auditor_superuser="${PGUSER:-${POSTGRES_USER:-postgres}}"

# The role, once for the server: made if missing; its attributes and password set every time.
psql -X -q -v ON_ERROR_STOP=1 --username "$auditor_superuser" --dbname postgres \
    -v role="$auditor_role" <<'SQL' || { echo "postgres-auditor.sh: could not make the role $auditor_role" >&2; exit 1; }
\getenv auditor_password AUDITOR_DB_PASSWORD
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') AS auditor_role_missing \gset
\if :auditor_role_missing
CREATE ROLE :"role";
\endif
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS PASSWORD :'auditor_password';
ALTER ROLE :"role" SET default_transaction_read_only = on;
SQL

# Each instance database: read, nothing more.
for auditor_database in $auditor_databases; do
    psql -X -q -v ON_ERROR_STOP=1 --username "$auditor_superuser" --dbname "$auditor_database" \
        -v role="$auditor_role" -v services="$auditor_services_role" -v db="$auditor_database" <<'SQL' \
        || { echo "postgres-auditor.sh: could not grant $auditor_role read access to $auditor_database" >&2; exit 1; }
REVOKE TEMPORARY ON DATABASE :"db" FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"role";
GRANT USAGE ON SCHEMA public TO :"role";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"services" IN SCHEMA public GRANT SELECT ON TABLES TO :"role";
SQL
    echo "postgres-auditor.sh: $auditor_role may read $auditor_database"
done
