"""Import every domain's models so that ``Base.metadata`` is complete (Alembic, tests, CLI)."""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "ihis.tenancy.models",
    "ihis.identity.models",
    "ihis.organization.models",
    "ihis.platform.audit",
    "ihis.platform.outbox",
    "ihis.integrations.sms.models",
    "ihis.integrations.realname.models",
    "ihis.integrations.his.models",
    "ihis.integrations.payment.models",
    "ihis.integrations.ca.models",
    "ihis.scheduling.models",
    "ihis.billing.models",
    "ihis.registration.models",
    "ihis.notifications.models",
    "ihis.messaging.models",
    "ihis.coding.models",
    "ihis.emr_templates.models",
    "ihis.signing.models",
    "ihis.consultation.models",
    "ihis.integrations.supplier.models",
    "ihis.integrations.logistics.models",
    "ihis.integrations.insurance.models",
    "ihis.formulary.models",
    "ihis.medication_rules.models",
    "ihis.prescribing.models",
    "ihis.drug_orders.models",
)


def import_all_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
