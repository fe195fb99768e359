"""The catalogue: field validation, pinyin search, the never-online block (service and database)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.formulary.catalogue import pinyin_key, validate_fields
from ihis.formulary.models import Drug
from ihis.formulary.service import drug_facts, search_facts, stock_levels
from tests.factories import make_institution
from tests.factories_formulary import drug_fields, make_drug, make_pharmacy, set_stock


def test_pinyin_key_holds_initials_of_generic_and_trade_names() -> None:
    assert pinyin_key("阿莫西林胶囊", "阿莫仙") == "AMXLJN AMX"
    assert pinyin_key("盐酸二甲双胍片", None) == "YSEJSGP"


def test_amxl_finds_amoxicillin_by_pinyin_initials(db: Session) -> None:
    inst = make_institution(db)
    amoxicillin = make_drug(db, inst, generic_name="阿莫西林胶囊", trade_name="阿莫仙")
    make_drug(db, inst, generic_name="盐酸二甲双胍片", trade_name=None, ingredients=["metformin"])
    found = search_facts(db, inst.id, "amxl")
    assert [f.id for f in found] == [amoxicillin.id]


def test_search_matches_name_code_prefix_and_trade_name_initials(db: Session) -> None:
    inst = make_institution(db)
    drug = make_drug(db, inst, code="D017", generic_name="阿莫西林胶囊", trade_name="阿莫仙")
    assert [f.id for f in search_facts(db, inst.id, "西林")] == [drug.id]
    assert [f.id for f in search_facts(db, inst.id, "d01")] == [drug.id]
    assert [f.id for f in search_facts(db, inst.id, "AMX")] == [drug.id]
    assert search_facts(db, inst.id, "MXL") == []  # initials match from the start of a name only


def test_search_treats_like_wildcards_literally(db: Session) -> None:
    inst = make_institution(db)
    make_drug(db, inst, generic_name="阿莫西林胶囊")
    assert search_facts(db, inst.id, "%") == []
    assert search_facts(db, inst.id, "_") == []


def test_search_returns_never_online_drugs_flagged_and_skips_disabled_ones(db: Session) -> None:
    inst = make_institution(db)
    morphine = make_drug(
        db, inst, generic_name="吗啡缓释片", control_class="narcotic", online=False, ingredients=["morphine"]
    )
    disabled = make_drug(db, inst, generic_name="吗啡注射液", ingredients=["morphine"])
    db.execute(update(Drug).where(Drug.id == disabled.id).values(status="disabled"))
    found = search_facts(db, inst.id, "MF")
    assert [f.id for f in found] == [morphine.id]
    assert found[0].never_online and not found[0].online


def test_other_institutions_drugs_are_invisible(db: Session) -> None:
    inst, other = make_institution(db), make_institution(db)
    theirs = make_drug(db, other, generic_name="阿莫西林胶囊")
    assert search_facts(db, inst.id, "AMXL") == []
    assert drug_facts(db, inst.id, [theirs.id]) == {}


def test_drug_facts_carry_exact_decimal_amounts_and_codes(db: Session) -> None:
    inst = make_institution(db)
    drug = make_drug(db, inst, unit_amount="47.5", classes=["beta_blocker"], ingredients=["metoprolol"])
    facts = drug_facts(db, inst.id, [drug.id])[drug.id]
    assert facts.unit_amount == Decimal("47.5")
    assert facts.ingredients == frozenset({"metoprolol"})
    assert facts.classes == frozenset({"beta_blocker"})
    assert facts.routes == frozenset({"po"})
    assert facts.online and not facts.never_online


def test_stock_levels_show_available_packages_per_pharmacy_hospital_first(db: Session) -> None:
    inst = make_institution(db)
    drug = make_drug(db, inst)
    supplier = make_pharmacy(db, inst, kind="supplier")
    hospital = make_pharmacy(db, inst)
    set_stock(db, supplier, drug, on_hand=4)
    set_stock(db, hospital, drug, on_hand=10, reserved=3)
    levels = stock_levels(db, inst.id, [drug.id])[drug.id]
    assert [(lv.pharmacy_id, lv.kind, lv.available) for lv in levels] == [
        (hospital.id, "hospital", 7),
        (supplier.id, "supplier", 4),
    ]


@pytest.mark.parametrize(
    "control_class", ["narcotic", "psychotropic_1", "psychotropic_2", "toxic", "vaccine"]
)
def test_never_online_class_cannot_be_online(control_class: str) -> None:
    fields, problems = validate_fields(drug_fields(control_class=control_class, online=True), "body.fields")
    assert fields is None
    assert [(p.field, p.code) for p in problems] == [("body.fields.online", "never_online")]
    fields, problems = validate_fields(drug_fields(control_class=control_class, online=False), "body.fields")
    assert fields is not None and problems == []


def test_database_refuses_an_online_narcotic_even_bypassing_the_service(db: Session) -> None:
    inst = make_institution(db)
    drug = make_drug(db, inst, control_class="narcotic", online=False)
    with pytest.raises(IntegrityError), db.begin_nested():
        db.execute(update(Drug).where(Drug.id == drug.id).values(online=True))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("insurance_code", "XJ01CAA040E00101010000"),  # 22 characters
        ("insurance_code", "xj01caa040e001010100001"),  # lower case
        ("insurance_code", "AJ01CAA040E001010100001"),  # not X/Z/T
        ("approval_number", "国药准字H4402135"),  # 7 digits
        ("approval_number", "H44021351"),
        ("unit_amount", "0"),
        ("unit_amount", "1.23456"),
        ("pack_size", 0),
        ("price_fen", -1),
        ("routes", ["mouth"]),
        ("routes", []),
        ("ingredients", ["Amoxicillin"]),
        ("control_class", "secret"),
        ("kind", "tcm"),
    ],
)
def test_bad_field_values_are_named(field: str, value: object) -> None:
    fields, problems = validate_fields(drug_fields(**{field: value}), "rows.2")
    assert fields is None
    assert any(p.field.startswith(f"rows.2.{field}") for p in problems), problems


def test_unit_amount_is_never_a_float(db: Session) -> None:
    inst = make_institution(db)
    drug = make_drug(db, inst, unit_amount="0.25")
    db.expire(drug)
    assert isinstance(drug.unit_amount, Decimal) and drug.unit_amount == Decimal("0.25")
