"""The sandbox HIS as a separate process: ``uvicorn`` serves the simulator on a loopback port and
the production client talks to it over real HTTP (the hospital's HIS is never in our process)."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from ihis.integrations.his.client import DEV_TOKEN, SANDBOX_PATH, FhirHisClient, HisConfig
from ihis.integrations.his.protocol import HisUnavailable
from ihis.integrations.his.sandbox import SeedPatient, seed_his_records
from ihis.integrations.http import outbound_client
from ihis.platform.clock import local_today
from ihis.settings import Settings
from tests.factories_his import visit
from tests.factories_patient import make_id_number
from tests.support.schema import create_schema

STARTUP_SECONDS = 30.0
ID_NUMBER = make_id_number(dt.date(1960, 2, 2), male=False, seq=777)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def his_server(tmp_path: Path) -> Iterator[str]:
    """A seeded simulator in its own ``uvicorn`` process; yields its FHIR base URL."""
    url = f"sqlite:///{tmp_path / 'his.db'}"
    engine = create_engine(url)
    create_schema(engine)
    with Session(engine) as db:
        visits = [visit(f"v{i}", i, "内分泌科", "E11.9", icd10_cn="E11.900") for i in range(1, 26)]
        seed_his_records(db, [SeedPatient("proc", ID_NUMBER, "进程测试", tuple(visits))])
        db.commit()
    engine.dispose()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IHIS_")}
    env.update(
        {"IHIS_ENV": "test", "IHIS_DATABASE_URL": url, "IHIS_SANDBOX": "true", "IHIS_LOG_JSON": "true"}
    )
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "ihis.integrations.his.sandbox:create_simulator_app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}{SANDBOX_PATH}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else "exited"
            try:
                httpx.get(f"{base}/Patient", timeout=1.0)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the simulator did not start in time"
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_the_client_reads_a_separate_simulator_process_over_http(his_server: str, settings: Settings) -> None:
    with outbound_client(settings) as http:
        his = FhirHisClient(http, HisConfig(his_server, DEV_TOKEN), backoff_seconds=0)
        [patient] = his.find_patients(ID_NUMBER)
        since = local_today() - dt.timedelta(days=180)
        encounters = his.encounters(patient.record_id, since)
        diagnoses = his.diagnoses(patient.record_id, since)
        assert len(encounters) == 25  # two pages, followed through the next link
        assert {d.icd10_code for d in diagnoses} == {"E11.900"}
        assert {d.encounter_id for d in diagnoses} == {e.record_id for e in encounters}
        with pytest.raises(HisUnavailable) as caught:
            FhirHisClient(http, HisConfig(his_server, "wrong"), backoff_seconds=0).find_patients(ID_NUMBER)
        assert caught.value.reason == "http_401:error:login"


def test_a_stopped_his_is_reported_as_unavailable(settings: Settings) -> None:
    base = f"http://127.0.0.1:{_free_port()}{SANDBOX_PATH}"
    with outbound_client(settings) as http, pytest.raises(HisUnavailable) as caught:
        FhirHisClient(http, HisConfig(base, DEV_TOKEN), backoff_seconds=0).find_patients(ID_NUMBER)
    assert caught.value.reason == "transport:ConnectError"
