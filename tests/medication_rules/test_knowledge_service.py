"""Loading, versioning and caching the knowledge base; the demo seed."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ihis.identity.access import Actor, permissions_of
from ihis.identity.models import UserAccount
from ihis.medication_rules import service
from ihis.medication_rules.demo import DEMO_ENTRIES, seed_demo_knowledge
from ihis.medication_rules.models import RxKnowledgeVersion
from ihis.platform.errors import Conflict, InvalidInput
from tests.factories import make_institution, make_staff

INTERACTION = {"a": "warfarin", "b": "aspirin", "severity": "warn", "note_zh": "出血", "note_en": "bleeding"}


def actor_of(account: UserAccount) -> Actor:
    roles = frozenset({"senior_pharmacist"})
    return Actor(
        user_id=account.id,
        institution_id=account.institution_id,
        kind="staff",
        display_name=account.display_name,
        roles=roles,
        session_id=0,
        permissions=permissions_of(roles),
    )


@pytest.fixture
def keeper(db: Session) -> Actor:
    return actor_of(make_staff(db, make_institution(db), roles=["senior_pharmacist"]))


def test_empty_knowledge_base_is_version_zero_with_the_rules_defaults(db: Session, keeper: Actor) -> None:
    kb = service.load_knowledge_base(db, keeper.institution_id)
    assert kb.version == 0 and kb.day_limit("ordinary") == 7 and kb.interactions == ()


def test_every_change_makes_a_new_version_and_loading_follows_it(db: Session, keeper: Actor) -> None:
    entry = service.create_entry(db, keeper, "interaction", INTERACTION)
    first = service.load_knowledge_base(db, keeper.institution_id)
    assert first.version == 1 and first.interactions[0].severity == "warn"
    assert service.load_knowledge_base(db, keeper.institution_id) is first  # cached

    assert entry.entry_id is not None
    service.update_entry(db, keeper, entry.entry_id, {**INTERACTION, "severity": "block"}, revision=1)
    second = service.load_knowledge_base(db, keeper.institution_id)
    assert second.version == 2 and second.interactions[0].severity == "block"

    service.delete_entry(db, keeper, entry.entry_id, revision=2)
    assert service.load_knowledge_base(db, keeper.institution_id).interactions == ()
    assert [v.action for v in service.list_versions(db, keeper)] == ["delete", "update", "create"]


def test_an_earlier_version_can_be_rebuilt_as_it_was(db: Session, keeper: Actor) -> None:
    entry = service.create_entry(db, keeper, "interaction", INTERACTION)
    assert entry.entry_id is not None
    service.update_entry(db, keeper, entry.entry_id, {**INTERACTION, "severity": "block"}, revision=1)
    service.delete_entry(db, keeper, entry.entry_id, revision=2)
    assert (
        service.load_knowledge_base(db, keeper.institution_id, version=1).interactions[0].severity == "warn"
    )
    assert (
        service.load_knowledge_base(db, keeper.institution_id, version=2).interactions[0].severity == "block"
    )


def test_stale_revision_is_refused(db: Session, keeper: Actor) -> None:
    entry = service.create_entry(db, keeper, "interaction", INTERACTION)
    assert entry.entry_id is not None
    service.update_entry(db, keeper, entry.entry_id, {**INTERACTION, "severity": "block"}, revision=1)
    with pytest.raises(Conflict):
        service.update_entry(db, keeper, entry.entry_id, INTERACTION, revision=1)


def test_the_same_pair_cannot_be_entered_twice_in_either_order(db: Session, keeper: Actor) -> None:
    service.create_entry(db, keeper, "interaction", INTERACTION)
    with pytest.raises(Conflict):
        service.create_entry(db, keeper, "interaction", {**INTERACTION, "a": "aspirin", "b": "warfarin"})


def test_invalid_entry_names_the_field(db: Session, keeper: Actor) -> None:
    with pytest.raises(InvalidInput) as raised:
        service.create_entry(db, keeper, "interaction", {**INTERACTION, "b": "Aspirin!"})
    assert [e.field for e in raised.value.errors] == ["body.data.b"]


def test_a_version_number_can_be_claimed_once(db: Session, keeper: Actor) -> None:
    service.create_entry(db, keeper, "interaction", INTERACTION)
    db.add(RxKnowledgeVersion(institution_id=keeper.institution_id, version=1, action="create", summary={}))
    with pytest.raises(IntegrityError):
        db.flush()


def test_knowledge_bases_of_institutions_are_separate(db: Session, keeper: Actor) -> None:
    other = actor_of(make_staff(db, make_institution(db), roles=["senior_pharmacist"]))
    service.create_entry(db, keeper, "interaction", INTERACTION)
    assert service.load_knowledge_base(db, other.institution_id).version == 0
    assert service.list_entries(db, other) == []


def test_demo_seed_loads_every_entry_once(db: Session, keeper: Actor) -> None:
    assert seed_demo_knowledge(db, keeper.institution_id) == len(DEMO_ENTRIES)
    assert seed_demo_knowledge(db, keeper.institution_id) == 0
    kb = service.load_knowledge_base(db, keeper.institution_id)
    assert kb.version == 1
    assert sum(service.entry_counts(db, keeper).values()) == len(DEMO_ENTRIES)


def test_export_then_import_reproduces_the_knowledge_base(db: Session, keeper: Actor) -> None:
    seed_demo_knowledge(db, keeper.institution_id)
    exported = service.export(db, keeper)
    before = service.load_knowledge_base(db, keeper.institution_id)
    version = service.import_entries(db, keeper, [(e["kind"], e["data"]) for e in exported["entries"]])
    after = service.load_knowledge_base(db, keeper.institution_id)
    assert version == 2 and after.version == 2
    assert (after.interactions, after.dose_ranges, after.indications) == (
        before.interactions,
        before.dose_ranges,
        before.indications,
    )
