"""Settings for the shared care record, read from the environment (django-environ).

The defaults run the embedded demo with nothing installed (SQLite, a file-backed Celery broker);
production sets DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY and ALLOWED_HOSTS.
"""

import contextlib
import datetime
import ipaddress
import os
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()


def _local_secret_key() -> str:
    """Without SECRET_KEY, one random key is made for this checkout and kept in var/ (not in git),
    so that no two installations ever share a key. Deployments set SECRET_KEY."""
    path = VAR_DIR / "secret-key"
    if not path.exists():
        VAR_DIR.mkdir(exist_ok=True)
        draft = VAR_DIR / f"secret-key.{os.getpid()}"
        draft.write_text(secrets.token_urlsafe(64))
        draft.chmod(0o600)
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)  # atomic: of two processes starting at once, one key wins
        draft.unlink()
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret_key()
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The port the web server listens on: no source system's base URL may point there on this machine
# (records/source_urls.py).
LCR_PORT = env.int("LCR_PORT", default=8000)
# Who runs this shared care record, as the reports handed to patients name it.
LCR_ORGANISATION_NAME = env.str("LCR_ORGANISATION_NAME", default="London Care Record")

INSTALLED_APPS = [
    "lcr.apps.CareRecordAdminConfig",  # django.contrib.admin, recording looks at patients
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "rest_framework",
    "oauth2_provider",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "guardian",
    "auditlog",
    "partner_api",
    "records",
    "access",
    "audit",
    "care_record",
]

MIDDLEWARE = [
    # First: the request's id, its log context and its latency cover everything below.
    "lcr.request_observation.ObserveRequests",
    "django.middleware.security.SecurityMiddleware",
    # Before whitenoise, so that every response, static files included, carries both policies.
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    # Before anything reads the request (the session cookie, a form, an admin filter).
    "lcr.middleware.RefuseUnstorableCharacters",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "lcr.middleware.NeverCacheSignedIn",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "lcr.signin.SessionTimeouts",
    "lcr.signin.SecondFactorRequired",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "lcr.middleware.AccessDeniedAsNotFound",
    # Last, as django-axes asks: turns a locked-out sign-in into lcr.signin.locked_out's page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "lcr.urls"
WSGI_APPLICATION = "lcr.wsgi.application"

_CONTEXT_PROCESSORS = [
    "django.template.context_processors.request",
    "django.contrib.auth.context_processors.auth",
    "django.contrib.messages.context_processors.messages",
    "access.web.acting_team",
]
TEMPLATES = [
    # Our pages: Jinja2 with the NHS.UK frontend macros (nhsuk-frontend-jinja), see lcr/jinja2.py.
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {
            "environment": "lcr.jinja2.environment",
            "context_processors": _CONTEXT_PROCESSORS,
        },
    },
    # The Django admin (and its overrides in the apps' templates/ folders), DRF, and the API's
    # documentation pages (lcr/templates/api/).
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "lcr" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": _CONTEXT_PROCESSORS},
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'lcr.sqlite3'}"),
}
DATABASES["default"].setdefault("TEST", {})
# On PostgreSQL the application connects (DATABASE_URL) as a role that owns no table and may only
# read and append to the audit trail; `migrate` connects with the login of the tables' owner
# (its user, password, host and port; always to DATABASE_URL's database) and grants it that
# (audit/privileges.py, docs/audit.md). Unset: one role does both, as on SQLite.
LCR_DATABASE_OWNER = (
    env.db("MIGRATION_DATABASE_URL") if env.str("MIGRATION_DATABASE_URL", default="") else None
)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Keep each web thread's connection between requests (a new PostgreSQL connection costs a
    # few milliseconds, more than most pages' queries), checked before reuse after an error.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # Several worker threads write at once in the embedded demo: wait for the lock, do not fail.
    # WAL lets pages read while a worker writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Tests run a Celery worker in a thread: an in-memory database's shared cache locks whole
    # tables, so the test database is a file, with SQLite's ordinary locking and timeout.
    DATABASES["default"]["TEST"].setdefault("NAME", str(VAR_DIR / "test-lcr.sqlite3"))
    # Indexes with included columns (records.Patient's name index) are a PostgreSQL speed-up;
    # SQLite makes them as plain indexes, which is all the embedded demo needs.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
