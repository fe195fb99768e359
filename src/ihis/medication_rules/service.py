"""Keeping the knowledge base: load a version (cached in process), list, create, update, delete,
export and import entries. Every change adds a version row; writes are audited."""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.identity.access import Actor
from ihis.medication_rules import entries
from ihis.medication_rules.knowledge import KnowledgeBase
from ihis.medication_rules.models import RxKnowledgeEntry, RxKnowledgeVersion
from ihis.platform import audit
from ihis.platform.errors import Conflict, FieldError, InvalidInput, NotFound

_CACHE_SIZE: Final = 64


@dataclass(frozen=True)
class Writer:
    """Who changes the knowledge base (None for the demo loader)."""

    user_id: int | None
    name: str


# --- loading -----------------------------------------------------------------------------------

_cache: OrderedDict[tuple[int, int, dt.datetime], KnowledgeBase] = OrderedDict()
_cache_lock = threading.Lock()


def _head(db: Session, institution_id: int) -> RxKnowledgeVersion | None:
    return db.scalar(
        select(RxKnowledgeVersion)
        .where(RxKnowledgeVersion.institution_id == institution_id)
        .order_by(RxKnowledgeVersion.version.desc())
        .limit(1)
    )


def current_version(db: Session, institution_id: int) -> int:
    """The institution's knowledge-base version (0 before the first entry)."""
    head = _head(db, institution_id)
    return 0 if head is None else head.version


def _at_version(version: int) -> Any:
    return and_(
        RxKnowledgeEntry.valid_from <= version,
        or_(RxKnowledgeEntry.valid_to.is_(None), RxKnowledgeEntry.valid_to > version),
    )


def _build(db: Session, institution_id: int, version: int) -> KnowledgeBase:
    rows = db.execute(
        select(RxKnowledgeEntry.kind, RxKnowledgeEntry.data)
        .where(RxKnowledgeEntry.institution_id == institution_id, _at_version(version))
        .order_by(RxKnowledgeEntry.kind, RxKnowledgeEntry.natural_key)
    ).all()
    return entries.build(version, [(kind, entries.parse(kind, data)) for kind, data in rows])


def load_knowledge_base(db: Session, institution_id: int, version: int | None = None) -> KnowledgeBase:
    """The institution's knowledge base, current or as of ``version``; immutable, cached per version.

    The cache key includes the version row's creation time, so a version number reused after a
    rolled-back change never serves the contents of the discarded one."""
    if version is None:
        head = _head(db, institution_id)
    else:
        head = db.scalar(
            select(RxKnowledgeVersion).where(
                RxKnowledgeVersion.institution_id == institution_id, RxKnowledgeVersion.version == version
            )
        )
        if head is None and version != 0:
            raise NotFound("知识库版本不存在", "No such knowledge-base version")
    if head is None:
        return KnowledgeBase(version=0)
    key = (institution_id, head.version, head.created_at)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    built = _build(db, institution_id, head.version)
    with _cache_lock:
        _cache[key] = built
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return built


# --- validation --------------------------------------------------------------------------------


def _validated(kind: str, data: Mapping[str, Any], field: str) -> entries.EntryData:
    try:
        return entries.parse(kind, data)
    except ValidationError as exc:
        errors = [
            FieldError(
                ".".join([field, *(str(p) for p in err["loc"])]),
                str(err["type"]),
                f"值不正确：{err['msg']}",
                str(err["msg"]),
            )
            for err in exc.errors()
        ]
        names = ", ".join(e.field for e in errors)
        raise InvalidInput(f"以下字段有误：{names}", f"Invalid fields: {names}", errors=errors) from None


def _key_taken(kind: str, key: str, field: str) -> Conflict:
    return Conflict(
        "知识库中已有相同条目",
        f"The knowledge base already has a {kind} entry for {key}",
        errors=[FieldError(field, "duplicate", "已有相同条目", "Duplicate entry")],
    )


# --- writing -----------------------------------------------------------------------------------


