"""How the launcher configures each process of `make run`."""

from dev import launcher


def test_each_council_started_by_the_launcher_gets_its_own_database():
    base = {"AWARDS_DATABASE_URL": "postgresql://root@127.0.0.1/exemplars_{jurisdiction}",
            "AWARDS_JURISDICTION": "set-by-mistake"}
    district = launcher.environment_for("awards-huyen-yen-the", base)
    province = launcher.environment_for("awards-tinh-bac-giang", base)
    assert district["AWARDS_DATABASE_URL"].endswith("/exemplars_huyen_yen_the")
    assert province["AWARDS_DATABASE_URL"].endswith("/exemplars_tinh_bac_giang")
    assert district["AWARDS_JURISDICTION"] == "huyen-yen-the"  # the instance's identity wins
    commune = launcher.environment_for("awards-xa-yen-the", base)
    merged = launcher.environment_for("awards-tinh-bac-ninh", base)
    assert commune["AWARDS_DATABASE_URL"].endswith("/exemplars_xa_yen_the")
    assert merged["AWARDS_DATABASE_URL"].endswith("/exemplars_tinh_bac_ninh")
    assert merged["AWARDS_JURISDICTION"] == "tinh-bac-ninh"


def test_delivery_workers_run_many_deliveries_at_once_and_the_service_keeps_its_own_setting():
    base = {"NOTIFICATIONS_MAX_WORKERS": "10"}
    assert launcher.environment_for("notifications-worker-1", base)["NOTIFICATIONS_MAX_WORKERS"] == \
        launcher.WORKER_CONCURRENCY
    assert launcher.environment_for("notifications", base)["NOTIFICATIONS_MAX_WORKERS"] == "10"
    tuned = base | {"NOTIFICATIONS_WORKER_CONCURRENCY": "32"}
    assert launcher.environment_for("notifications-worker-2", tuned)["NOTIFICATIONS_MAX_WORKERS"] == "32"


def test_every_process_gets_a_metrics_port_of_its_own_and_plain_logs():
    names = list(launcher.with_workers(2))
    environments = {name: launcher.environment_for(name, {"LOG_FORMAT": "json"} if name == "gateway" else {})
                    for name in names}
    addresses = [environments[name][launcher.metrics_variable(name)] for name in names]
    assert len(set(addresses)) == len(names) and all(a.startswith("127.0.0.1:") for a in addresses)
    assert launcher.metrics_variable("awards-xa-yen-the") == "AWARDS_METRICS_ADDRESS"
    assert launcher.metrics_variable("notifications-worker-2") == "NOTIFICATIONS_WORKER_METRICS_ADDRESS"
    assert environments["nominations"]["LOG_FORMAT"] == "plain"  # a terminal's, unless the caller says
    assert environments["gateway"]["LOG_FORMAT"] == "json"


def test_the_audit_service_reads_every_log_of_make_run_and_the_gateway_none():
    from audit import toolkit

    base = {"NOMINATIONS_DATABASE_URL": "postgresql://root@127.0.0.1/exemplars_nominations",
            "AWARDS_DATABASE_URL": "postgresql://root@127.0.0.1/exemplars_{jurisdiction}"}
    sources = toolkit.default_sources(launcher.environment_for("audit", base))
    by_instance = {(s.service, s.instance): s.url for s in sources}
    assert by_instance[("nominations", "nominations-hoi-nong-dan-yen-the")].endswith("/exemplars_nominations")
    assert by_instance[("awards", "awards_tinh_bac_ninh")].endswith("/exemplars_tinh_bac_ninh")
    assert {s.service for s in sources} == {"nominations", "awards", "notifications"}
    assert len(sources) == len(launcher.SERVICES) - 3  # every instance but the gateway, itself and accounts (its log is not audited yet)
    assert "AUDIT_SOURCES" not in launcher.environment_for("gateway", base)
    named = "nominations:x=postgresql://auditor@db/x"
    assert launcher.environment_for("audit", base | {"AUDIT_SOURCES": named})["AUDIT_SOURCES"] == named
