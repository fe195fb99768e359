"""The production HIS client: FHIR R4 searches over HTTPS with a Bearer token.

Every search is a GET (idempotent), sent through ``request_with_retries`` (transport errors and
502/503/504 are retried with backoff); timeouts are those of the ``httpx.Client`` passed in
(``ihis.integrations.http.outbound_client``). Pages are followed through ``next`` links, on the
same origin only (a token is never sent elsewhere), at most ``MAX_PAGES`` of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import structlog
from fhir.resources.R4B.bundle import Bundle

from ihis.integrations.his import fhir_mapping
from ihis.integrations.his.protocol import (
    FHIR_JSON,
    IDENTIFIER_SYSTEM,
    MAX_PAGES,
    HisDiagnosis,
    HisEncounter,
    HisPatient,
    HisUnavailable,
)
from ihis.integrations.http import request_with_retries
from ihis.settings import Settings

log = structlog.get_logger(__name__)

SANDBOX_PATH = "/sandbox/his/fhir"
# The sandbox HIS accepts exactly this token unless IHIS_HIS_API_TOKEN is set (then both use it).
DEV_TOKEN = "ihis-sandbox-his-token-dev-only"  # noqa: S105 - public sandbox value

T = TypeVar("T")


@dataclass(frozen=True)
class HisConfig:
    base_url: str
    token: str

    @classmethod
    def from_settings(cls, settings: Settings) -> HisConfig:
        """Settings, with the sandbox defaults filled in when ``settings.sandbox`` is on."""
        base = settings.his_fhir_url
        token = settings.his_api_token.get_secret_value() if settings.his_api_token else None
        if settings.sandbox:
            base = base or settings.public_url(SANDBOX_PATH)
            token = token or DEV_TOKEN
        if not base or not token:
            raise HisUnavailable("not_configured")
        return cls(base_url=base.rstrip("/"), token=token)


class FhirHisClient:
    """Searches the hospital's FHIR R4 server for a patient's offline visits and diagnoses."""

    def __init__(
        self, http: httpx.Client, config: HisConfig, *, attempts: int = 2, backoff_seconds: float = 0.2
    ) -> None:
        self.http = http
        self.config = config
        self.attempts = max(1, attempts)
        self.backoff_seconds = backoff_seconds

    def find_patients(self, id_number: str) -> list[HisPatient]:
        """HIS patients whose resident-ID identifier is ``id_number``."""
        value = f"{IDENTIFIER_SYSTEM}|{id_number.strip().upper()}"
        return self._search("Patient", {"identifier": value}, fhir_mapping.patients)

    def encounters(self, patient_id: str, since: dt.date) -> list[HisEncounter]:
        """The patient's encounters starting on or after ``since``."""
        params = {"patient": patient_id, "date": f"ge{since.isoformat()}"}
        return self._search("Encounter", params, fhir_mapping.encounters)

    def diagnoses(self, patient_id: str, since: dt.date) -> list[HisDiagnosis]:
        """The patient's conditions recorded on or after ``since``."""
        params = {"patient": patient_id, "recorded-date": f"ge{since.isoformat()}"}
        return self._search("Condition", params, fhir_mapping.diagnoses)

    def _search(self, resource: str, params: dict[str, str], pick: Callable[[Bundle], list[T]]) -> list[T]:
        url: str | None = str(httpx.URL(f"{self.config.base_url}/{resource}", params=params))
        found: list[T] = []
        pages = 0
        while url is not None:
            pages += 1
            if pages > MAX_PAGES:
                raise HisUnavailable(f"too_many_pages:{resource}")
            bundle = fhir_mapping.parse_bundle(self._get(url, resource))
            found.extend(pick(bundle))
            url = fhir_mapping.next_link(bundle)
            if url is not None and not self._same_origin(url):
                raise HisUnavailable(f"foreign_next_link:{resource}")
        return found

    def _same_origin(self, url: str) -> bool:
        target, base = httpx.URL(url), httpx.URL(self.config.base_url)
        return (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port)

    def _get(self, url: str, resource: str) -> Any:
        headers = {"Accept": FHIR_JSON, "Authorization": f"Bearer {self.config.token}"}
        try:
            response = request_with_retries(
                self.http, "GET", url, attempts=self.attempts, backoff=self.backoff_seconds, headers=headers
            )
        except httpx.HTTPError as exc:
            raise HisUnavailable(f"transport:{type(exc).__name__}") from exc
        try:
            document = response.json()
        except ValueError:
            document = None
        if response.status_code != 200:
            # The OperationOutcome's code is logged, never its text: it may echo the query.
            reason = f"http_{response.status_code}:{fhir_mapping.outcome_text(document)}"
            log.warning("his_search_failed", resource=resource, reason=reason)
            raise HisUnavailable(reason)
        if document is None:
            raise HisUnavailable(f"bad_response:not_json:{resource}")
        return document
