"""Local file storage: random keys, no user-controlled paths, sniffed types, limits, no orphans."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from ihis.platform.errors import InvalidInput, NotFound, PayloadTooLarge
from ihis.platform.storage import (
    JPEG,
    PDF,
    PNG,
    LocalFileStorage,
    accept_upload,
    is_valid_key,
    read_limited,
    sniff_content_type,
    storage_for,
)
from ihis.settings import Settings
from tests.factories_org import EXE_BYTES, JPEG_BYTES, PDF_BYTES, PNG_BYTES

ALLOWED = frozenset({PNG, JPEG, PDF})


def test_content_type_comes_from_the_leading_bytes() -> None:
    assert sniff_content_type(PNG_BYTES) == PNG
    assert sniff_content_type(JPEG_BYTES) == JPEG
    assert sniff_content_type(PDF_BYTES) == PDF
    assert sniff_content_type(b"GIF89a....") == "image/gif"
    assert sniff_content_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_content_type(EXE_BYTES) is None
    assert sniff_content_type(b"<html><script>") is None
    assert sniff_content_type(b"") is None


def test_stored_files_get_fresh_random_keys_and_round_trip(tmp_path: Path) -> None:
    store = LocalFileStorage(tmp_path)
    first, second = store.put(PDF_BYTES), store.put(PDF_BYTES)
    assert first != second and is_valid_key(first) and is_valid_key(second)
    assert store.get(first) == PDF_BYTES
    path = tmp_path / first[:2] / first[2:4] / first
    assert path.is_file() and oct(path.stat().st_mode & 0o777) == "0o600"
    assert not list(tmp_path.rglob("*.tmp"))
    store.delete(first)
    store.delete(first)  # idempotent
    with pytest.raises(NotFound):
        store.get(first)
    assert store.get(second) == PDF_BYTES


@pytest.mark.parametrize(
    "key", ["../../etc/passwd", "/etc/passwd", "ab/../../x", "A" * 32, "", "0" * 31, "0" * 33]
)
def test_malformed_keys_never_reach_the_file_system(tmp_path: Path, key: str) -> None:
    store = LocalFileStorage(tmp_path / "files")
    outside = tmp_path / "secret"
    outside.write_bytes(b"secret")
    with pytest.raises(NotFound):
        store.get(key)
    store_delete_refused = False
    try:
        store.delete(key)
    except NotFound:
        store_delete_refused = True
    assert store_delete_refused and outside.exists()


def test_reading_an_upload_stops_at_the_limit() -> None:
    assert read_limited(io.BytesIO(b"x" * 100), 100, "body.file") == b"x" * 100
    with pytest.raises(PayloadTooLarge) as exc:
        read_limited(io.BytesIO(b"x" * 101), 100, "body.file")
    assert exc.value.status == 413 and exc.value.errors[0].field == "body.file"


def test_accepted_upload_is_sized_typed_and_stored(db: Session, tmp_path: Path) -> None:
    store = LocalFileStorage(tmp_path)
    stored = accept_upload(db, store, PNG_BYTES, allowed=ALLOWED, max_bytes=1000, field="body.file")
    assert stored.content_type == PNG and stored.size == len(PNG_BYTES)
    assert store.get(stored.key) == PNG_BYTES


def test_upload_of_a_disallowed_type_size_or_nothing_is_refused_before_storing(
    db: Session, tmp_path: Path
) -> None:
    store = LocalFileStorage(tmp_path)
    with pytest.raises(InvalidInput) as bad_type:
        accept_upload(db, store, EXE_BYTES, allowed=ALLOWED, max_bytes=1000, field="body.file")
    assert bad_type.value.errors[0].code == "file_type_not_allowed"
    with pytest.raises(InvalidInput):
        accept_upload(db, store, PDF_BYTES, allowed=frozenset({PNG}), max_bytes=1000, field="body.file")
    with pytest.raises(PayloadTooLarge):
        accept_upload(db, store, PDF_BYTES, allowed=ALLOWED, max_bytes=10, field="body.file")
    with pytest.raises(InvalidInput) as empty:
        accept_upload(db, store, b"", allowed=ALLOWED, max_bytes=10, field="body.file")
    assert empty.value.errors[0].code == "file_empty"
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_file_of_a_rolled_back_transaction_is_removed(db: Session, tmp_path: Path) -> None:
    store = LocalFileStorage(tmp_path)
    stored = accept_upload(db, store, PDF_BYTES, allowed=ALLOWED, max_bytes=1000, field="body.file")
    assert store.get(stored.key) == PDF_BYTES
    db.rollback()
    with pytest.raises(NotFound):
        store.get(stored.key)


def test_file_of_a_committed_transaction_stays(db: Session, tmp_path: Path) -> None:
    store = LocalFileStorage(tmp_path)
    stored = accept_upload(db, store, PDF_BYTES, allowed=ALLOWED, max_bytes=1000, field="body.file")
    db.commit()
    db.rollback()  # a later rollback does not touch files of an earlier commit
    assert store.get(stored.key) == PDF_BYTES


def test_configured_store_lives_in_the_storage_directory(base_settings: Settings, tmp_path: Path) -> None:
    settings = base_settings.model_copy(update={"storage_dir": str(tmp_path / "files")})
    key = storage_for(settings).put(JPEG_BYTES)
    assert (tmp_path / "files" / key[:2] / key[2:4] / key).read_bytes() == JPEG_BYTES
