"""Catalogs are data, checked when a service starts."""

import shutil

import pytest

from shared.catalog import DEFAULT_DIR, CatalogError, load_catalog


def test_shipped_catalogs_carry_yen_the_fields_and_bac_tra_my_movements(catalog):
    assert len(catalog.fields) == 9
    assert catalog.fields["household-economy"].lead_unit == "Hội Nông dân huyện"
    assert catalog.fields["national-security"].lead_unit == "Công an huyện"
    assert catalog.movements["vietnamese-enterprises"].start_year == 2022
    assert catalog.movements["vietnamese-enterprises"].end_year == 2030
    assert set(catalog.subject_kinds) == {"individual", "collective", "household"}
    assert catalog.award_forms["chien-si-thi-dua-tinh"].subject_kinds == ("individual",)


@pytest.fixture
def catalog_copy(tmp_path):
    target = tmp_path / "catalogs"
    shutil.copytree(DEFAULT_DIR, target)
    return target


@pytest.mark.parametrize("file,broken,expected", [
    ("fields.yaml", "- code: health\n  name: Y tế\n", ["fields.yaml", "entry 1", "lead_unit"]),
    ("movements.yaml", "- code: m\n  name: M\n  start_year: 2025\n  end_year: 2021\n", ["movements.yaml", "entry 1", "end_year"]),
    ("award_forms.yaml", "- code: x\n  name: X\n  subject_kinds: [robot]\n", ["award_forms.yaml", "'x'", "robot"]),
    ("fields.yaml", "- code: Bad Code\n  name: x\n  lead_unit: y\n", ["fields.yaml", "Bad Code"]),
    ("subject_kinds.yaml", "[unclosed", ["subject_kinds.yaml", "YAML"]),
    ("fields.yaml", "- code: a\n  name: A\n  lead_unit: U\n- code: a\n  name: B\n  lead_unit: V\n", ["entry 2", "twice"]),
])
def test_a_broken_catalog_is_refused_naming_file_and_entry(catalog_copy, file, broken, expected):
    (catalog_copy / file).write_text(broken, encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_copy)
    for part in expected:
        assert part in str(caught.value)


def test_a_missing_catalog_file_is_named(catalog_copy):
    (catalog_copy / "movements.yaml").unlink()
    with pytest.raises(CatalogError, match="movements.yaml"):
        load_catalog(catalog_copy)

