"""Django settings. Values from outside come through ``learnsite.env``."""

from __future__ import annotations

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from learnsite import env, logs

ENV = env.read()
BASE_DIR = env.BASE_DIR

DEBUG = ENV.debug
if ENV.secret_key:
    SECRET_KEY = ENV.secret_key
elif DEBUG:
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-5f2c9a7e1b"
else:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. With DEBUG=0 the site refuses to start without one: "
        "set SECRET_KEY to a long random string "
        '(python -c "import secrets; print(secrets.token_urlsafe(50))").'
    )

ALLOWED_HOSTS = list(ENV.allowed_hosts)
CSRF_TRUSTED_ORIGINS = list(ENV.csrf_trusted_origins)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "learnsite",
    "progress",
    "lessons",
    "quizzes",
    "sandbox",
    "live",
    "console",
    "lab",
]

MIDDLEWARE = [
    # First: it times everything below it, and outside ASGI starts the request id.
    "learnsite.requestlog.request_context_middleware",
    # The request emptied once its response is closed: freed without the cyclic collector.
    "learnsite.middleware.request_freed_middleware",
    # Django's and WhiteNoise's own, able to run on the loop (learnsite/asyncmiddleware.py):
    # no thread hop per middleware per request.
    "learnsite.asyncmiddleware.SecurityMiddleware",
    "learnsite.middleware.security_headers_middleware",
    "learnsite.asyncmiddleware.StaticFilesMiddleware",
    "learnsite.middleware.SessionMiddleware",
    "learnsite.middleware.SiteNotFoundMiddleware",  # outside CommonMiddleware's redirects
    "learnsite.asyncmiddleware.CommonMiddleware",
    "learnsite.asyncmiddleware.CsrfViewMiddleware",
    "learnsite.asyncmiddleware.AuthenticationMiddleware",
    "learnsite.learners.provisional_key_middleware",
    "learnsite.asyncmiddleware.MessageMiddleware",
    "learnsite.asyncmiddleware.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "learnsite.middleware.DatabaseBusyMiddleware",
]

ROOT_URLCONF = "learnsite.urls"
ASGI_APPLICATION = "learnsite.asgi.application"
WSGI_APPLICATION = "learnsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "learnsite.context_processors.site",
            ],
        },
    },
]

