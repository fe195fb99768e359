"""Importing official code tables: header detection, all-or-nothing, editions, idempotent re-import."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ihis import cli
from ihis.coding import editions, import_service, service
from ihis.coding.models import CodeEdition, CodeSystem, DiagnosisCode
from ihis.platform.audit import SYSTEM_CONTEXT
from ihis.platform.errors import InvalidInput
from ihis.settings import Settings
from tests.factories import make_institution
from tests.factories_coding import csv_bytes, make_edition, xlsx_bytes


def _import(
    db: Session, inst_id: int, data: bytes, edition: str, *, current: bool = True, filename: str | None = None
):  # type: ignore[no-untyped-def]
    planned = import_service.plan_import(import_service.read_rows(filename, data))
    result = import_service.apply_import(
        db,
        SYSTEM_CONTEXT,
        inst_id,
        CodeSystem.ICD10,
        edition,
        planned,
        imported_by=None,
        make_current=current,
    )
    db.commit()
    return result


def _codes(db: Session, edition: CodeEdition) -> dict[str, tuple[str, bool]]:
    rows = db.scalars(select(DiagnosisCode).where(DiagnosisCode.edition_id == edition.id))
    return {r.code: (r.name, r.enabled) for r in rows}


def test_the_header_is_found_below_the_official_title_and_initials_are_computed(db: Session) -> None:
    inst = make_institution(db)
    data = xlsx_bytes(
        ["序号", "疾病编码", "疾病名称", "类目编码"],
        [[1, "I10.x00x002", "原发性高血压", "I10"], [2, "E11.900", "2型糖尿病", "E11"]],
        title="国家临床版2.0疾病诊断编码（ICD-10）",
    )
    result = _import(db, inst.id, data, "ICD-10 国临版 2.0")
    assert (result.added, result.updated, result.disabled) == (2, 0, 0)
    row = db.scalar(select(DiagnosisCode).where(DiagnosisCode.code == "I10.x00x002"))
    assert row is not None
    assert (row.code_key, row.initials, row.parent_code) == ("I10X00X002", "yfxgxy", "I10")
    assert result.edition.is_current and result.edition.code_count == 2


def test_a_gb18030_csv_with_diagnosis_columns_is_read(db: Session) -> None:
    inst = make_institution(db)
    data = csv_bytes(["诊断编码", "诊断名称"], [["J45.900", "支气管哮喘"]], encoding="gb18030")
    result = _import(db, inst.id, data, "ICD-10 医保版 2.0", filename="yb.csv")
    assert _codes(db, result.edition) == {"J45.900": ("支气管哮喘", True)}


def test_a_file_without_code_and_name_columns_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        import_service.read_rows("x.csv", csv_bytes(["编号", "说明"], [["I10", "高血压"]]))
    assert caught.value.errors[0].field == "file"
    assert caught.value.errors[0].code == "column_missing"


def test_one_bad_row_imports_nothing_and_every_bad_row_is_named(db: Session) -> None:
    inst = make_institution(db)
    data = csv_bytes(
        ["编码", "名称"],
        [
            ["I10.x00x002", "原发性高血压"],
            ["", "没有编码"],
            ["E11.900", ""],
            ["i10.X00X002", "重复"],
            ["I1 0#", "坏编码"],
            ["K21.900", "长" * 201],
        ],
    )
    rows = import_service.read_rows("t.csv", data)
    with pytest.raises(InvalidInput) as caught:
        import_service.plan_import(rows)
    fields = [(e.field, e.code) for e in caught.value.errors]
    assert fields == [
        ("rows.3.code", "code_missing"),
        ("rows.4.name", "name_missing"),
        ("rows.5.code", "duplicate_in_file"),
        ("rows.6.code", "code_invalid"),
        ("rows.7.name", "name_too_long"),
    ]
    assert caught.value.extra["error_rows"] == [3, 4, 5, 6, 7]
    assert db.scalar(select(CodeEdition.id).where(CodeEdition.institution_id == inst.id)) is None


def test_reimporting_an_edition_updates_adds_and_disables_and_is_idempotent(db: Session) -> None:
    inst = make_institution(db)
    first = [["I10.x00x002", "原发性高血压"], ["E11.900", "2型糖尿病"], ["J45.900", "哮喘"]]
    edition = _import(db, inst.id, csv_bytes(["编码", "名称"], first), "国临版").edition
    second = [["I10.x00x002", "原发性高血压"], ["J45.900", "支气管哮喘"], ["K21.900", "胃食管反流病"]]
    again = _import(db, inst.id, csv_bytes(["编码", "名称"], second), "国临版")
    assert again.edition.id == edition.id
    assert (again.added, again.updated, again.unchanged, again.disabled) == (1, 1, 1, 1)
    assert _codes(db, edition) == {
        "I10.x00x002": ("原发性高血压", True),
        "E11.900": ("2型糖尿病", False),  # kept for old records, no longer offered
        "J45.900": ("支气管哮喘", True),
        "K21.900": ("胃食管反流病", True),
    }
    same = _import(db, inst.id, csv_bytes(["编码", "名称"], second), "国临版")
    assert (same.added, same.updated, same.unchanged, same.disabled) == (0, 0, 3, 0)
    assert [m.code.code for m in service.search(db, edition, "E11", 10)] == []
    assert service.get_code(db, edition, "e11.900").enabled is False


def test_editions_are_kept_apart_and_one_is_current(db: Session) -> None:
    inst = make_institution(db)
    clinical = make_edition(db, inst, [("I10.x00x002", "原发性高血压", None)], name="国临版 2.0")
    insurance = make_edition(db, inst, [("I10.x00x002", "高血压病", None)], name="医保版 2.0", current=False)
    assert service.get_code(db, clinical, "I10.x00x002").name == "原发性高血压"
    assert service.get_code(db, insurance, "I10.x00x002").name == "高血压病"
    editions.set_current(db, inst.id, insurance.id)
    db.commit()
    current = editions.current_edition(db, inst.id, CodeSystem.ICD10)
    assert current is not None and current.id == insurance.id
    db.refresh(clinical)
    assert clinical.is_current is False


def test_the_database_refuses_two_current_editions_of_one_system(db: Session) -> None:
    inst = make_institution(db)
    make_edition(db, inst, name="A")
    db.add(CodeEdition(institution_id=inst.id, system="icd10", name="B", is_current=True))
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()


def test_tcm_systems_have_their_own_current_editions(db: Session) -> None:
    inst = make_institution(db)
    make_edition(db, inst, name="ICD")
    make_edition(db, inst, [("A17.01", "眩晕病", None)], system=CodeSystem.TCM_DISEASE, name="病名")
    make_edition(
        db, inst, [("B04.03.01.01", "肝阳上亢证", None)], system=CodeSystem.TCM_SYNDROME, name="证候"
    )
    for system, name in (
        (CodeSystem.ICD10, "ICD"),
        (CodeSystem.TCM_DISEASE, "病名"),
        (CodeSystem.TCM_SYNDROME, "证候"),
    ):
        current = editions.current_edition(db, inst.id, system)
        assert current is not None and current.name == name


@pytest.fixture
def cli_database(monkeypatch: pytest.MonkeyPatch, settings: Settings, database):  # type: ignore[no-untyped-def]
    """The CLI against this test's transaction."""
    monkeypatch.setattr(cli, "_settings", lambda: settings)
    monkeypatch.setattr(cli, "_database", lambda s: database)
    return database


