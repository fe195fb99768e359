"""Dependencies point one way (ARCHITECTURE.md): platform and integrations know no domain;
services never import FastAPI; a domain never imports a later domain of the patient's flow."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ihis"
DOMAINS = (
    "tenancy",
    "identity",
    "organization",
    "auditing",
    "sandboxes",
    "demo",
    "scheduling",
    "billing",
    "registration",
    "notifications",
    "consultation",
    "messaging",
    "signing",
    "coding",
    "emr_templates",
    "formulary",
    "medication_rules",
    "prescribing",
    "drug_orders",
)
# The patient's flow: a domain may import only domains before it.
FLOW = ("tenancy", "identity", "organization")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


def test_platform_and_integrations_know_no_domain() -> None:
    offenders = [
        f"{path.relative_to(SRC)} imports {name}"
        for package in ("platform", "integrations")
        for path in _modules(package)
        for name in _imports(path)
        if any(name == f"ihis.{d}" or name.startswith(f"ihis.{d}.") for d in DOMAINS)
    ]
    assert offenders == []


def test_services_do_not_import_fastapi() -> None:
    services = list(SRC.rglob("*service*.py"))
    assert services, "no service modules found"
    offenders = [
        str(p.relative_to(SRC))
        for p in services
        if any(n == "fastapi" or n.startswith("fastapi.") for n in _imports(p))
    ]
    assert offenders == []


def test_domains_import_only_earlier_domains_of_the_flow() -> None:
    offenders = []
    for i, domain in enumerate(FLOW):
        later = FLOW[i + 1 :]
        for path in _modules(domain):
            for name in _imports(path):
                if any(name == f"ihis.{d}" or name.startswith(f"ihis.{d}.") for d in later):
                    offenders.append(f"{path.relative_to(SRC)} imports {name}")
    assert offenders == []
