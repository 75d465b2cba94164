"""Settings classes (defaults only) and the selector.

`select(name)` returns the settings class for an environment name; `create_app`
then overrides any setting from an environment variable of the same name prefixed
with ``SUISHOUPAI_`` (for example ``SUISHOUPAI_DATABASE_URL``), or ``DATABASE_URL``.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Settings:
    """Defaults shared by every environment."""

    SECRET_KEY = "dev-only-change-me"
    DATABASE_URL = f"sqlite:///{ROOT / 'var' / 'suishoupai.db'}"
    SQLALCHEMY_ECHO = False
    # Photos: the storage backend ("local" files under PHOTO_DIR, or "s3"), and upload limits.
    PHOTO_STORAGE = "local"
    PHOTO_DIR = str(ROOT / "var" / "photos")
    # S3 (AWS, MinIO, ...). Credentials are not settings: boto3 reads them from its usual
    # sources (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws, AWS_PROFILE, an instance role).
    S3_BUCKET: str | None = None
    S3_PREFIX = "suishoupai/"  # every key lives under it, so one bucket can serve several deployments
    S3_ENDPOINT_URL: str | None = None  # None: AWS itself; e.g. http://127.0.0.1:9000 for MinIO
    S3_REGION: str | None = None  # None: boto3's own (AWS_DEFAULT_REGION, ~/.aws/config)
    S3_ADDRESSING_STYLE = "auto"  # "path" for MinIO and other endpoints without bucket subdomains
    PHOTO_URL_SECONDS = 300  # lifetime of the presigned URLs that originals are redirected to
    PHOTO_MAX_BYTES = 15 * 1024 * 1024
    PHOTO_MAX_PIXELS = 50_000_000  # from the header, before decoding (Pillow's own guard stops ~179 Mpx anyway)
    PHOTOS_PER_REQUEST = 9
    VIDEO_MAX_BYTES = 30 * 1024 * 1024  # a short MP4, stored as uploaded
    UPLOAD_MAX_BYTES_PER_REQUEST = 48 * 1024 * 1024  # all files of one request together (< MAX_CONTENT_LENGTH)
    # Location from the photo: a report's position and its photo's EXIF position further apart
    # than this flag the ticket for the supervisor.
    PHOTO_LOCATION_MISMATCH_M = 200
    # Evidence check of progress and resolve photos (flags, never refusals).
    EVIDENCE_MAX_DISTANCE_M = 300  # EXIF position further than this from the ticket
    EVIDENCE_DHASH_MAX_DISTANCE = 6  # difference-hash bits within which a photo looks like the report's
    MAX_CONTENT_LENGTH = 64 * 1024 * 1024
    # Working time in Asia/Shanghai: office hours as (start, end) "HH:MM" pairs.
    TIMEZONE = "Asia/Shanghai"
    OFFICE_HOURS = (("09:00", "12:00"), ("13:00", "18:00"))
    # Routing: the unit code of the city whose dispatch queue takes points outside every
    # polygon; None means the first city in the org tree.
    DISPATCH_CITY_CODE: str | None = None
    # Duplicate suggestions while reporting (FixMyStreet's default radius).
    NEARBY_RADIUS_M = 250
    API_TOKEN_DAYS = 90
    # Accounts (docs/security.md "Accounts"). Passwords: argon2id with these costs (argon2-cffi's
    # defaults, RFC 9106's low-memory profile); a hash made with other costs is redone at sign-in.
    PASSWORD_ARGON2_TIME_COST = 3
    PASSWORD_ARGON2_MEMORY_KIB = 65536
    PASSWORD_ARGON2_PARALLELISM = 4
    # Sign-in throttle, counted in the database (it holds across web workers): this many failures
    # within the window lock the username (or the client address) for the lock-out time.
    LOGIN_MAX_FAILURES_PER_USER = 5
    LOGIN_MAX_FAILURES_PER_IP = 20  # higher: an office or a mobile carrier puts many people behind one address
    LOGIN_WINDOW_SECONDS = 15 * 60
    LOGIN_LOCKOUT_SECONDS = 15 * 60
    # One-time sign-in codes for users with otp_required: "channels" sends them by SMS or email through
    # ticketing.channels (SMS_WEBHOOK_URL, SMTP_HOST); "console" only logs them (development).
    OTP_SENDER = "channels"
    OTP_TTL_SECONDS = 300
    OTP_MAX_ATTEMPTS = 5
    # Session cookie: HttpOnly and SameSite=Lax always; Secure wherever the site is served over HTTPS.
    SESSION_COOKIE_SECURE = False
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = 12 * 3600  # seconds: a sign-in lasts a working day
    REMEMBER_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Intake rate limits (Flask-Limiter) on POST /api/v1/tickets, the deputy's report page and
    # Open311's POST requests: per signed-in user (reports accepted) and per client address (every
    # attempt). "memory://" counts per process; give several workers a shared store, e.g. redis://host:6379.
    RATE_LIMITS_ENABLED = True
    INTAKE_LIMIT_PER_USER = "30/hour"
    INTAKE_LIMIT_PER_IP = "60/hour"
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    # Reverse proxies in front of the app (nginx: 1): the client address, which the limits and the
    # sign-in throttle count by, is then taken from X-Forwarded-For. 0: the socket's address.
    TRUSTED_PROXIES = 0
    # The citizen channel (docs/security.md "Citizen channel"): reports per client address on a
    # deputy's QR form, how long a citizen's tracking link works, and the public address printed
    # in the QR codes (None: the address the deputy's page was requested on).
    CITIZEN_LIMIT_PER_IP = "10/hour"
    CITIZEN_LINK_DAYS = 365
    PUBLIC_BASE_URL: str | None = None
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh", "en")
    # Web maps: a tile URL template ({z}/{x}/{y}; 天地图 needs its key in the URL) and its credit.
    # Empty: no tiles at all; boundaries and tickets are drawn from the project's own data anyway.
    MAP_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    MAP_TILE_ATTRIBUTION = "© OpenStreetMap contributors"
    # The public cockpit: figures cached in process this long; the heat map's square cells and
    # the fewest reports a cell needs to be shown (fewer could point at one person's doorstep).
    COCKPIT_CACHE_SECONDS = 60
    COCKPIT_HEAT_CELL_M = 200
    COCKPIT_HEAT_MIN_COUNT = 3
    # Forms carry a CSRF token (Flask-WTF); tokens live as long as the session.
    WTF_CSRF_TIME_LIMIT: int | None = None
    WORKER_HEARTBEAT_SECONDS = 60
    # The worker (DESIGN.md §5). Working hours are office hours on working days.
    SWEEP_SECONDS = 60  # how often the deadline sweep runs
    SWEEP_BATCH = 2000  # tickets per transaction in a sweep
    REMIND_RESPONSE_BEFORE_HOURS = 1.0  # due-soon reminder, working hours before the response deadline
    REMIND_RESOLUTION_BEFORE_HOURS = 4.0  # ... and before the resolution deadline
    REESCALATE_AFTER_HOURS = 8.0  # still overdue this long after an escalation: up one more level
    RETURN_DECISION_HOURS = 4.0  # a returned ticket must be re-dispatched within this
    EXTENSION_DECISION_HOURS = 8.0  # a supervisor must answer an extension request within this
    AUTO_CLOSE_DAYS = 7  # resolved and not rated within N calendar days: closed as unrated
    REPEAT_RADIUS_M = 250  # repeated complaints: same category within R metres (FixMyStreet's default)
    REPEAT_WINDOW_DAYS = 30  # ... and T days
    REPEAT_MIN_COUNT = 3  # ... at least K tickets
    # Deputy points (DESIGN.md §1): per valid issue reported, per issue solved (ticketing.services.points).
    POINTS_PER_VALID = 0.3  # read as Decimal(str(value)): the sums stay exact
    POINTS_PER_SOLVED = 0.5
    CALENDAR_WARN_WEEKS = 8  # warn supervisors this long before a year without calendar data begins
    # Retention (ticketing.services.privacy): tickets finished this many days ago lose their photos'
    # originals and, if private, their exact location and address; 0 or None keeps them for ever.
    # The KPI facts (ticketing.services.kpi_facts): how often the worker catches them up, and how many
    # changed tickets per transaction.
    KPI_FACTS_SECONDS = 60
    KPI_FACTS_BATCH = 2000
    RETENTION_DAYS: int | None = 730
    RETENTION_BATCH = 200  # tickets per transaction
    RETENTION_LOCATION_GRID_M = 200  # a private ticket's point moves to the centre of a square this wide
    RETENTION_SECONDS = 3600  # how often the worker's retention job runs
    # Notification delivery from the outbox.
    OUTBOX_SECONDS = 15
    OUTBOX_BATCH = 200
    OUTBOX_MAX_ATTEMPTS = 8
    OUTBOX_BACKOFF_SECONDS = 30  # doubled after every failed attempt
    SMTP_HOST: str | None = None  # unset: email is not sent (messages stay in the inbox channel)
    SMTP_PORT = 25
    SMTP_USER: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_STARTTLS = False
    MAIL_FROM = "suishoupai@localhost"
    SMTP_SSL = False  # implicit TLS (port 465) instead of STARTTLS
    SMS_WEBHOOK_URL: str | None = None  # an SMS gateway's HTTP endpoint (JSON POST)
    SMS_WEBHOOK_TOKEN: str | None = None
    WECHAT_WEBHOOK_URL: str | None = None
    WECHAT_WEBHOOK_TOKEN: str | None = None
    NOTIFY_TIMEOUT_SECONDS = 10
    # Replace or add a channel's sender: {"sms": "my_gateway:make_sender"} (called with the config).
    NOTIFY_SENDERS: dict[str, str] = {}
    # Partners' signed webhooks (ticketing.bridge.webhooks), pushed by the worker's webhooks job.
    WEBHOOK_BATCH = 100
    WEBHOOK_MAX_ATTEMPTS = 10  # 30 s, 1, 2, 4 ... min apart: the last try about 4 hours after the first
    WEBHOOK_BACKOFF_SECONDS = 30  # doubled after every failed attempt (capped at 6 hours)
    WEBHOOK_TIMEOUT_SECONDS = 10
    # The SQLite worker lock (one worker at a time on the embedded database); default:
    # a file beside the database.
    WORKER_LOCK_FILE: str | None = None
    # Off only in tests that prove the row claims and unique keys suffice on their own.
    WORKER_LEADER_LOCK = True
    SWEEP_PAUSE_SECONDS = 0.0  # a pause between batches (tests kill a worker in it)
    TESTING = False


class Development(Settings):
    """The embedded default that `make run` uses."""

    OTP_SENDER = "console"  # one-time codes go to the log: no SMS gateway on a laptop


class Testing(Settings):
    TESTING = True
    SECRET_KEY = "testing"
    # Unit tests post forms without tokens; tests/web/test_csrf.py and the browser tests run with it on.
    WTF_CSRF_ENABLED = False
    # Cheap password hashing (the suite signs in thousands of times); production costs in Settings.
    PASSWORD_ARGON2_TIME_COST = 1
    PASSWORD_ARGON2_MEMORY_KIB = 256
    PASSWORD_ARGON2_PARALLELISM = 1
    # Off except in the tests that switch them on (tests/test_account_attacks.py).
    RATE_LIMITS_ENABLED = False
    MAP_TILE_URL = ""  # no network in tests


class Production(Settings):
    """PostgreSQL + PostGIS and S3; every secret must come from the environment."""

    SECRET_KEY = ""
    PHOTO_STORAGE = "s3"  # S3_BUCKET must be set too
    SESSION_COOKIE_SECURE = True  # served over HTTPS (behind the reverse proxy)
    REMEMBER_COOKIE_SECURE = True


_BY_NAME: dict[str, type[Settings]] = {
    "development": Development,
    "testing": Testing,
    "production": Production,
}


def select(name: str | None = None) -> type[Settings]:
    """Return the settings class for `name` (default: $SUISHOUPAI_ENV or development)."""
    name = (name or os.environ.get("SUISHOUPAI_ENV") or "development").lower()
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown environment {name!r}; choose one of {sorted(_BY_NAME)}") from None