def _bump(
    db: Session,
    institution_id: int,
    writer: Writer,
    action: str,
    *,
    kind: str | None = None,
    entry_id: int | None = None,
    summary: dict[str, Any] | None = None,
) -> RxKnowledgeVersion:
    """Claim the next version number (409 if a concurrent change claimed it first)."""
    version = current_version(db, institution_id) + 1
    row = RxKnowledgeVersion(
        institution_id=institution_id,
        version=version,
        action=action,
        kind=kind,
        entry_id=entry_id,
        summary=summary or {},
        actor_id=writer.user_id,
        actor_name=writer.name[:64],
    )
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError:
        raise Conflict(
            "知识库正被他人修改，请重试", "The knowledge base changed meanwhile; try again"
        ) from None
    return row


def _insert(
    db: Session, institution_id: int, writer: Writer, kind: str, data: entries.EntryData, version: int
) -> RxKnowledgeEntry:
    row = RxKnowledgeEntry(
        institution_id=institution_id,
        kind=kind,
        natural_key=data.natural_key()[:200],
        data=entries.stored(data),
        valid_from=version,
        valid_to=None,
        created_by=writer.user_id,
    )
    db.add(row)
    db.flush()
    return row


def _writer(actor: Actor) -> Writer:
    return Writer(actor.user_id, actor.display_name)


def _audit(db: Session, actor: Actor, action: str, entry_id: int, kind: str, version: int) -> None:
    audit.record(
        db,
        actor.audit(),
        f"rx_knowledge.{action}",
        resource_type="rx_knowledge_entry",
        resource_id=entry_id,
        detail={"kind": kind, "version": version},
    )


def create_entry(db: Session, actor: Actor, kind: str, data: Mapping[str, Any]) -> RxKnowledgeEntry:
    """Add an entry of ``kind`` (422 naming the bad field, 409 if the same entry exists)."""
    parsed = _validated(kind, data, "body.data")
    head = _bump(db, actor.institution_id, _writer(actor), "create", kind=kind)
    try:
        with db.begin_nested():
            row = _insert(db, actor.institution_id, _writer(actor), kind, parsed, head.version)
    except IntegrityError:
        raise _key_taken(kind, parsed.natural_key(), "body.data") from None
    row.entry_id = head.entry_id = row.id
    db.flush()
    _audit(db, actor, "create", row.id, kind, head.version)
    return row


def get_entry(db: Session, actor: Actor, entry_id: int) -> RxKnowledgeEntry:
    """The current revision of an entry of the actor's institution, or 404."""
    row = db.scalar(
        select(RxKnowledgeEntry).where(
            RxKnowledgeEntry.institution_id == actor.institution_id,
            RxKnowledgeEntry.entry_id == entry_id,
            RxKnowledgeEntry.valid_to.is_(None),
        )
    )
    if row is None:
        raise NotFound("知识库条目不存在", "No such knowledge-base entry")
    return row


def list_entries(db: Session, actor: Actor, kind: str | None = None) -> list[RxKnowledgeEntry]:
    """The current entries, of one kind or all, by kind and natural key."""
    query = select(RxKnowledgeEntry).where(
        RxKnowledgeEntry.institution_id == actor.institution_id, RxKnowledgeEntry.valid_to.is_(None)
    )
    if kind is not None:
        query = query.where(RxKnowledgeEntry.kind == kind)
    return list(db.scalars(query.order_by(RxKnowledgeEntry.kind, RxKnowledgeEntry.natural_key)))


