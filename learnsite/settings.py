"""Django settings. Values from outside come through ``learnsite.env``."""

from __future__ import annotations

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from learnsite import env

ENV = env.read()
BASE_DIR = env.BASE_DIR

DEBUG = ENV.debug
if ENV.secret_key:
    SECRET_KEY = ENV.secret_key
elif DEBUG:
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-5f2c9a7e1b"  # noqa: S105
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
    "lessons",
    "quizzes",
    "sandbox",
    "live",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "learnsite.middleware.security_headers_middleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "learnsite.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
        # Under ASGI every sync view runs in a thread of its own; persistent connections
        # would be one per thread and exhaust PostgreSQL's max_connections under load. A
        # pool per process bounds them: DB_POOL_MAX x workers x hosts < max_connections.
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": ENV.db_pool_min,
            "max_size": ENV.db_pool_max,
            "timeout": 20,
        }
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
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "lessons:home"
LOGOUT_REDIRECT_URL = "lessons:home"

SESSION_ENGINE = "django.contrib.sessions.backends.db"
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

REDIS_URL = ENV.redis_url
REDIS_MODE = ENV.redis_mode
CONTENT_DIR = ENV.content_dir
# Content is re-read when its files change in development; in production it is read once.
CONTENT_AUTO_RELOAD = DEBUG
# Each content loader offers a `content_errors() -> list[ContentError]`; validate_content and
# start-up run them all and refuse invalid content.
CONTENT_CHECKS = [
    "lessons.loader.content_errors",
    "quizzes.loader.content_errors",
    "console.predictions.content_errors",
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.request": {"level": "ERROR"}},
}
CSRF_FAILURE_VIEW = "learnsite.errors.csrf_failure"
