"""Masking in responses (DOMAIN §10: ``李*``, ``130******89``): at least half of any value is hidden."""

from __future__ import annotations

import pytest

from ihis.platform.masking import mask_address, mask_id_number, mask_name, mask_phone


@pytest.mark.parametrize(
    ("name", "masked"),
    [("李四", "李*"), ("欧阳娜娜", "欧***"), ("王小明", "王**"), ("John Smith", "J*********"), ("李", "*")],
)
def test_names_keep_only_the_first_character(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_mobile_numbers_show_the_first_three_and_last_two_digits() -> None:
    assert mask_phone("13012345689") == "130******89"


@pytest.mark.parametrize(
    ("phone", "masked"), [("01012345678", "010******78"), ("12345", "***45"), ("123", "***")]
)
def test_short_and_landline_numbers_never_show_more_than_half(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked
    shown = sum(c != "*" for c in masked)
    assert shown * 2 <= len(phone)


def test_resident_id_numbers_show_the_first_three_and_last_four() -> None:
    assert mask_id_number("110105194912310021") == "110***********0021"
    assert mask_id_number("11010519491231X") == "110********231X"


def test_passport_numbers_show_only_their_ends() -> None:
    assert mask_id_number("E12345678") == "E******78"
    assert mask_id_number("AB12") == "****"


def test_addresses_keep_at_most_the_district_and_hide_the_length() -> None:
    assert mask_address("北京市朝阳区建国路88号") == "北京市朝阳区******"
    assert mask_address("北京市朝阳区建国路88号院3号楼2单元1501室") == "北京市朝阳区********"
    assert mask_address("朝阳区") == "朝**"


@pytest.mark.parametrize("mask", [mask_name, mask_phone, mask_id_number, mask_address])
def test_missing_values_pass_through(mask) -> None:  # type: ignore[no-untyped-def]
    assert mask(None) is None
    assert mask("") == ""
