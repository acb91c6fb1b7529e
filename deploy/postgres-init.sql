-- One database per service instance (run once, when the PostgreSQL volume is created).
CREATE DATABASE exemplars_huyen_yen_the;
CREATE DATABASE exemplars_tinh_bac_giang;
CREATE DATABASE exemplars_notifications;
