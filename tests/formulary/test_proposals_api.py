"""Change control through the API (BJ 5.6.3): propose, approve by a senior pharmacist who is not the
proposer, reject, withdraw; guarded publication; the history of every version."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ihis.formulary.service import search_facts
from ihis.identity.models import UserAccount
from ihis.settings import Settings
from ihis.tenancy.models import Institution
from tests.factories import login_as, make_institution, make_staff
from tests.factories_formulary import drug_fields, make_drug
from tests.factories_org import audit_actions, problem_fields

API = "/api/v1/formulary"


@dataclass
class World:
    inst: Institution
    admin: UserAccount
    senior: UserAccount
    doctor: UserAccount


@pytest.fixture
def world(db: Session) -> World:
    inst = make_institution(db)
    return World(
        inst,
        make_staff(db, inst, roles=["formulary_admin"], display_name="目录维护员"),
        make_staff(db, inst, roles=["senior_pharmacist"], display_name="主管药师"),
        make_staff(db, inst, roles=["doctor"]),
    )


def _propose_add(client: TestClient, **overrides: object) -> dict[str, object]:
    r = client.post(
        f"{API}/proposals", json={"kind": "add", "fields": drug_fields(**overrides), "reason": "新增常用药"}
    )
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def test_added_drug_is_published_only_after_a_senior_pharmacist_approves(
    client: TestClient, other: TestClient, db: Session, world: World, settings: Settings
) -> None:
    login_as(client, db, world.admin, settings)
    login_as(other, db, world.senior, settings)
    proposal = _propose_add(client, code="N001", generic_name="阿莫西林胶囊")
    assert proposal["status"] == "pending"
    assert client.get(f"{API}/drugs", params={"q": "N001"}).json()["total"] == 0

    r = other.post(f"{API}/proposals/{proposal['id']}/approve", json={"note": "同意"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["decided_by_name"] == "主管药师"
    page = client.get(f"{API}/drugs", params={"q": "AMXL"}).json()
    assert [d["code"] for d in page["items"]] == ["N001"]
    drug_id = page["items"][0]["id"]
    history = client.get(f"{API}/drugs/{drug_id}/history").json()
    assert [(h["version"], h["kind"], h["proposed_by_name"], h["approved_by_name"]) for h in history] == [
        (1, "add", "目录维护员", "主管药师")
    ]
    assert history[0]["before"] is None and history[0]["after"]["code"] == "N001"
    assert audit_actions(db, "drug_proposal", proposal["id"]) == [
        "formulary.proposal.add",
        "formulary.proposal.approve",
    ]


def test_nobody_approves_their_own_proposal(
    client: TestClient, db: Session, world: World, settings: Settings
) -> None:
    both = make_staff(db, world.inst, roles=["formulary_admin", "senior_pharmacist"])
    login_as(client, db, both, settings)
    proposal = _propose_add(client)
    r = client.post(f"{API}/proposals/{proposal['id']}/approve", json={})
    assert r.status_code == 403
    r = client.post(f"{API}/proposals/{proposal['id']}/reject", json={"note": "自己驳回"})
    assert r.status_code == 403
    assert client.get(f"{API}/proposals/{proposal['id']}").json()["status"] == "pending"


def test_change_publishes_a_new_version_with_before_and_after(
    client: TestClient, other: TestClient, db: Session, world: World, settings: Settings
) -> None:
    drug = make_drug(db, world.inst, price_fen=1090)
    login_as(client, db, world.admin, settings)
    login_as(other, db, world.senior, settings)
    r = client.post(
        f"{API}/proposals",
        json={
            "kind": "change",
            "drug_id": drug.id,
            "changes": {"price_fen": 990, "strength": "250mg"},
            "reason": "集采降价",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["payload"] == {"price_fen": 990}  # only what changes is kept
    assert r.json()["base_version"] == 1
    assert other.post(f"{API}/proposals/{r.json()['id']}/approve", json={}).status_code == 200
    detail = client.get(f"{API}/drugs/{drug.id}").json()
    assert detail["price_fen"] == 990 and detail["version"] == 2
    latest = detail["history"][0]
    assert (
        latest["version"] == 2
        and latest["before"]["price_fen"] == 1090
        and latest["after"]["price_fen"] == 990
    )


def test_approving_a_change_based_on_an_old_version_is_409_and_stays_pending(
    client: TestClient, other: TestClient, db: Session, world: World, settings: Settings
) -> None:
    drug = make_drug(db, world.inst, price_fen=1090)
    login_as(client, db, world.admin, settings)
    login_as(other, db, world.senior, settings)
    ids = [
        client.post(
            f"{API}/proposals",
            json={"kind": "change", "drug_id": drug.id, "changes": {"price_fen": price}, "reason": "调价"},
        ).json()["id"]
        for price in (990, 1200)
    ]
    assert other.post(f"{API}/proposals/{ids[0]}/approve", json={}).status_code == 200
    r = other.post(f"{API}/proposals/{ids[1]}/approve", json={})
    assert r.status_code == 409 and r.json()["reason"] == "drug_changed"
    assert client.get(f"{API}/proposals/{ids[1]}").json()["status"] == "pending"
    assert client.get(f"{API}/drugs/{drug.id}").json()["price_fen"] == 990


def test_disable_then_enable(
    client: TestClient, other: TestClient, db: Session, world: World, settings: Settings
) -> None:
    drug = make_drug(db, world.inst, generic_name="阿莫西林胶囊")
    login_as(client, db, world.admin, settings)
    login_as(other, db, world.senior, settings)
    r = client.post(f"{API}/proposals", json={"kind": "disable", "drug_id": drug.id, "reason": "停产"})
    assert r.status_code == 201
    assert other.post(f"{API}/proposals/{r.json()['id']}/approve", json={}).status_code == 200
    assert client.get(f"{API}/drugs/{drug.id}").json()["status"] == "disabled"
    assert search_facts(db, world.inst.id, "AMXL") == []
    again = client.post(f"{API}/proposals", json={"kind": "disable", "drug_id": drug.id, "reason": "停产"})
    assert again.status_code == 409
    r = client.post(f"{API}/proposals", json={"kind": "enable", "drug_id": drug.id, "reason": "恢复供应"})
    assert other.post(f"{API}/proposals/{r.json()['id']}/approve", json={}).status_code == 200
    assert client.get(f"{API}/drugs/{drug.id}").json()["status"] == "active"


def test_reject_needs_a_reason_and_ends_the_proposal(
    client: TestClient, other: TestClient, db: Session, world: World, settings: Settings
) -> None:
    login_as(client, db, world.admin, settings)
    login_as(other, db, world.senior, settings)
    proposal = _propose_add(client)
    r = other.post(f"{API}/proposals/{proposal['id']}/reject", json={})
    assert r.status_code == 422 and problem_fields(r) == ["body.note"]
    r = other.post(f"{API}/proposals/{proposal['id']}/reject", json={"note": "批准文号有误"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert other.post(f"{API}/proposals/{proposal['id']}/approve", json={}).status_code == 409


def test_only_the_proposer_withdraws(
    client: TestClient, other: TestClient, db: Session, world: World, settings: Settings
) -> None:
    login_as(client, db, world.admin, settings)
    proposal = _propose_add(client)
    colleague = make_staff(db, world.inst, roles=["formulary_admin"])
    login_as(other, db, colleague, settings)
    assert other.post(f"{API}/proposals/{proposal['id']}/withdraw").status_code == 403
    r = client.post(f"{API}/proposals/{proposal['id']}/withdraw")
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert client.post(f"{API}/proposals/{proposal['id']}/withdraw").status_code == 409


def test_never_online_drug_cannot_be_proposed_online(
    client: TestClient, db: Session, world: World, settings: Settings
) -> None:
    login_as(client, db, world.admin, settings)
    fields = drug_fields(control_class="narcotic", online=True, generic_name="吗啡缓释片")
    r = client.post(f"{API}/proposals", json={"kind": "add", "fields": fields, "reason": "新增"})
    assert r.status_code == 422 and problem_fields(r) == ["body.fields.online"]
    assert r.json()["errors"][0]["code"] == "never_online"
    drug = make_drug(db, world.inst)
    r = client.post(
        f"{API}/proposals",
        json={
            "kind": "change",
            "drug_id": drug.id,
            "changes": {"control_class": "psychotropic_2"},
            "reason": "改类",
        },
    )
    assert r.status_code == 422 and problem_fields(r) == ["body.changes.online"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"kind": "add", "reason": "新增"}, ["body.fields"]),
        ({"kind": "add", "fields": {}, "reason": "x"}, ["body.reason"]),
        ({"kind": "remove", "reason": "新增"}, ["body.kind"]),
        ({"kind": "change", "changes": {"price_fen": 1}, "reason": "调价"}, ["body.drug_id"]),
    ],
)
def test_bad_proposals_name_the_field(
    client: TestClient,
    db: Session,
    world: World,
    settings: Settings,
    body: dict[str, object],
    fields: list[str],
) -> None:
    login_as(client, db, world.admin, settings)
    r = client.post(f"{API}/proposals", json=body)
    assert r.status_code == 422 and problem_fields(r) == fields


def test_bad_add_and_change_fields_are_named(
    client: TestClient, db: Session, world: World, settings: Settings
) -> None:
    drug = make_drug(db, world.inst, code="K001")
    login_as(client, db, world.admin, settings)
    r = client.post(
        f"{API}/proposals", json={"kind": "add", "fields": drug_fields(code="K001"), "reason": "新增"}
    )
    assert r.status_code == 422 and problem_fields(r) == ["body.fields.code"]
    r = client.post(
        f"{API}/proposals",
        json={"kind": "add", "fields": drug_fields(insurance_code="X123"), "reason": "新增"},
    )
    assert problem_fields(r) == ["body.fields.insurance_code"]
    change = {"kind": "change", "drug_id": drug.id, "reason": "调整"}
    r = client.post(f"{API}/proposals", json={**change, "changes": {"code": "K002"}})
    assert problem_fields(r) == ["body.changes.code"]
    r = client.post(f"{API}/proposals", json={**change, "changes": {"price_fen": drug.price_fen}})
    assert problem_fields(r) == ["body.changes"]
    r = client.post(f"{API}/proposals", json={**change, "changes": {"pack_size": 0}})
    assert problem_fields(r) == ["body.changes.pack_size"]


def test_anonymous_is_401(anon: TestClient, db: Session, world: World) -> None:
    assert anon.post(f"{API}/proposals", json={}).status_code == 401
    assert anon.get(f"{API}/proposals").status_code == 401
    assert anon.get(f"{API}/proposals/1").status_code == 401
    assert anon.post(f"{API}/proposals/1/approve", json={}).status_code == 401
    assert anon.post(f"{API}/proposals/1/reject", json={"note": "无"}).status_code == 401
    assert anon.post(f"{API}/proposals/1/withdraw").status_code == 401


def test_wrong_roles_are_403(
    client: TestClient, other: TestClient, db: Session, world: World, settings: Settings
) -> None:
    login_as(client, db, world.admin, settings)
    proposal = _propose_add(client)
    login_as(other, db, world.doctor, settings)
    assert (
        other.post(
            f"{API}/proposals", json={"kind": "add", "fields": drug_fields(), "reason": "新增"}
        ).status_code
        == 403
    )
    assert other.get(f"{API}/proposals").status_code == 403
    assert other.post(f"{API}/proposals/{proposal['id']}/approve", json={}).status_code == 403
    # The maintainer proposes but never approves (separation of duties).
    assert client.post(f"{API}/proposals/{proposal['id']}/approve", json={}).status_code == 403


def test_other_institutions_proposals_are_404(
    client: TestClient, other: TestClient, db: Session, world: World, settings: Settings
) -> None:
    login_as(client, db, world.admin, settings)
    proposal = _propose_add(client)
    elsewhere = make_institution(db)
    login_as(other, db, make_staff(db, elsewhere, roles=["senior_pharmacist"]), settings)
    assert other.get(f"{API}/proposals/{proposal['id']}").status_code == 404
    assert other.post(f"{API}/proposals/{proposal['id']}/approve", json={}).status_code == 404
    assert other.post(f"{API}/proposals/{proposal['id']}/reject", json={"note": "不同意"}).status_code == 404
    assert other.get(f"{API}/proposals").json()["total"] == 0
    login_as(other, db, make_staff(db, elsewhere, roles=["formulary_admin"]), settings)
    assert other.post(f"{API}/proposals/{proposal['id']}/withdraw").status_code == 404
    theirs = make_drug(db, world.inst)
    r = other.post(f"{API}/proposals", json={"kind": "disable", "drug_id": theirs.id, "reason": "停用"})
    assert r.status_code == 404


def test_proposal_list_filters_by_status(
    client: TestClient, db: Session, world: World, settings: Settings
) -> None:
    login_as(client, db, world.admin, settings)
    first = _propose_add(client)
    _propose_add(client)
    client.post(f"{API}/proposals/{first['id']}/withdraw")
    page = client.get(f"{API}/proposals", params={"status": "pending"}).json()
    assert page["total"] == 1
    assert client.get(f"{API}/proposals", params={"status": "lost"}).status_code == 422


def test_second_add_of_the_same_code_is_409_on_approval_and_stays_pending(
    client: TestClient, other: TestClient, db: Session, world: World, settings: Settings
) -> None:
    login_as(client, db, world.admin, settings)
    login_as(other, db, world.senior, settings)
    first = _propose_add(client, code="DUP1")
    second = _propose_add(client, code="DUP1")
    assert other.post(f"{API}/proposals/{first['id']}/approve", json={}).status_code == 200
    r = other.post(f"{API}/proposals/{second['id']}/approve", json={})
    assert r.status_code == 409 and r.json()["reason"] == "code_taken"
    assert client.get(f"{API}/proposals/{second['id']}").json()["status"] == "pending"
    assert client.get(f"{API}/drugs", params={"q": "DUP1"}).json()["total"] == 1
