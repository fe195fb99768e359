"""One Settings object for the whole process, read from ``IHIS_*`` environment variables."""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development defaults. Production refuses to start while any of these is still in use.
DEV_SECRET_KEY = "dev-only-secret-key-change-me-0123456789abcdef"  # noqa: S105 (refused in production)
# 32 bytes, base64: the development field-encryption key (key id "k1").
DEV_FIELD_KEYS = "k1:ZGV2LW9ubHktZmllbGQta2V5LTMyLWJ5dGVzLSEhISE="
DEV_BLIND_INDEX_KEY = "dev-only-blind-index-key-change-me"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    DEMO = "demo"
    TEST = "test"
    PRODUCTION = "production"


class CryptoSuite(StrEnum):
    """``intl``: AES-256-GCM / SHA-256 / ECDSA P-256; ``gm`` (国密): SM4 / SM3, signatures ECDSA P-256
    over SM3 (SM2 keys are not supported yet: docs/signing.md)."""

    INTL = "intl"
    GM = "gm"


class InsecureSettings(RuntimeError):
    """Raised when production mode is started with default or missing secrets."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IHIS_", env_file=None, extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite:///./var/ihis.db"
    redis_url: str | None = None
    # Pool size per API process on PostgreSQL; None = derived from the host's cores.
    db_pool_size: int | None = None
    # A request waits at most this long for a database place before a 503 (platform/admission.py).
    db_admission_timeout_seconds: float = Field(default=10.0, gt=0)

    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    # Comma-separated "keyid:base64key" pairs; the first is the active key for new writes.
    field_keys: SecretStr = SecretStr(DEV_FIELD_KEYS)
    blind_index_key: SecretStr = SecretStr(DEV_BLIND_INDEX_KEY)
    crypto_suite: CryptoSuite = CryptoSuite.INTL

    # Sessions (DOMAIN §10): idle 30 min, absolute 12 h.
    session_idle_minutes: int = Field(default=30, ge=1)
    session_absolute_hours: int = Field(default=12, ge=1)
    step_up_minutes: int = Field(default=5, ge=1)
    # Lockout (DOMAIN §10): 5 failures in 15 minutes lock the account for 15 minutes.
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_window_minutes: int = Field(default=15, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    ip_login_limit_per_minute: int = Field(default=30, ge=1)
    # argon2 admission gate (identity/passwords.py): concurrent hashes (None = CPU cores) and how
    # many may wait; beyond that logins are shed with 429 at once (docs/performance.md).
    password_work_concurrency: int | None = Field(default=None, ge=1)
    password_work_queue: int = Field(default=8, ge=0)
    # SMS codes (issue 2 §3): 6 digits, 5-minute expiry, attempt and send limits.
    sms_code_ttl_seconds: int = 300
    sms_code_max_attempts: int = 5
    sms_send_interval_seconds: int = 60
    sms_send_per_phone_per_day: int = 10
    sms_send_per_ip_per_hour: int = 30
    # Staff doctors need this many years of independent practice (BJ 5.5.2.1: 3; NX: 5).
    doctor_min_practice_years: int = 3
    # Reviewing pharmacists: pharmacist title and 3 years of dispensing (DOMAIN §2).
    pharmacist_min_practice_years: int = 3

    # Booking (DOMAIN §3): how far ahead sessions open; how long an unpaid bill holds a slot.
    booking_window_days: int = Field(default=7, ge=1, le=90)
    bill_hold_minutes: int = Field(default=15, ge=1)
    # Patients are reminded this long before their visit (DOMAIN §3, BJ 5.2.2).
    visit_reminder_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # No-shows (BJ 5.6.9): this many within the window blocks booking for ``booking_block_days``.
    no_show_limit: int = Field(default=3, ge=1)
    no_show_window_days: int = Field(default=90, ge=1)
    booking_block_days: int = Field(default=90, ge=1)
    # The TrueType CJK font embedded in medical-record and prescription PDFs (Debian fonts-wqy-zenhei).
    pdf_font_path: str = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
    # Doctors may receive waiting patients this long before their session starts (at most two days:
    # e.g. a Monday clinic's patients seen on Saturday).
    consultation_early_start_minutes: int = Field(default=30, ge=0, le=2 * 24 * 60)
    # Prescription review (审方) business hours, hospital time "HH:MM-HH:MM": operations are warned
    # when no pharmacist is checked in during them (issue 5 §3).
    review_business_hours: str = Field(default="08:00-17:30", pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")
    # Warn operations once nobody has been on duty this long within business hours.
    review_unstaffed_grace_minutes: int = Field(default=10, ge=0, le=240)
    # A HIS eligibility answer admits a booking for this long (the patient books right after).
    eligibility_evidence_valid_hours: int = Field(default=24, ge=1)
    # Follow-up eligibility (DOMAIN §1): look-back window and ICD-10 match granularity
    # ("category" = 3-character category such as I10, "subcategory" = 4 characters, "full").
    eligibility_lookback_days: int = Field(default=180, ge=1)
    eligibility_icd_granularity: str = Field(default="category", pattern="^(category|subcategory|full)$")

    default_institution_code: str = "DEMO-HOSP"
    # Outside systems: "sandbox" serves simulators under /sandbox in this process.
    sandbox: bool = True
    public_base_url: str = "http://127.0.0.1:8000"
    sms_api_url: str | None = None
    sms_sign_name: str = "互联网医院"
    sms_api_key: SecretStr | None = None
    sms_api_secret: SecretStr | None = None
    realname_api_url: str | None = None
    realname_api_key: SecretStr | None = None
    realname_api_secret: SecretStr | None = None
    # Chat and calls (docs/chat.md): upload limits, heartbeats, allowed WebSocket origins (comma list;
    # empty = same origin as public_base_url), STUN/TURN (coturn REST shared secret, time-limited).
    chat_image_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    chat_voice_max_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    chat_voice_max_seconds: int = Field(default=60, ge=1)
    chat_heartbeat_seconds: float = Field(default=25.0, gt=0)
    chat_idle_timeout_seconds: float = Field(default=60.0, gt=0)
    chat_allowed_origins: str = ""
    webrtc_stun_urls: str = ""
    webrtc_turn_urls: str = ""
    webrtc_turn_secret: SecretStr | None = None
    webrtc_turn_ttl_seconds: int = Field(default=3600, ge=60)
    # File storage: "local" (storage_dir) or "s3" (any S3-compatible object store).
    storage_backend: str = Field(default="local", pattern="^(local|s3)$")
    storage_s3_endpoint_url: str | None = None
    storage_s3_region: str | None = None
    storage_s3_access_key_id: str | None = None
    storage_s3_secret_access_key: SecretStr | None = None
    storage_s3_bucket: str | None = None
    storage_s3_prefix: str = ""
    # Signing (docs/signing.md). Sandbox default: this process's /sandbox/ca and /sandbox/tsa, trusting
    # the sandbox root.
    ca_api_url: str | None = None
    ca_api_key: SecretStr | None = None
    ca_api_secret: SecretStr | None = None
    ca_root_cert_pem: str | None = None
    tsa_url: str | None = None
    tsa_root_cert_pem: str | None = None
    # DOMAIN §10 lockout shape: wrong signing PINs in a row before signing locks, and for how long.
    signing_pin_max_attempts: int = Field(default=5, ge=1)
    signing_pin_lock_minutes: int = Field(default=15, ge=1)
    # Courier (docs/logistics-and-insurance.md). Sandbox default: this process's /sandbox/courier.
    courier_api_url: str | None = None
    courier_app_id: str | None = None
    courier_app_secret: SecretStr | None = None
    courier_notify_secret: SecretStr | None = None
    # Poll the courier for shipments not heard of this long (pushes can be lost).
    courier_poll_after_minutes: int = Field(default=30, ge=1)
    # Sandbox courier only: advance every waybill this often (0: only by its control endpoint).
    courier_sandbox_auto_advance_seconds: int = Field(default=0, ge=0)
    courier_notify_retry_scale: float = Field(default=1.0, gt=0)
    # Partner supplier pharmacies (docs/formulary.md); a pharmacy's own URL wins. Sandbox default:
    # this process's /sandbox/supplier.
    supplier_api_url: str | None = None
    supplier_app_id: str | None = None
    supplier_app_secret: SecretStr | None = None
    # Medical insurance platform (医保). Sandbox default: this process's /sandbox/insurance.
    insurance_api_url: str | None = None
    insurance_app_id: str | None = None
    insurance_app_secret: SecretStr | None = None
    # HIS (FHIR R4). Sandbox default: this process's /sandbox/his/fhir.
    his_fhir_url: str | None = None
    his_api_token: SecretStr | None = None
    # Payment channels (WeChat Pay API v3 shaped, Alipay shaped). Sandbox defaults are generated.
    wechatpay_api_url: str | None = None
    wechatpay_mch_id: str | None = None
    wechatpay_app_id: str | None = None
    wechatpay_api_v3_key: SecretStr | None = None
    wechatpay_private_key_pem: SecretStr | None = None
    wechatpay_cert_serial: str | None = None
    wechatpay_platform_cert_pem: str | None = None
    alipay_api_url: str | None = None
    alipay_app_id: str | None = None
    alipay_private_key_pem: SecretStr | None = None
    alipay_public_key_pem: str | None = None
    # WeChat official account (template messages); unset = the channel is skipped and logged so.
    wechat_mp_app_id: str | None = None
    wechat_mp_app_secret: SecretStr | None = None
    wechat_mp_api_url: str | None = None
    # Sandbox payment notify retry schedule multiplier (1.0 = the channel's real schedule).
    payment_notify_retry_scale: float = Field(default=1.0, gt=0)

    # Jobs: Huey. Embedded default runs the consumer inside `ihis serve`.
    jobs_path: str = "./var/jobs.db"
    jobs_immediate: bool = False
    run_worker_in_process: bool = True
    # Outbox (docs/jobs-and-outbox.md): attempts before a dead letter; exclusive claim lease.
    outbox_max_attempts: int = Field(default=8, ge=1)
    outbox_lease_seconds: int = Field(default=300, ge=30)

    web_dist_dir: str = "./web"
    storage_dir: str = "./var/files"
    max_upload_bytes: int = 10 * 1024 * 1024
    trust_forwarded_for: bool = False
    log_level: str = "INFO"
    log_json: bool = True
    cookie_secure: bool | None = None  # None: secure in production only

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else self.is_production

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def public_url(self, path: str) -> str:
        """An absolute URL of this deployment (callbacks, sandbox endpoints, download links)."""
        return self.public_base_url.rstrip("/") + path

    def pool_size(self) -> int:
        return self.db_pool_size or max(5, (os.cpu_count() or 2) * 4)

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Self:
        if not self.is_production:
            return self
        problems = []
        if self.secret_key.get_secret_value() in ("", DEV_SECRET_KEY):
            problems.append("IHIS_SECRET_KEY")
        if self.field_keys.get_secret_value() in ("", DEV_FIELD_KEYS):
            problems.append("IHIS_FIELD_KEYS")
        if self.blind_index_key.get_secret_value() in ("", DEV_BLIND_INDEX_KEY):
            problems.append("IHIS_BLIND_INDEX_KEY")
        if self.sandbox:
            problems.append("IHIS_SANDBOX (must be false)")
        # Outside systems must be configured, or failures would only surface later (queued SMS,
        # 502 on real-name checks).
        for name in (
            "sms_api_url",
            "sms_api_key",
            "sms_api_secret",
            "realname_api_url",
            "realname_api_key",
            "realname_api_secret",
            "ca_api_url",
            "ca_api_key",
            "ca_api_secret",
            "ca_root_cert_pem",
            "tsa_url",
            "tsa_root_cert_pem",
            "courier_api_url",
            "courier_app_id",
            "courier_app_secret",
            "courier_notify_secret",
        ):
            value = getattr(self, name)
            if (
                value is None
                or (isinstance(value, SecretStr) and not value.get_secret_value())
                or value == ""
            ):
                problems.append("IHIS_" + name.upper())
        if problems:
            raise InsecureSettings(
                "refusing to start in production with default or missing settings: " + ", ".join(problems)
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings`` and pass it explicitly)."""
    return Settings()
