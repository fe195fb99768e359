"""Masking of personal data in responses (DOMAIN §10: ``李*``, ``130******89``).

Each mask hides at least half of the value, so short or unusual values never come back almost
whole; full values are for callers holding ``Permission.PII_READ_FULL`` (and that read is audited).
"""

from __future__ import annotations


def mask_name(name: str | None) -> str | None:
    """李四 -> 李*, 欧阳娜娜 -> 欧***; Latin names keep their first letter; a one-character name -> *."""
    if not name:
        return name
    name = name.strip()
    if len(name) <= 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


def mask_phone(phone: str | None) -> str | None:
    """13012345689 -> 130******89; shorter numbers keep only their last two digits."""
    if not phone:
        return phone
    phone = phone.strip()
    if len(phone) >= 10:
        return phone[:3] + "*" * (len(phone) - 5) + phone[-2:]
    if len(phone) >= 4:
        return "*" * (len(phone) - 2) + phone[-2:]
    return "*" * len(phone)


def mask_id_number(id_number: str | None) -> str | None:
    """110105194912310021 -> 110***********0021 (first 3, last 4); passports etc. keep 1 and 2."""
    if not id_number:
        return id_number
    id_number = id_number.strip()
    # 15- and 18-digit resident ID numbers (GB 11643): the region prefix and birth date are hidden.
    if len(id_number) >= 15:
        return id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:]
    if len(id_number) >= 6:
        return id_number[0] + "*" * (len(id_number) - 3) + id_number[-2:]
    return "*" * len(id_number)


def mask_address(address: str | None) -> str | None:
    """北京市朝阳区建国路88号 -> 北京市朝阳区******: province/city/district only (at most 6 characters,
    never more than half); the number of stars is capped so the length is not revealed."""
    if not address:
        return address
    address = address.strip()
    keep = min(6, len(address) // 2)
    return address[:keep] + "*" * min(8, max(1, len(address) - keep))
