-- One database per service instance: two departments, four councils (the 2018 district and
-- province, the commune and merged province since 2025-07-01), notifications (whose delivery
-- workers share its database). Runs once, when the PostgreSQL volume is created;
-- adding an instance later means creating its database by hand with the same statement.
-- docker-compose.yml mounts this file; deploy/k8s/postgres.yaml carries the same statements
-- (tests/unit/test_deploy.py checks both against every database a service is given).
CREATE DATABASE exemplars_nominations_hoi_nong_dan_yen_the;
CREATE DATABASE exemplars_nominations_lien_doan_lao_dong_yen_the;
CREATE DATABASE exemplars_huyen_yen_the;
CREATE DATABASE exemplars_tinh_bac_giang;
CREATE DATABASE exemplars_xa_yen_the;
CREATE DATABASE exemplars_tinh_bac_ninh;
CREATE DATABASE exemplars_notifications;
CREATE DATABASE exemplars_accounts;  -- accounts, sessions and sign-in failures of the web pages
