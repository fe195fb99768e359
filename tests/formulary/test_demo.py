"""The demo formulary: the agreed codes, controlled drugs offline, digoxin out of stock, idempotent."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ihis.formulary.demo import DRUGS, seed_demo_formulary
from ihis.formulary.models import Drug, DrugRevision, DrugStock, Pharmacy
from ihis.formulary.service import drug_facts, search_facts, stock_levels
from tests.factories import make_institution


def test_demo_formulary_is_seeded_once_with_the_agreed_codes(db: Session) -> None:
    inst = make_institution(db)
    ids = seed_demo_formulary(db, inst.id)
    assert seed_demo_formulary(db, inst.id) == ids
    assert len(ids) == len(DRUGS) == 31
    assert db.scalar(select(func.count()).select_from(Drug).where(Drug.institution_id == inst.id)) == 31
    assert (
        db.scalar(select(func.count()).select_from(Pharmacy).where(Pharmacy.institution_id == inst.id)) == 2
    )
    notes = set(db.scalars(select(DrugRevision.note).where(DrugRevision.institution_id == inst.id)))
    assert notes == {"demo seed"}

    facts = drug_facts(db, inst.id, ids.values())
    by_code = {f.code: f for f in facts.values()}
    assert by_code["D009"].classes == {"sulfonylurea", "sulfonamide"}
    assert (
        by_code["D021"].dose_unit == "IU" and by_code["D021"].routes == {"sc"} and by_code["D021"].high_alert
    )
    assert by_code["D022"].dose_unit == "μg"
    assert by_code["D025"].kind == "patent" and by_code["H001"].kind == "herbal"
    assert by_code["H002"].routes == {"decoction"}
    for code, control in (("C001", "narcotic"), ("C002", "psychotropic_2"), ("C003", "psychotropic_1")):
        assert (
            by_code[code].control_class == control and by_code[code].never_online and not by_code[code].online
        )


def test_demo_stock_blocks_digoxin_and_the_supplier_holds_four_drugs(db: Session) -> None:
    inst = make_institution(db)
    ids = seed_demo_formulary(db, inst.id)
    levels = stock_levels(db, inst.id, [ids["D016"], ids["D001"]])
    assert [(lv.kind, lv.available) for lv in levels[ids["D016"]]] == [("hospital", 0)]
    assert [(lv.kind, lv.available) for lv in levels[ids["D001"]]] == [("hospital", 200), ("supplier", 50)]
    supplier_rows = db.scalar(
        select(func.count())
        .select_from(DrugStock)
        .join(Pharmacy)
        .where(Pharmacy.institution_id == inst.id, Pharmacy.kind == "supplier")
    )
    assert supplier_rows == 4
    assert [f.code for f in search_facts(db, inst.id, "AMXL")] == ["D017", "D024"]
