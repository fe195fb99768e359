"""The ``ihis`` command: serve, worker, migrate, demo, bootstrap, audit, keys, outbox, openapi."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ihis.settings import Settings, get_settings

app = typer.Typer(help="IHIS — 互联网医院信息系统", no_args_is_help=True, add_completion=False)
audit_app = typer.Typer(help="Audit ledger", no_args_is_help=True)
keys_app = typer.Typer(help="Field-encryption keys", no_args_is_help=True)
outbox_app = typer.Typer(help="Outbox dead letters", no_args_is_help=True)
import_app = typer.Typer(help="Reference tables from official spreadsheets", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(outbox_app, name="outbox")
app.add_typer(import_app, name="import")

REPO_ROOT = Path(__file__).resolve().parents[2]


def _settings() -> Settings:
    from ihis.platform import crypto
    from ihis.platform.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    crypto.configure(settings)
    return settings


def _database(settings: Settings):  # type: ignore[no-untyped-def]
    from ihis.platform.db import Database
    from ihis.platform.models_registry import import_all_models

    import_all_models()
    return Database(settings)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port")] = 8000,
    workers: Annotated[int, typer.Option(help="API processes (PostgreSQL + Redis for more than one)")] = 1,
) -> None:
    """Serve the API and the web apps (embedded default: also runs the job consumer in-process)."""
    import uvicorn

    settings = _settings()
    if workers > 1 and settings.is_sqlite:
        typer.echo("several API processes need PostgreSQL and Redis; see docs/operations.md", err=True)
        raise typer.Exit(2)
    uvicorn.run(
        "ihis.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=settings.trust_forwarded_for,
        access_log=False,
        log_config=None,
    )


@app.command()
def worker() -> None:
    """Run the background-job consumer alone (set IHIS_RUN_WORKER_IN_PROCESS=false on API processes)."""
    from ihis.platform import jobs

    settings = _settings()
    jobs.run_worker(settings)


@app.command()
def migrate(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Upgrade the database schema (SQLite or PostgreSQL) to ``revision``."""
    from ihis.platform.migrations import upgrade

    settings = _settings()
    upgrade(settings, revision)
    typer.echo(f"database at {revision}")


@app.command()
def demo() -> None:
    """Load the demo hospital (idempotent: running it again changes nothing)."""
    from ihis.demo import load_demo

    settings = _settings()
    database = _database(settings)
    summary = load_demo(database, settings)
    typer.echo(summary)


@app.command()
def bootstrap(
    code: Annotated[str, typer.Option(help="Institution code (also IHIS_DEFAULT_INSTITUTION_CODE)")],
    name: Annotated[str, typer.Option(help="Institution name")],
    subjects: Annotated[
        str, typer.Option(help="Registered 诊疗科目 codes, comma-separated, e.g. 03.01,03.04")
    ],
    admin_username: Annotated[str, typer.Option(help="Username of the first super administrator")] = "admin",
    admin_name: Annotated[
        str, typer.Option(help="Display name of the first super administrator")
    ] = "系统管理员",
) -> None:
    """First start: create the institution and its first super administrator (idempotent)."""
    from ihis.organization.bootstrap import bootstrap as run_bootstrap

    settings = _settings()
    database = _database(settings)
    with database.unit_of_work() as db:
        done = run_bootstrap(
            db,
            code=code,
            name=name,
            subjects=[c.strip() for c in subjects.split(",") if c.strip()],
            admin_username=admin_username,
            admin_name=admin_name,
        )
    what = "created" if done.created_institution else "already present"
    typer.echo(f"institution {done.institution.code} ({done.institution.name}): {what}")
    if done.initial_password is None:
        typer.echo(f"account {admin_username}: already present (no new password issued)")
    else:
        typer.echo(f"account {admin_username} (super_admin) one-time password: {done.initial_password}")
        typer.echo(
            "log in at /console/, change the password, then enrol TOTP. This password is not shown again."
        )


