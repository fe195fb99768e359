"""Drugs that can never be prescribed online, and the hospital's own bans."""

from __future__ import annotations

import pytest

from ihis.formulary.facts import NEVER_ONLINE
from ihis.medication_rules.engine import evaluate
from tests.factories_medication_rules import codes, draft, kb_of, line, make_drug, only, patient

BAN_OPIOIDS = (
    "banned_class",
    {"code": "opioid", "reason_zh": "本院不在线开具阿片类", "reason_en": "no opioids online"},
)


@pytest.mark.parametrize("control_class", sorted(NEVER_ONLINE))
def test_every_never_online_control_class_is_blocked(control_class: str) -> None:
    drug = make_drug(1, "morphine", classes={"opioid"}, control_class=control_class)
    finding = only(evaluate(draft(line(1)), patient(), {1: drug}, kb_of()), "control_class_never_online")
    assert finding.severity == "block"
    assert finding.field == "lines.0.drug_id"
    assert finding.detail["control_class"] == control_class
    assert "morphine片" in finding.message_zh


def test_ordinary_control_class_is_not_blocked() -> None:
    drug = make_drug(1, "amlodipine", classes={"ccb"})
    assert codes(evaluate(draft(line(1)), patient(), {1: drug}, kb_of())) == []


def test_banned_class_of_the_knowledge_base_blocks_a_drug_of_that_class() -> None:
    drug = make_drug(1, "tramadol", classes={"opioid"})
    finding = only(evaluate(draft(line(1)), patient(), {1: drug}, kb_of(BAN_OPIOIDS)), "banned_class")
    assert finding.severity == "block"
    assert finding.detail["banned_code"] == "opioid"
    assert "本院不在线开具阿片类" in finding.message_zh


def test_banned_code_matches_an_ingredient_too() -> None:
    ban = ("banned_class", {"code": "tramadol", "reason_zh": "禁用", "reason_en": "banned"})
    drug = make_drug(1, "tramadol", classes={"analgesic"})
    assert "banned_class" in codes(evaluate(draft(line(1)), patient(), {1: drug}, kb_of(ban)))


def test_a_drug_outside_the_banned_class_is_not_banned() -> None:
    drug = make_drug(1, "amlodipine", classes={"ccb"})
    assert codes(evaluate(draft(line(1)), patient(), {1: drug}, kb_of(BAN_OPIOIDS))) == []


def test_drug_missing_from_the_formulary_is_blocked_on_its_line() -> None:
    drug = make_drug(1, "amlodipine", classes={"ccb"})
    finding = only(evaluate(draft(line(1), line(99)), patient(), {1: drug}, kb_of()), "drug_unknown")
    assert (finding.severity, finding.line, finding.field) == ("block", 1, "lines.1.drug_id")


def test_drug_off_the_online_formulary_is_blocked() -> None:
    drug = make_drug(1, "amlodipine", classes={"ccb"}, online=False)
    assert (
        only(evaluate(draft(line(1)), patient(), {1: drug}, kb_of()), "drug_not_online").severity == "block"
    )
