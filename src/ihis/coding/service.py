"""Code search for clinicians and code look-ups for other domains (EMR, templates).

Ranking (docs/coding.md): 1. the exact code, 2. codes starting with the query (case and dots
ignored: ``i10x`` finds ``I10.x00x002``), 3. names whose pinyin initials start with the query
(``gxy`` -> 高血压), 4. names containing the query, 5. names whose initials contain it
(``tnb`` -> 2型糖尿病). Each step is one indexed query of at most ``limit`` rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, ScalarResult, case, func, select
from sqlalchemy.orm import Session

from ihis.coding import editions
from ihis.coding.keys import code_key, prefix_upper_bound
from ihis.coding.models import CodeEdition, CodeSystem, DiagnosisCode
from ihis.platform.errors import FieldError, InvalidInput, NotFound

MAX_QUERY = 64
_ASCII_WORD = re.compile(r"^[0-9A-Za-z]+$")


@dataclass(frozen=True)
class Match:
    code: DiagnosisCode
    match: str  # code | code_prefix | initials | name | initials_contains


@dataclass(frozen=True)
class Diagnosis:
    """A diagnosis as records and templates keep it: the system, edition, code and its name."""

    system: str
    edition: str
    code: str
    name: str


def edition_or_current(
    db: Session, institution_id: int, system: CodeSystem, edition_id: int | None
) -> CodeEdition:
    """The requested edition, or the current one (404 when the institution has none)."""
    if edition_id is not None:
        return editions.get_edition(db, institution_id, system, edition_id)
    edition = editions.current_edition(db, institution_id, system)
    if edition is None:
        raise NotFound("尚未设置该编码体系的当前版本", "No current edition of this code system")
    return edition


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _indexed_steps(q: str) -> Iterable[tuple[str, ColumnElement[bool], tuple[Any, ...]]]:
    """(match kind, condition, order) of the steps answered by a b-tree range."""
    key = code_key(q)
    if key:
        yield "code", DiagnosisCode.code_key == key, (DiagnosisCode.code_key,)
        yield (
            "code_prefix",
            (DiagnosisCode.code_key > key) & (DiagnosisCode.code_key < prefix_upper_bound(key)),
            (func.length(DiagnosisCode.code_key), DiagnosisCode.code_key),
        )
    if _ASCII_WORD.match(q):
        word = q.lower()
        yield (
            "initials",
            (DiagnosisCode.initials >= word) & (DiagnosisCode.initials < prefix_upper_bound(word)),
            (func.length(DiagnosisCode.initials), DiagnosisCode.code_key),
        )


def _scan_step(db: Session, q: str) -> tuple[ColumnElement[bool], tuple[Any, ...]]:
    """Names containing ``q`` (those starting with it first), then initials containing it: one scan."""
    pattern = _escape_like(q)
    # SQLite's LIKE already ignores ASCII case; lower() on every row would only slow the scan.
    postgres = db.get_bind().dialect.name == "postgresql"

    def like(text: str) -> ColumnElement[bool]:
        if postgres:
            return DiagnosisCode.name.ilike(text, escape="\\")
        return DiagnosisCode.name.like(text, escape="\\")

    in_name = like(f"%{pattern}%")
    condition, rank = in_name, case((like(f"{pattern}%"), 0), else_=1)
    if _ASCII_WORD.match(q) and len(q) >= 2:
        condition = in_name | DiagnosisCode.initials.like(f"%{q.lower()}%")
        rank = case((like(f"{pattern}%"), 0), (in_name, 1), else_=2)
    return condition, (rank, func.length(DiagnosisCode.name), DiagnosisCode.code_key)


def _rows(
    db: Session, edition: CodeEdition, condition: ColumnElement[bool], order: tuple[Any, ...], limit: int
) -> ScalarResult[DiagnosisCode]:
    stmt = (
        select(DiagnosisCode)
        .where(DiagnosisCode.edition_id == edition.id, DiagnosisCode.enabled.is_(True), condition)
        .order_by(*order)
        .limit(limit)
    )
    return db.scalars(stmt)


def search(db: Session, edition: CodeEdition, q: str, limit: int) -> list[Match]:
    """The enabled codes of ``edition`` matching ``q``, best first, at most ``limit``."""
    q = " ".join(q.split())
    if not q or len(q) > MAX_QUERY:
        raise InvalidInput.field(
            "query.q",
            "query_invalid",
            f"检索词须为 1–{MAX_QUERY} 个字符",
            f"q must be 1-{MAX_QUERY} characters",
        )
    found: list[Match] = []
    seen: set[int] = set()

    def take(rows: Iterable[DiagnosisCode], kind: str | None) -> None:
        for row in rows:
            if row.id not in seen and len(found) < limit:
                seen.add(row.id)
                found.append(
                    Match(row, kind or ("name" if q.lower() in row.name.lower() else "initials_contains"))
                )

    for kind, condition, order in _indexed_steps(q):
        if len(found) < limit:
            take(_rows(db, edition, condition, order, limit), kind)
    # A query with a digit that matched codes is a code: skip the scan of every name (docs/coding.md).
    if len(found) < limit and not (found and any(c.isdigit() for c in q)):
        condition, order = _scan_step(db, q)
        take(_rows(db, edition, condition, order, limit + len(found)), None)
    return found


def get_code(db: Session, edition: CodeEdition, code: str) -> DiagnosisCode:
    """One code of ``edition`` (disabled ones too: old records cite them), or 404."""
    row = db.scalar(
        select(DiagnosisCode).where(
            DiagnosisCode.edition_id == edition.id, DiagnosisCode.code_key == code_key(code)
        )
    )
    if row is None:
        raise NotFound("编码不存在", "No such code")
    return row


def resolve_diagnoses(
    db: Session, institution_id: int, items: list[tuple[str, str]], field: str
) -> list[Diagnosis]:
    """Each (system, code) as an enabled code of its system's current edition; 422 naming every bad one.

    One query per system for all its codes (not one per code): a save resolves every diagnosis."""
    problems: list[list[FieldError]] = [[] for _ in items]  # by item, so they stay in item order
    systems: list[CodeSystem | None] = []
    for index, (system_value, _code) in enumerate(items):
        try:
            systems.append(editions.parse_system(system_value, f"{field}.{index}.system"))
        except InvalidInput as exc:
            problems[index] += exc.errors
            systems.append(None)
    current = {
        system: editions.current_edition(db, institution_id, system)
        for system in dict.fromkeys(s for s in systems if s is not None)
    }
    rows: dict[tuple[int, str], DiagnosisCode] = {}
    for wanted, edition in current.items():
        if edition is None:
            continue
        keys = {code_key(code) for s, (_v, code) in zip(systems, items, strict=True) if s is wanted}
        for found in db.scalars(
            select(DiagnosisCode).where(
                DiagnosisCode.edition_id == edition.id,
                DiagnosisCode.code_key.in_(keys),
                DiagnosisCode.enabled.is_(True),
            )
        ):
            rows[(edition.id, found.code_key)] = found
    resolved: list[Diagnosis] = []
    for index, (parsed, (_value, code)) in enumerate(zip(systems, items, strict=True)):
        if parsed is None:
            continue
        edition = current[parsed]
        row = rows.get((edition.id, code_key(code))) if edition is not None else None
        if edition is None or row is None:
            problems[index].append(
                FieldError(
                    f"{field}.{index}.code",
                    "code_unknown",
                    f"编码 {code} 不在当前版本中",
                    f"Code {code} is not in the current edition",
                )
            )
            continue
        resolved.append(Diagnosis(parsed.value, edition.name, row.code, row.name))
    if any(problems):
        errors = [e for item in problems for e in item]
        raise InvalidInput("诊断编码有误", "Invalid diagnosis codes", errors=errors)
    return resolved
