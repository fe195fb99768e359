"""Masking of personal data in responses (DOMAIN §10: ``李*``, ``130******89``)."""

from __future__ import annotations


def mask_name(name: str | None) -> str | None:
    """李四 -> 李*, 欧阳娜娜 -> 欧***; Latin names keep their first letter."""
    if not name:
        return name
    return name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone: str | None) -> str | None:
    """13012345689 -> 130******89."""
    if not phone:
        return phone
    if len(phone) <= 5:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 5) + phone[-2:]


def mask_id_number(id_number: str | None) -> str | None:
    """110105194912310021 -> 110***********0021 (first 3, last 4)."""
    if not id_number:
        return id_number
    if len(id_number) <= 7:
        return "*" * len(id_number)
    return id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:]


def mask_address(address: str | None) -> str | None:
    """Keep the first 6 characters (province/city), hide the rest."""
    if not address:
        return address
    return address[:6] + "*" * min(8, max(1, len(address) - 6))
