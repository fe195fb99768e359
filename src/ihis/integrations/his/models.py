"""Tables of the sandbox HIS (demo and tests only): the simulator's patients, visits, diagnoses.

The HIS's side of the wire. Everything here is synthetic (the demo's invented people); ids are
the FHIR logical ids the simulator serves (``Patient/<fhir_id>``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ihis.platform.db import Base, BigId, IntPk, UtcDateTime


class SandboxHisPatient(Base):
    """One patient record of the simulated HIS (identified by resident ID number)."""

    __tablename__ = "sandbox_his_patient"

    id: Mapped[IntPk]
    fhir_id: Mapped[str] = mapped_column(String(64), unique=True)
    id_number: Mapped[str] = mapped_column(String(18), index=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class SandboxHisEncounter(Base):
    """One offline visit (AMB outpatient, IMP inpatient) of a simulated HIS patient."""

    __tablename__ = "sandbox_his_encounter"
    __table_args__ = (Index("ix_sandbox_his_encounter_patient_start", "patient_id", "start_date"),)

    id: Mapped[IntPk]
    fhir_id: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("sandbox_his_patient.id", ondelete="CASCADE"))
    encounter_class: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    start_date: Mapped[dt.date] = mapped_column(Date)
    department_code: Mapped[str] = mapped_column(String(16))
    department_name: Mapped[str] = mapped_column(String(64))


class SandboxHisCondition(Base):
    """One diagnosis recorded at a simulated visit, coded in ICD-10 (national and WHO)."""

    __tablename__ = "sandbox_his_condition"
    __table_args__ = (Index("ix_sandbox_his_condition_patient_recorded", "patient_id", "recorded_date"),)

    id: Mapped[IntPk]
    fhir_id: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int] = mapped_column(BigId, ForeignKey("sandbox_his_patient.id", ondelete="CASCADE"))
    encounter_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("sandbox_his_encounter.id", ondelete="CASCADE")
    )
    icd10_cn: Mapped[str | None] = mapped_column(String(32))
    icd10_who: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    recorded_date: Mapped[dt.date] = mapped_column(Date)