def _close(db: Session, current: RxKnowledgeEntry, revision: int, version: int) -> None:
    """Guarded close of the current revision (409 if it is no longer ``revision``)."""
    closed = db.execute(
        update(RxKnowledgeEntry)
        .where(
            RxKnowledgeEntry.id == current.id,
            RxKnowledgeEntry.valid_to.is_(None),
            RxKnowledgeEntry.valid_from == revision,
        )
        .values(valid_to=version)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if closed != 1:
        raise Conflict(
            "条目已被修改，请刷新后重试",
            "The entry was changed meanwhile; reload it",
            errors=[FieldError("body.revision", "stale", "版本已过期", "Stale revision")],
        )


def update_entry(
    db: Session, actor: Actor, entry_id: int, data: Mapping[str, Any], revision: int
) -> RxKnowledgeEntry:
    """Replace an entry's data if it is still at ``revision`` (a new revision, a new version)."""
    current = get_entry(db, actor, entry_id)
    parsed = _validated(current.kind, data, "body.data")
    version = _bump(
        db, actor.institution_id, _writer(actor), "update", kind=current.kind, entry_id=entry_id
    ).version
    _close(db, current, revision, version)
    try:
        with db.begin_nested():
            row = _insert(db, actor.institution_id, _writer(actor), current.kind, parsed, version)
            row.entry_id = entry_id
            db.flush()
    except IntegrityError:
        raise _key_taken(current.kind, parsed.natural_key(), "body.data") from None
    _audit(db, actor, "update", entry_id, current.kind, version)
    return row


def delete_entry(db: Session, actor: Actor, entry_id: int, revision: int) -> int:
    """Retire an entry at ``revision`` (kept in history); returns the new version."""
    current = get_entry(db, actor, entry_id)
    version = _bump(
        db, actor.institution_id, _writer(actor), "delete", kind=current.kind, entry_id=entry_id
    ).version
    _close(db, current, revision, version)
    _audit(db, actor, "delete", entry_id, current.kind, version)
    return version


def list_versions(db: Session, actor: Actor, limit: int = 100) -> list[RxKnowledgeVersion]:
    """The latest changes, newest first."""
    return list(
        db.scalars(
            select(RxKnowledgeVersion)
            .where(RxKnowledgeVersion.institution_id == actor.institution_id)
            .order_by(RxKnowledgeVersion.version.desc())
            .limit(limit)
        )
    )


def entry_counts(db: Session, actor: Actor) -> dict[str, int]:
    """Current entries per kind (every kind listed)."""
    rows = db.execute(
        select(RxKnowledgeEntry.kind, func.count())
        .where(RxKnowledgeEntry.institution_id == actor.institution_id, RxKnowledgeEntry.valid_to.is_(None))
        .group_by(RxKnowledgeEntry.kind)
    ).all()
    counts = dict.fromkeys(entries.KINDS, 0)
    counts.update({kind: int(n) for kind, n in rows})
    return counts


# --- export / import ---------------------------------------------------------------------------

EXPORT_FORMAT: Final = "ihis-rx-knowledge/1"


def export(db: Session, actor: Actor) -> dict[str, Any]:
    """The current knowledge base as JSON (the import format)."""
    return {
        "format": EXPORT_FORMAT,
        "version": current_version(db, actor.institution_id),
        "entries": [{"kind": r.kind, "data": r.data} for r in list_entries(db, actor)],
    }


def replace_all(
    db: Session,
    institution_id: int,
    writer: Writer,
    items: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    action: str = "import",
    field: str = "body.entries",
) -> int:
    """Replace every current entry with ``items`` (kind, data) as one new version; all or nothing."""
    parsed: list[tuple[str, entries.EntryData]] = []
    seen: dict[tuple[str, str], int] = {}
    for index, (kind, data) in enumerate(items):
        entry = _validated(kind, data, f"{field}.{index}.data")
        first = seen.setdefault((kind, entry.natural_key()), index)
        if first != index:
            raise InvalidInput.field(
                f"{field}.{index}.data",
                "duplicate",
                f"与第 {first + 1} 个条目重复",
                f"Same entry as item {first}",
            )
        parsed.append((kind, entry))
    version = _bump(db, institution_id, writer, action, summary={"entries": len(parsed)}).version
    db.execute(
        update(RxKnowledgeEntry)
        .where(RxKnowledgeEntry.institution_id == institution_id, RxKnowledgeEntry.valid_to.is_(None))
        .values(valid_to=version)
        .execution_options(synchronize_session=False)
    )
    for kind, entry in parsed:
        row = _insert(db, institution_id, writer, kind, entry, version)
        row.entry_id = row.id
    db.flush()
    return version


def import_entries(db: Session, actor: Actor, items: Sequence[tuple[str, Mapping[str, Any]]]) -> int:
    """Replace the knowledge base with an export (audited); returns the new version."""
    version = replace_all(db, actor.institution_id, _writer(actor), items)
    audit.record(
        db,
        actor.audit(),
        "rx_knowledge.import",
        resource_type="rx_knowledge_version",
        resource_id=version,
        detail={"entries": len(items), "version": version},
    )
    return version
