"""docs/identity-and-access.md shows the permission matrix exactly as ``ROLE_PERMISSIONS`` defines it."""

from __future__ import annotations

from pathlib import Path

from ihis.identity.access import ROLE_PERMISSIONS, Permission, Role

DOC = Path(__file__).resolve().parents[2] / "docs" / "identity-and-access.md"


def permission_matrix() -> str:
    """The role x permission table in Markdown (✓ = granted)."""
    roles = [r for r in Role if r is not Role.PATIENT]
    lines = [
        "| permission | " + " | ".join(str(r) for r in roles) + " |",
        "|---|" + "---|" * len(roles),
    ]
    for permission in Permission:
        marks = ["✓" if permission in ROLE_PERMISSIONS[r] else "" for r in roles]
        lines.append(f"| `{permission}` | " + " | ".join(marks) + " |")
    return "\n".join(lines)


def test_documented_permission_matrix_matches_the_code() -> None:
    table = permission_matrix()
    assert table in DOC.read_text(encoding="utf-8"), "paste this table into the doc:\n" + table