# A read replica of the primary, optional: the searches and the home page's list of patients
# read from it, nothing else (records/replica.py); every write, every look and its access event,
# sessions and sign-in stay on the primary. In tests it is the primary itself (a mirror).
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    if DATABASES["replica"]["ENGINE"] == "django.db.backends.postgresql":
        # A replica that does not answer is given up on soon: its readers ask the primary.
        DATABASES["replica"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 3)
    for _key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
        if _key in DATABASES["default"]:
            DATABASES["replica"].setdefault(_key, DATABASES["default"][_key])
    DATABASE_ROUTERS = ["records.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "lcr.signin.LockoutBackend",  # django-axes: refuses locked-out sign-ins before the password
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic gathers the static files (a benchmark gathers its own, apart from make run's).
STATIC_ROOT = Path(env.str("LCR_STATIC_ROOT", default=str(VAR_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Transport security. On by default whenever DEBUG is off; the local demo serves plain HTTP on
# loopback and turns it off explicitly with HTTPS_ONLY=false.
HTTPS_ONLY = env.bool("HTTPS_ONLY", default=not DEBUG)
SECURE_SSL_REDIRECT = HTTPS_ONLY
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS_ONLY else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS_ONLY
SECURE_HSTS_PRELOAD = HTTPS_ONLY
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    # Only behind a proxy that always sets this header itself.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# Signed out after this long without activity (lcr.signin.SessionTimeouts), and after this long
# signed in whatever the activity. The session itself lasts a few minutes more, as a backstop, so
# that the middleware is what people meet and it can tell them why.
LCR_SESSION_IDLE_MINUTES = env.int("LCR_SESSION_IDLE_MINUTES", default=15)
LCR_SESSION_MAX_HOURS = env.int("LCR_SESSION_MAX_HOURS", default=12)
SESSION_COOKIE_AGE = (LCR_SESSION_IDLE_MINUTES + 5) * 60

# Staff sign in through an OpenID Connect provider (access.IdentityProvider: CIS2, a council's
# own). Passwords held here are for a break-glass administrator only: "off" (the default), or
# "break-glass" (superusers only, with their second factor). "everyone" lets any local account
# sign in with its password: for the test suite and a trial without a provider, never live.
LCR_PASSWORD_SIGN_IN = env.str("LCR_PASSWORD_SIGN_IN", default="off")
if LCR_PASSWORD_SIGN_IN not in {"off", "break-glass", "everyone"}:
    raise ImproperlyConfigured('LCR_PASSWORD_SIGN_IN must be "off", "break-glass" or "everyone".')
# The private key this service signs its client assertions with (private_key_jwt: RS512 for the
# identity providers, RS384 for a clinical system's SMART launch), as PEM text or a file; its
# public half is published at /oidc/jwks.json.
LCR_OIDC_PRIVATE_KEY = env.str("LCR_OIDC_PRIVATE_KEY", default="")
if not LCR_OIDC_PRIVATE_KEY and env.str("LCR_OIDC_PRIVATE_KEY_FILE", default=""):
    LCR_OIDC_PRIVATE_KEY = Path(env.str("LCR_OIDC_PRIVATE_KEY_FILE")).read_text()
# How long a call to an identity provider (discovery, keys, token, userinfo) may take.
LCR_OIDC_TIMEOUT_SECONDS = env.float("LCR_OIDC_TIMEOUT_SECONDS", default=5.0)
# How long a call to a clinical system launching the record (SMART) may take.
LCR_LAUNCH_TIMEOUT_SECONDS = env.float("LCR_LAUNCH_TIMEOUT_SECONDS", default=5.0)
# Who to ask when a sign-in's role is not set up here: shown on the page that says so.
LCR_SIGN_IN_HELP = env.str(
    "LCR_SIGN_IN_HELP",
    default="your organisation's Registration Authority or the shared care record office",
)
# Patients (signed in through NHS login to their own part of the portal) read who has looked at
# their record. Whether a professional may choose to be shown to them by job role only, not by
# name (access.StaffProfile.shown_to_patients_by_role_only): the deployment's choice, off unless
# set (docs/patients.md). Patients' sessions time out as staff's do (the two settings above).
LCR_STAFF_MAY_BE_SHOWN_BY_ROLE = env.bool("LCR_STAFF_MAY_BE_SHOWN_BY_ROLE", default=False)
# Where a patient whose identity NHS login has not yet proved to P9 is sent to prove it.
LCR_NHS_LOGIN_PROVE_URL = env.str(
    "LCR_NHS_LOGIN_PROVE_URL", default="https://www.nhs.uk/nhs-app/nhs-app-help-and-support/"
)
# Not saved on every request: lcr.signin.SessionTimeouts stamps activity at most once a minute, and
# the session (with its cookie and expiry) is saved when that stamp changes. A page read is then
# one session read and no write.
SESSION_SAVE_EVERY_REQUEST = False
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp 4): everything from this origin, nothing inline. The one
# inline script allowed, by its hash, is NHS.UK frontend's own first line of <body> (it marks the
# page as having JavaScript, in nhsuk/template.jinja); tests/test_security_headers.py checks that
# the hash still matches it. NHS.UK's licensed Frutiger fonts come from assets.nhs.uk, as on every
# NHS.UK service; without them the pages fall back to Arial. The API's documentation pages add
# what Swagger UI and Redoc need, still from this origin only (lcr/api_urls.py).
NHSUK_BODY_SCRIPT_HASH = "'sha256-tDOvXJi1PXbg0CWjLCCYSNHRXtps26K4JXkE3M6u/c0='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NHSUK_BODY_SCRIPT_HASH],
        "style-src": ["'self'"],
        "font-src": ["'self'", "https://assets.nhs.uk"],
        "img-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Permissions-Policy (django-permissions-policy): no page asks for any of these powerful
# features, so none may be used, by our pages or by anything that gets into them.
PERMISSIONS_POLICY = dict.fromkeys(
    [
        "accelerometer", "ambient-light-sensor", "autoplay", "bluetooth", "browsing-topics",
        "camera", "display-capture", "encrypted-media", "geolocation", "gyroscope", "hid",
        "idle-detection", "local-fonts", "magnetometer", "microphone", "midi", "payment",
        "picture-in-picture", "screen-wake-lock", "serial", "usb", "xr-spatial-tracking",
    ],
    (),
)  # fmt: skip
CSRF_FAILURE_VIEW = "lcr.views.csrf_failure"

# Sign-in lockout (django-axes): after LCR_LOCKOUT_FAILURES wrong passwords for one username from
# one address, that pair is locked out for LCR_LOCKOUT_MINUTES.
AXES_FAILURE_LIMIT = env.int("LCR_LOCKOUT_FAILURES", default=5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("LCR_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "lcr.signin.locked_out"
AXES_VERBOSE = False
if env.bool("TRUST_X_FORWARDED_FOR", default=False):
    # Only behind a proxy that sets X-Forwarded-For itself; otherwise anyone could pick an address.
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

# Two-factor sign-in (django-otp, TOTP) for administrators and privacy officers (lcr.signin).
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Shared care record")

# django-guardian: no anonymous user row; patients are reached only through care relationships.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

AUDITLOG_INCLUDE_ALL_MODELS = False

# The partner API (docs/api.md). Deny by default: a view that names no permission refuses
# everyone, and the only way in is an OAuth2 client-credentials token of a registered ApiClient.
REST_FRAMEWORK = {
    "DEFAULT_PERMISSION_CLASSES": ["partner_api.permissions.DenyAll"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["access.api_auth.ApiClientAuthentication"],
    "DEFAULT_THROTTLE_CLASSES": ["partner_api.permissions.ClientRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["partner_api.renderers.JsonRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "lcr.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # ?format= would let any query string turn an answer into DRF's 404; negotiate by Accept only.
    "URL_FORMAT_OVERRIDE": None,
}
# Requests per client; an ApiClient may carry its own rate instead.
LCR_API_DEFAULT_RATE = env.str("LCR_API_DEFAULT_RATE", default="600/min")
SPECTACULAR_SETTINGS = {
    "TITLE": "Shared care record API",
    "DESCRIPTION": (
        "For partner systems: FHIR R4 reads of the record, care relationships, access reports. "
        "OAuth2 client credentials; every call may name its end user in X-End-User."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "partner_api.schema.fhir_operation_paths",
    ],
}
OAUTH2_PROVIDER = {
    "SCOPES": {
        "patient.read": "Find patients and read their records (FHIR)",
        "relationship.write": "Start and end care relationships",
        "audit.read": "Read a patient's access report",
    },
    "DEFAULT_SCOPES": [],
    "SCOPES_BACKEND_CLASS": "access.api_auth.ApiClientScopes",
    "OAUTH2_VALIDATOR_CLASS": "access.client_assertions.ClientAssertionValidator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("LCR_API_TOKEN_SECONDS", default=3600),
    # OAuth 2.0 Security BCP (RFC 9700) throughout: tokens stored hashed, only in the header, no
    # implicit or password grants; we issue client-credentials tokens and nothing else.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
# Throttling counts live here: set CACHE_URL to a shared Redis when running several processes.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
# With a cache every process shares, sessions are read from it and written through to the
# database; a per-process cache would let one process keep a session another has ended.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if CACHES["default"]["BACKEND"].endswith("RedisCache")
    else "django.contrib.sessions.backends.db"
)

# Celery. The embedded default is a broker kept in files under var/, so that `make run` needs no
# service; production and the integration tests use Redis (CELERY_BROKER_URL=redis://...).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = Path(env.str("CELERY_BROKER_DIR", default=str(VAR_DIR / "broker")))
    _broker_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "control_folder": str(_broker_dir / "control"),
        # A file broker is polled; the default second would be felt on every record look.
        "polling_interval": 0.02,
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# The queue tasks are sent to and workers read: give each deployment sharing one broker its own.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 270
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
# Workers log through LOGGING above (its format, its request and task fields), not Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Identity matching: candidates below this score are not offered for review at all.
LCR_MATCH_MIN_SCORE = env.float("LCR_MATCH_MIN_SCORE", default=0.6)
LCR_MATCH_MAX_CANDIDATES = env.int("LCR_MATCH_MAX_CANDIDATES", default=5)
# Paging size asked of sources when reading their Patient resources.
LCR_SOURCE_PAGE_SIZE = env.int("LCR_SOURCE_PAGE_SIZE", default=100)

# PDS, the register's identity source (records/tracing.py, docs/identity.md). Unset: PDS is not
# asked, and identity sync links on the register's own NHS numbers as before. The token is sent
# as `Authorization: Bearer`; the simulated PDS of `make run` checks it.
LCR_PDS_BASE_URL = env.str("LCR_PDS_BASE_URL", default="")
LCR_PDS_ACCESS_TOKEN = env.str("LCR_PDS_ACCESS_TOKEN", default="")
LCR_PDS_TIMEOUT_SECONDS = env.float("LCR_PDS_TIMEOUT_SECONDS", default=5.0)

# Logs (lcr/log_context.py, docs/operations.md): every line of a request carries its request id
# (the one its access event holds), the user's id and the view's name. LCR_LOG_FORMAT=json writes
# one JSON object a line, for a log collector; "plain" (the default) is for a person at a console.
# No patient data is logged: names, NHS numbers, dates of birth and addresses never, ids only.
LCR_LOG_FORMAT = env.str("LCR_LOG_FORMAT", default="plain")
if LCR_LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured('LCR_LOG_FORMAT must be "plain" or "json".')
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request": {"()": "lcr.log_context.RequestContextFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s user %(user_id)s]: "
            "%(message)s"
        },
        "json": {"()": "lcr.log_context.JsonLines"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LCR_LOG_FORMAT,
            "filters": ["request"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # lcr.request_observation writes one line a request (view, status, duration) instead.
        "django.server": {"level": "WARNING"},
        "lcr.requests": {"level": env.str("LCR_REQUEST_LOG_LEVEL", default="INFO")},
        # Whatever LOG_LEVEL says: at DEBUG urllib3 logs each URL asked of a source, and a
        # search's query names the patient by NHS number.
        "urllib3": {"level": "WARNING"},
    },
}

# Prometheus metrics at /metrics (lcr/metrics.py, docs/operations.md). Not public: answered only
# to these addresses (single addresses or networks, as the socket sees them: behind a proxy on
# this host, never list the proxy's own address) or to `Authorization: Bearer LCR_METRICS_TOKEN`;
# everyone else gets 404. Nothing is allowed unless set (`make run` allows this machine).
# With several processes set PROMETHEUS_MULTIPROC_DIR (an empty folder at each start) in the
# environment of every web and worker process: the values are then added up across them.
LCR_METRICS_TOKEN = env.str("LCR_METRICS_TOKEN", default="")
LCR_METRICS_ALLOWED_ADDRESSES = env.list("LCR_METRICS_ALLOWED_ADDRESSES", default=[])
for _address in LCR_METRICS_ALLOWED_ADDRESSES:
    try:
        ipaddress.ip_network(_address, strict=False)
    except ValueError as _error:
        raise ImproperlyConfigured(
            f"LCR_METRICS_ALLOWED_ADDRESSES: {_address!r} is not an address or network."
        ) from _error
# How long `/readyz` and `/metrics` wait for the broker to answer.
LCR_BROKER_CHECK_TIMEOUT_SECONDS = env.float("LCR_BROKER_CHECK_TIMEOUT_SECONDS", default=1.0)

STATICFILES_DIRS = [BASE_DIR / "static"]

# Live updates of an open record page (records/live.py, care_record/updates.py). With LCR_LIVE_URL
# (redis://...) a saved snapshot is announced on Redis pub/sub; without it, in small files under
# LCR_LIVE_DIR, which is enough for `make run` and the tests. A look stays open to its updates
# for LCR_LOOK_OPEN_MINUTES; one stream lasts at most LCR_LIVE_STREAM_SECONDS (the page reconnects)
# and re-reads at least every LCR_LIVE_HEARTBEAT_SECONDS even without news.
LCR_LIVE_URL = env.str("LCR_LIVE_URL", default="")
LCR_LIVE_DIR = env.str("LCR_LIVE_DIR", default=str(VAR_DIR / "live"))
LCR_LOOK_OPEN_MINUTES = env.int("LCR_LOOK_OPEN_MINUTES", default=15)
LCR_LIVE_STREAM_SECONDS = env.float("LCR_LIVE_STREAM_SECONDS", default=60.0)
LCR_LIVE_HEARTBEAT_SECONDS = env.float("LCR_LIVE_HEARTBEAT_SECONDS", default=5.0)

# Fetching from sources (records/fetching.py).
LCR_SNAPSHOT_FRESH_SECONDS = env.int("LCR_SNAPSHOT_FRESH_SECONDS", default=300)
LCR_SNAPSHOT_TTL_SECONDS = env.int("LCR_SNAPSHOT_TTL_SECONDS", default=3600)
LCR_FETCH_SOURCE_BUDGET_SECONDS = env.float("LCR_FETCH_SOURCE_BUDGET_SECONDS", default=30.0)
# One look's total for one source, every retry included (records/deadlines.py); a source's own
# "time for one look" overrides it. Past it the page says the source timed out.
LCR_FETCH_LOOK_BUDGET_SECONDS = env.float("LCR_FETCH_LOOK_BUDGET_SECONDS", default=8.0)
# A worker renews the lease on its claim every third of this; a claim whose lease runs out was
# lost with its worker and is asked again, by the next look or the sweep (every *_SWEEP_SECONDS).
LCR_FETCH_LEASE_SECONDS = env.float("LCR_FETCH_LEASE_SECONDS", default=3.0)
LCR_FETCH_LEASE_SWEEP_SECONDS = env.float("LCR_FETCH_LEASE_SWEEP_SECONDS", default=2.0)
LCR_FETCH_MAX_RETRIES = env.int("LCR_FETCH_MAX_RETRIES", default=2)
LCR_FETCH_RETRY_BACKOFF_SECONDS = env.float("LCR_FETCH_RETRY_BACKOFF_SECONDS", default=1.0)
LCR_FETCH_RETRY_BACKOFF_MAX_SECONDS = env.float("LCR_FETCH_RETRY_BACKOFF_MAX_SECONDS", default=60.0)
LCR_CIRCUIT_FAILURES = env.int("LCR_CIRCUIT_FAILURES", default=5)
LCR_CIRCUIT_COOLDOWN_SECONDS = env.int("LCR_CIRCUIT_COOLDOWN_SECONDS", default=60)
# Limits on what a source may send (records/sources/limits.py, records/sources/fhir_adapter.py):
# an answer past a size, depth, length or character limit is refused whole, with the reason;
# resources past a count limit are withheld, counted and said.
LCR_SOURCE_MAX_BYTES = env.int("LCR_SOURCE_MAX_BYTES", default=10_000_000)
LCR_SOURCE_MAX_DECOMPRESSED_BYTES = env.int("LCR_SOURCE_MAX_DECOMPRESSED_BYTES", default=10_000_000)
LCR_SOURCE_MAX_JSON_DEPTH = env.int("LCR_SOURCE_MAX_JSON_DEPTH", default=100)
LCR_SOURCE_MAX_STRING_CHARS = env.int("LCR_SOURCE_MAX_STRING_CHARS", default=100_000)
LCR_SOURCE_MAX_JSON_CONTAINERS = env.int("LCR_SOURCE_MAX_JSON_CONTAINERS", default=500_000)
LCR_SOURCE_MAX_RESOURCES_PER_CATEGORY = env.int(
    "LCR_SOURCE_MAX_RESOURCES_PER_CATEGORY", default=2_000
)
LCR_SOURCE_MAX_RESOURCES_PER_LOOK = env.int("LCR_SOURCE_MAX_RESOURCES_PER_LOOK", default=10_000)
# The largest document (a letter's PDF, an attachment) the record fetches and opens; a larger one
# is refused with its size, and the reader told to ask its source (care_record/documents.py).
LCR_DOCUMENT_MAX_BYTES = env.int("LCR_DOCUMENT_MAX_BYTES", default=20_000_000)

# GP Connect Access Record Structured (records/sources/gp_connect.py): who the record is to the
# GP practices it asks. Spine ASIDs (Ssp-From; a source's own ASID is its credentials reference
# or LCR_GPCONNECT_PROVIDER_ASID), the ODS code and name of the organisation that asks, and the
# SDS user id the JWT names as requesting practitioner. Without a signing key (a PEM RSA private
# key) the JWT is unsigned (alg none), as GP Connect allows; with one it is signed RS512.
LCR_GPCONNECT_ASID = env.str("LCR_GPCONNECT_ASID", default="200000000359")
LCR_GPCONNECT_PROVIDER_ASID = env.str("LCR_GPCONNECT_PROVIDER_ASID", default="918999198738")
LCR_GPCONNECT_ORGANISATION_ODS = env.str("LCR_GPCONNECT_ORGANISATION_ODS", default="Y90000")
LCR_GPCONNECT_ORGANISATION_NAME = env.str(
    "LCR_GPCONNECT_ORGANISATION_NAME", default="London Care Record"
)
LCR_GPCONNECT_PRACTITIONER_SDS_ID = env.str("LCR_GPCONNECT_PRACTITIONER_SDS_ID", default="UNK")
LCR_GPCONNECT_SIGNING_KEY = env.str("LCR_GPCONNECT_SIGNING_KEY", default="")

# Heartbeats (records/heartbeats.py): beat sends the heartbeat task this often; `/readyz` fails
# when beat's or the worker's heartbeat is older than the stale limit.
LCR_HEARTBEAT_SECONDS = env.float("LCR_HEARTBEAT_SECONDS", default=10.0)
LCR_HEARTBEAT_STALE_SECONDS = env.int("LCR_HEARTBEAT_STALE_SECONDS", default=60)
# How often fetches pending past their deadline are ended with a reason.
LCR_FETCH_OVERDUE_SWEEP_SECONDS = env.float("LCR_FETCH_OVERDUE_SWEEP_SECONDS", default=60.0)

CELERY_BEAT_SCHEDULE = {
    # A heartbeat nobody ran in time is of no use later: it expires instead of piling up.
    "heartbeat": {
        "task": "records.tasks.heartbeat",
        "schedule": LCR_HEARTBEAT_SECONDS,
        "options": {"expires": LCR_HEARTBEAT_SECONDS},
    },
    "fail-overdue-fetches": {
        "task": "records.tasks.fail_overdue_fetches",
        "schedule": LCR_FETCH_OVERDUE_SWEEP_SECONDS,
        "options": {"expires": LCR_FETCH_OVERDUE_SWEEP_SECONDS},
    },
    "reclaim-lost-fetches": {
        "task": "records.tasks.reclaim_lost_fetches",
        "schedule": LCR_FETCH_LEASE_SWEEP_SECONDS,
        "options": {"expires": LCR_FETCH_LEASE_SWEEP_SECONDS},
    },
    "purge-expired-snapshots": {
        "task": "records.tasks.purge_expired_snapshots",
        "schedule": 300.0,
    },
    "start-due-relationships": {"task": "access.tasks.start_due_relationships", "schedule": 300.0},
    "forget-expired-sign-ins": {"task": "access.tasks.forget_expired_sign_ins", "schedule": 300.0},
    "forget-expired-imports": {"task": "access.tasks.forget_expired_imports", "schedule": 300.0},
    "end-expired-relationships": {
        "task": "access.tasks.end_expired_relationships",
        "schedule": 300.0,
    },
    "reconcile-grants": {"task": "access.tasks.reconcile_grants", "schedule": 3600.0},
    "add-audit-partitions": {"task": "audit.tasks.add_audit_partitions", "schedule": 86400.0},
}
LCR_FETCH_FAILED_PAUSE_SECONDS = env.int("LCR_FETCH_FAILED_PAUSE_SECONDS", default=30)
LCR_FETCH_RETRY_AFTER_MAX_SECONDS = env.int("LCR_FETCH_RETRY_AFTER_MAX_SECONDS", default=120)

# Access control (access/).
LCR_BREAK_GLASS_SECONDS = env.int("LCR_BREAK_GLASS_SECONDS", default=4 * 3600)
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="shared-care-record@localhost")

# Audit (audit/): access events are spread over this many hash chains (by patient).
LCR_AUDIT_CHAINS = env.int("LCR_AUDIT_CHAINS", default=16)
# Every hour the chains' heads are signed (audit/checkpoints.py) with an Ed25519 key the database
# does not hold: PEM text, or a PEM file; with neither, one made once for this checkout in var/
# (the demo and the tests; `check --deploy` warns). Public keys of former signing keys (PEM, one
# or more) still verify the checkpoints they signed. HMAC keys of the checkpoints written before
# Ed25519 (by default SECRET_KEY, as then) still verify those. Each checkpoint is also handed,
# if set, to a sink (a dotted path to a callable taking the checkpoint as a dict), for an
# append-only store outside the database, and then appended to a file; what the file lacks is
# written out again at the next signing (docs/audit.md).
LCR_AUDIT_SIGNING_KEY = env.str("LCR_AUDIT_SIGNING_KEY", default="")
LCR_AUDIT_SIGNING_KEY_FILE = env.str("LCR_AUDIT_SIGNING_KEY_FILE", default="")
# The current signing key's public half (PEM text, or a PEM file): what every host but the
# signing worker verifies with; set, the private key is read only to sign, and a host without it
# refuses to sign rather than make a key of its own.
LCR_AUDIT_PUBLIC_KEY = env.str("LCR_AUDIT_PUBLIC_KEY", default="")
LCR_AUDIT_PUBLIC_KEY_FILE = env.str("LCR_AUDIT_PUBLIC_KEY_FILE", default="")
LCR_AUDIT_VERIFY_KEYS = env.str("LCR_AUDIT_VERIFY_KEYS", default="")
LCR_AUDIT_VERIFY_KEYS_FILE = env.str("LCR_AUDIT_VERIFY_KEYS_FILE", default="")
LCR_AUDIT_HMAC_KEYS = env.list("LCR_AUDIT_HMAC_KEYS", default=[]) or [SECRET_KEY]
LCR_AUDIT_CHECKPOINT_FILE = env.str(
    "LCR_AUDIT_CHECKPOINT_FILE", default=str(VAR_DIR / "audit-checkpoints.jsonl")
)
LCR_AUDIT_CHECKPOINT_SINK = env.str("LCR_AUDIT_CHECKPOINT_SINK", default="")
LCR_AUDIT_CHECKPOINT_SECONDS = env.int("LCR_AUDIT_CHECKPOINT_SECONDS", default=3600)
# The queue the signing task is sent to: one worker, on the host with the private key and the
# durable checkpoint file, reads it (docs/audit.md). By default the default queue, which the one
# worker of `make run` reads.
LCR_AUDIT_SIGNING_QUEUE = env.str("LCR_AUDIT_SIGNING_QUEUE", default=CELERY_TASK_DEFAULT_QUEUE)
CELERY_TASK_ROUTES = {"audit.tasks.sign_audit_checkpoints": {"queue": LCR_AUDIT_SIGNING_QUEUE}}
CELERY_BEAT_SCHEDULE["sign-audit-checkpoints"] = {
    "task": "audit.tasks.sign_audit_checkpoints",
    "schedule": float(LCR_AUDIT_CHECKPOINT_SECONDS),
    "options": {"queue": LCR_AUDIT_SIGNING_QUEUE},
}