if ENV.database_url:
    DATABASES = {"default": dj_database_url.parse(ENV.database_url, conn_max_age=0)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # A pool per process bounds the connections (DB_POOL_MAX x workers x hosts <
        # max_connections) and lends one to whichever sync thread runs a request
        # (SYNC_THREADS, learnsite/asgihandler.py); Django allows no CONN_MAX_AGE with it.
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": ENV.db_pool_min,
            "max_size": ENV.db_pool_max,
            "timeout": 20,
        }
        # With the pool, this makes Django pass psycopg's ConnectionPool.check_connection as
        # the pool's `check`: a connection the server ended (restart, failover,
        # pg_terminate_backend) is found out and replaced before a request gets it, instead
        # of being handed out to fail the page (36% of pages for ~10 s before).
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        # Without these a page behind a table lock waited as long as the lock was held
        # (45 s seen): now it fails after DB_LOCK_TIMEOUT with an OperationalError, which
        # learnsite.errors answers 503 "try again". A pooled connection keeps its options.
        # Options given in DATABASE_URL (?options=-c ...) come later, so they win.
        DATABASES["default"]["OPTIONS"]["options"] = (
            f"-c lock_timeout={ENV.db_lock_timeout * 1000} "
            f"-c statement_timeout={ENV.db_statement_timeout * 1000} "
            + DATABASES["default"]["OPTIONS"].get("options", "")
        ).strip()
    else:
        # One connection per sync thread, kept across requests (learnsite/asgihandler.py).
        DATABASES["default"]["CONN_MAX_AGE"] = 600
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(BASE_DIR / "db.sqlite3"),
            # WAL lets readers go on while one writer writes; busy timeout rides out
            # short locks instead of failing at once.
            "OPTIONS": {
                "timeout": 10,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # One connection per sync thread, kept across requests (learnsite/asgihandler.py).
            "CONN_MAX_AGE": 600,
            "CONN_HEALTH_CHECKS": True,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Threads per worker process that run the requests' sync work, one lent per request.
SYNC_THREADS = ENV.sync_threads

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "lessons:home"
LOGOUT_REDIRECT_URL = "lessons:home"

SESSION_ENGINE = "learnsite.sessions"  # Django's database sessions, loaded faster
SESSION_COOKIE_AGE = 60 * 60 * 24 * 365  # a year: progress must not vanish
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Security headers. The CSP has no 'unsafe-inline' for scripts: all script is in files.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
if not DEBUG:
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = ENV.secure_ssl_redirect
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # SECURE_SSL_REDIRECT is left to the proxy in front (see README); check --deploy
    # is told so here rather than silenced globally.
    SILENCED_SYSTEM_CHECKS = [] if ENV.secure_ssl_redirect else ["security.W008"]

# Request bodies: learnsite/bodylimit.py (wrapping Django in learnsite/asgi.py) answers 413
# to a larger one before reading it. Every form of the site fits in 64 KB; the admin's may
# be longer. Django's own cap is the larger of the two, so it never refuses first.
REQUEST_BODY_MAX = 64 * 1024
REQUEST_BODY_MAX_ADMIN = 2 * 1024 * 1024
ADMIN_PATH_PREFIX = "/admin/"
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_ADMIN

# Mail, for password resets only (EMAIL_URL, read by learnsite/env.py). PASSWORD_RESET_MAIL
# says how a reset link reaches a learner: "smtp", "console" (printed by the server, the
# default under DEBUG) or None (no mail: the reset page says the account cannot be recovered).
PASSWORD_RESET_MAIL = ENV.mail.kind if ENV.mail else None
if ENV.mail and ENV.mail.kind == "smtp":
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = ENV.mail.host
    EMAIL_PORT = ENV.mail.port
    EMAIL_HOST_USER = ENV.mail.user
    EMAIL_HOST_PASSWORD = ENV.mail.password
    EMAIL_USE_SSL = ENV.mail.use_ssl
    EMAIL_USE_TLS = not ENV.mail.use_ssl
    EMAIL_TIMEOUT = 10
    if ENV.mail.from_address:
        DEFAULT_FROM_EMAIL = ENV.mail.from_address
elif ENV.mail:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"

REDIS_URL = ENV.redis_url
REDIS_MODE = ENV.redis_mode
# Learner data goes to the sandbox Redis; None: the site's Redis (see learnsite.broker).
SANDBOX_REDIS_URL = ENV.sandbox_redis_url
SANDBOX_REDIS_MODE = ENV.sandbox_redis_mode
SANDBOX_ACL = ENV.sandbox_acl
# X-Forwarded-For is read only from these peers (learnsite.admission.client_address).
TRUSTED_PROXIES = list(ENV.trusted_proxies)
ADMISSION_PREFIX = ENV.admission_prefix
# The code lab's keys on the site Redis (its job stream, queue, runners): LAB_PREFIX.
LAB_PREFIX = ENV.lab_prefix
# The shared demo feeds learners kick matches off on (live/matches.py) and the console may
# publish to (live/shared.py): LIVE_DEMO_FEEDS; LIVE_MATCH_INTERVAL seconds between updates.
LIVE_DEMO_FEEDS = list(ENV.live_demo_feeds)
LIVE_MATCH_INTERVAL = ENV.live_match_interval
# "auto", "on" or "off": see live/asgi.py's direct_write_enabled().
LIVE_DIRECT_WRITE = ENV.live_direct_write
# "nchan": the viewers' streams are served by nginx + nchan (live/edge.py); "off": by the site.
LIVE_EDGE = ENV.live_edge
LIVE_EDGE_PUBLISH_URL = ENV.live_edge_publish_url
# `manage.py prune`: anonymous learners who left nothing are removed after this many days.
ANON_RETENTION_DAYS = ENV.anon_retention_days
CONTENT_DIR = ENV.content_dir
# Content is re-read when its files change in development; in production it is read once.
CONTENT_AUTO_RELOAD = DEBUG
# Every content check that must exist (see learnsite/content/checks.py): one that cannot be
# imported or is not registered with the "content" tag fails validation instead of vanishing.
CONTENT_CHECKS = [
    "lessons.checks.lesson_files",
    "lessons.checks.lesson_embeds",
    "quizzes.checks.quiz_files",
    "console.checks.prediction_files",
    "lab.checks.exercises_check",
]

# LOG_FORMAT=json: one JSON object per line; every line of a request has its request id.
LOGGING = logs.config(ENV.log_format)
CSRF_FAILURE_VIEW = "learnsite.errors.csrf_failure"
# The DEBUG page and error reports hide URL settings and passwords in URLs (REDIS_URL, ...).
DEFAULT_EXCEPTION_REPORTER_FILTER = "learnsite.reports.SafeReporterFilter"

# /metrics (learnsite/metrics.py): the local host, or a bearer token; multiprocess values
# from PROMETHEUS_MULTIPROC_DIR when set (make run sets it).
METRICS_TOKEN = ENV.metrics_token
METRICS_MULTIPROC_DIR = ENV.metrics_multiproc_dir

# Error reports go to Sentry only when SENTRY_DSN is set; otherwise sentry-sdk is not
# even imported (learnsite/errorreports.py).
if ENV.sentry_dsn:
    from learnsite import errorreports

    errorreports.start(ENV.sentry_dsn, environment=ENV.sentry_environment)