def test_ihis_import_icd10_imports_and_makes_current(db: Session, cli_database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inst = make_institution(db)
    db.commit()
    path = tmp_path / "icd.xlsx"
    path.write_bytes(xlsx_bytes(["编码", "名称"], [["I10.x00x002", "原发性高血压"]]))
    args = ["import", "icd10", str(path), "--edition", "ICD-10 国临版 2.0", "--make-current"]
    result = CliRunner().invoke(cli.app, [*args, "--institution", inst.code])
    assert result.exit_code == 0, result.output
    assert "1 added" in result.output and "(current)" in result.output
    current = editions.current_edition(db, inst.id, CodeSystem.ICD10)
    assert current is not None and current.name == "ICD-10 国临版 2.0"


def test_ihis_import_prints_every_bad_row_and_imports_nothing(
    db: Session, cli_database, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    inst = make_institution(db)
    db.commit()
    path = tmp_path / "tcm.csv"
    path.write_bytes(csv_bytes(["病名编码", "病名"], [["A17.01", "眩晕病"], ["", "消渴病"], ["A04.01", ""]]))
    args = ["import", "icd10", str(path), "--edition", "病名 2021", "--system", "tcm-disease"]
    result = CliRunner().invoke(cli.app, [*args, "--institution", inst.code])
    assert result.exit_code == 1
    assert "rows.3.code" in result.output and "rows.4.name" in result.output
    assert editions.list_editions(db, inst.id, CodeSystem.TCM_DISEASE) == []


def test_ihis_import_refuses_an_unknown_system(db: Session, cli_database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inst = make_institution(db)
    db.commit()
    path = tmp_path / "x.csv"
    path.write_bytes(csv_bytes(["编码", "名称"], [["I10", "高血压"]]))
    args = ["import", "icd10", str(path), "--edition", "x", "--system", "icd9"]
    result = CliRunner().invoke(cli.app, [*args, "--institution", inst.code])
    assert result.exit_code == 1
    assert "system" in result.output