@app.command()
def openapi(output: Annotated[Path | None, typer.Option(help="Write to this file")] = None) -> None:
    """Print the OpenAPI document (the web apps' client is generated from it)."""
    from ihis.app import openapi_document

    text = json.dumps(openapi_document(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the hash chain; report the first altered, removed or inserted entry (exit 1 if any)."""
    from ihis.platform import audit

    settings = _settings()
    database = _database(settings)
    with database.unit_of_work(write=False) as db:
        report = audit.verify_chain(db)
    typer.echo(report.describe())
    raise typer.Exit(0 if report.ok else 1)


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every encrypted field under the active key (the first of IHIS_FIELD_KEYS)."""
    from ihis.platform.crypto.fields import rotate_keys

    settings = _settings()
    database = _database(settings)
    counts = rotate_keys(database)
    for column, n in sorted(counts.items()):
        typer.echo(f"{column}: {n} re-encrypted")


@outbox_app.command("failed")
def outbox_failed() -> None:
    """List outbox messages that exhausted their attempts (dead letters)."""
    from ihis.platform import outbox

    settings = _settings()
    database = _database(settings)
    with database.unit_of_work(write=False) as db:
        rows = outbox.failed_messages(db)
        for row in rows:
            typer.echo(f"{row.id}\t{row.topic}\tattempts={row.attempts}\t{row.last_error or ''}")
        typer.echo(f"{len(rows)} failed")


@outbox_app.command("retry")
def outbox_retry(message_id: int) -> None:
    """Put one dead letter back in the queue."""
    from ihis.platform import audit, jobs, outbox

    settings = _settings()
    jobs.configure(settings)
    database = _database(settings)
    with database.unit_of_work() as db:
        outbox.retry_failed(db, message_id)
        audit.record(
            db,
            audit.AuditContext(
                actor_id=None,
                actor_role="cli",
                actor_name="ihis outbox retry",
                institution_id=None,
                ip=None,
                user_agent=None,
            ),
            "outbox.retry",
            resource_type="outbox_message",
            resource_id=message_id,
        )
    typer.echo(f"message {message_id} queued again")


@app.command("verify")
def verify_signed_document(document_id: int) -> None:
    """Verify a signed document: content digest, signature, certificate, time stamp (exit 1 on failure)."""
    from ihis.signing.models import SignedDocument
    from ihis.signing.report import describe
    from ihis.signing.verification import verify_document

    settings = _settings()
    database = _database(settings)
    with database.unit_of_work(write=False) as db:
        doc = db.get(SignedDocument, document_id)
        if doc is None:
            typer.echo(f"signed document {document_id} not found", err=True)
            raise typer.Exit(2)
        report = verify_document(db, doc, settings)
    typer.echo(describe(report))
    raise typer.Exit(0 if report.valid else 1)


@import_app.command("icd10")
def import_icd10(
    file: Annotated[
        Path, typer.Argument(help="The official table, xlsx or csv", exists=True, dir_okay=False)
    ],
    edition: Annotated[str, typer.Option(help='Edition name, e.g. "ICD-10 国临版 2.0"')],
    system: Annotated[str, typer.Option(help="icd10 | tcm-disease | tcm-syndrome")] = "icd10",
    make_current: Annotated[
        bool, typer.Option("--make-current", help="Search this edition by default")
    ] = False,
    institution: Annotated[
        str | None, typer.Option(help="Institution code (default IHIS_DEFAULT_INSTITUTION_CODE)")
    ] = None,
) -> None:
    """Import a diagnosis code table into an edition: every row valid, or nothing (see docs/coding.md)."""
    from ihis.coding.commands import import_file
    from ihis.platform.errors import IhisError

    settings = _settings()
    database = _database(settings)
    try:
        result = import_file(
            database,
            institution_code=institution or settings.default_institution_code,
            path=file,
            system=system,
            edition=edition,
            make_current=make_current,
        )
    except IhisError as exc:
        typer.echo(f"nothing imported: {exc.detail_zh} / {exc.detail_en}", err=True)
        for problem in exc.errors:
            typer.echo(f"  {problem.field}: {problem.message_zh} / {problem.message_en}", err=True)
        shown, total = len(exc.errors), exc.extra.get("error_count", len(exc.errors))
        if total > shown:
            typer.echo(f"  ... {total - shown} more", err=True)
        raise typer.Exit(1) from None
    typer.echo(result.describe())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
