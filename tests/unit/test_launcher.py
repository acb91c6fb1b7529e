"""How the launcher configures each process of `make run`."""

from gateway import launcher


def test_each_council_started_by_the_launcher_gets_its_own_database():
    base = {"AWARDS_DATABASE_URL": "postgresql://root@127.0.0.1/exemplars_{jurisdiction}",
            "AWARDS_JURISDICTION": "set-by-mistake"}
    district = launcher.environment_for("awards-huyen-yen-the", base)
    province = launcher.environment_for("awards-tinh-bac-giang", base)
    assert district["AWARDS_DATABASE_URL"].endswith("/exemplars_huyen_yen_the")
    assert province["AWARDS_DATABASE_URL"].endswith("/exemplars_tinh_bac_giang")
    assert district["AWARDS_JURISDICTION"] == "huyen-yen-the"  # the instance's identity wins
