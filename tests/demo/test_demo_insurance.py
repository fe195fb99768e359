"""The demo binds 医保 for 张三 (职工) and his son 张小宝 (城乡居民) with the sandbox platform's answer, and
ships an identity the platform does not know (测试乙), so both cases can be shown."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ihis.demo import data, load_demo
from ihis.identity.models import Visitor
from ihis.integrations.insurance.sandbox import Refusal, person_of
from ihis.settings import Settings


def test_the_demo_binds_insurance_for_the_listed_visitors_once(
    database, db: Session, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    load_demo(database, settings)
    db.expire_all()
    rows = {v.name: v for v in db.scalars(select(Visitor).where(Visitor.verification_ref == "demo-seed"))}
    zhang, child = rows["张三"], rows["张小宝"]
    assert (zhang.insurance_type, child.insurance_type) == ("310", "390")
    assert zhang.insurance_area == "110105" and zhang.insurance_psn_no
    assert zhang.insurance_psn_no == person_of(zhang.id_number)["baseinfo"]["psn_no"]
    assert rows["王芳"].insurance_bound_at is None
    bound_at = zhang.insurance_bound_at
    assert "nothing new" in load_demo(database, settings)
    db.expire_all()
    assert db.get(Visitor, zhang.id).insurance_bound_at == bound_at  # type: ignore[union-attr]
    assert set(data.INSURED_VISITORS) <= set(rows)


def test_the_demo_has_an_identity_the_platform_does_not_know() -> None:
    unknown = next(p for p in data.EXTRA_IDENTITIES if p.name == "测试乙")
    with pytest.raises(Refusal):
        person_of(unknown.id_number)
