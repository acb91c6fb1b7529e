"""The council topology is dated data, checked when a service starts."""

import datetime as dt
import shutil

import pytest

from shared.catalog import DEFAULT_DIR, CatalogError, load_catalog

D = dt.date.fromisoformat


@pytest.fixture
def topology(catalog):
    return catalog.topology


@pytest.mark.parametrize("on,council,level", [
    ("2018-10-02", "huyen-yen-the", "district"),
    ("2025-06-30", "huyen-yen-the", "district"),  # the last day of the district level
    ("2025-07-01", "xa-yen-the", "commune"),  # the first day of two-level government
    ("2026-03-15", "xa-yen-the", "commune"),
])
def test_a_departments_nomination_goes_to_the_council_in_force_on_its_date(topology, on, council, level):
    found = topology.nominating_council("hoi-nong-dan-yen-the", D(on))
    assert (found.code, found.level) == (council, level)


def test_the_commune_answers_to_the_merged_province_and_the_district_to_bac_giang(topology):
    assert topology.parent("xa-yen-the", D("2026-01-05")).code == "tinh-bac-ninh"
    assert topology.parent("huyen-yen-the", D("2018-10-02")).code == "tinh-bac-giang"
    assert [c.code for c in topology.above("xa-yen-the", D("2026-01-05"))] == ["tinh-bac-ninh", "trung-uong"]
    assert [c.code for c in topology.above("xa-dong-tam", D("2018-10-02"))] == [
        "huyen-yen-the", "tinh-bac-giang", "trung-uong"]


def test_the_district_and_bac_giang_are_not_in_force_after_the_reform(topology):
    for code in ("huyen-yen-the", "tinh-bac-giang"):
        assert topology.council(code).in_force(D("2025-06-30"))
        assert not topology.council(code).in_force(D("2025-07-01"))
    assert not topology.council("xa-yen-the").in_force(D("2025-06-30"))
    assert {c.code for c in topology.in_force_on(D("2026-01-01"))} == {"xa-yen-the", "tinh-bac-ninh", "trung-uong"}


def test_names_not_yet_checked_against_their_source_are_marked(topology):
    assert "1658/NQ-UBTVQH15" in topology.council("xa-yen-the").to_confirm


def test_an_unknown_department_has_no_council(topology):
    assert topology.nominating_council("phong-khong-co", D("2026-01-01")) is None


@pytest.fixture
def catalog_copy(tmp_path):
    target = tmp_path / "catalogs"
    shutil.copytree(DEFAULT_DIR, target)
    return target


COUNCILS = """
councils:
  - {code: xa-a, name: Xã A, level: commune, parents: [{council: tinh-a}]}
  - {code: tinh-a, name: Tỉnh A, level: province}
departments:
  - {code: d, name: D, nominates_to: [{council: xa-a}]}
"""


@pytest.mark.parametrize("change,expected", [
    (("parents: [{council: tinh-a}]", "parents: [{council: tinh-b}]"), ["xa-a", "unknown parent", "tinh-b"]),
    (("level: province", "level: commune"), ["cannot answer to", "tinh-a"]),
    (("level: commune", "level: hamlet"), ["level", "hamlet"]),
    (("name: Tỉnh A, level: province", "name: Tỉnh A, level: province, valid_until: 2025-06-30"),
     ["parent 'tinh-a' is not in force"]),
    (("nominates_to: [{council: xa-a}]", "nominates_to: [{council: xa-b}]"), ["department 'd'", "unknown council"]),
    (("nominates_to: [{council: xa-a}]",
      "nominates_to: [{council: xa-a}, {council: tinh-a, valid_from: 2025-07-01}]"), ["two councils in force"]),
    (("code: d,", "code: D D,"), ["department code"]),
    (("{code: xa-a, name: Xã A, level: commune, parents: [{council: tinh-a}]}",
      "{code: xa-a, name: Xã A, level: commune, valid_from: 2026-01-01, valid_until: 2025-01-01}"),
     ["valid_until is before valid_from"]),
])
def test_a_broken_topology_stops_the_service_naming_the_file_and_the_entry(catalog_copy, change, expected):
    broken = COUNCILS.replace(*change)
    assert broken != COUNCILS
    (catalog_copy / "councils.yaml").write_text(broken, encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_copy)
    assert "councils.yaml" in str(caught.value)
    for part in expected:
        assert part in str(caught.value)


def test_a_sound_small_topology_loads(catalog_copy):
    (catalog_copy / "councils.yaml").write_text(COUNCILS, encoding="utf-8")
    assert load_catalog(catalog_copy).topology.nominating_council("d", D("2030-01-01")).code == "xa-a"


def test_a_missing_topology_file_is_named(catalog_copy):
    (catalog_copy / "councils.yaml").unlink()
    with pytest.raises(CatalogError, match="councils.yaml is missing"):
        load_catalog(catalog_copy)
