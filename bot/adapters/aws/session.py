"""AWS sessions per environment: the environment's IAM role assumed with STS, or ambient credentials.

`aws_session(env_config, env_name=...)` returns a boto3 Session in the environment's region.
With `aws_role_arn` set it holds temporary credentials for that role (session name
`modelbot-<env>`, one hour), cached per role and session name until fifteen minutes before they
expire, so a worker assumes each role about once an hour however many jobs it runs. Without a
role it uses the ambient credential chain (environment, profile, instance role) in that region.
boto3 itself honours `AWS_ENDPOINT_URL` (moto in tests) and `AWS_MAX_ATTEMPTS`.

Every AWS failure that means "cannot talk to AWS as this environment" (no credentials, access
denied, endpoint unreachable, throttled after retries) becomes `AwsUnavailable(reason)`; the
reason names the environment or resource and the failing call, never a credential value.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass
from typing import Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import (BotoCoreError, ClientError, ConnectionClosedError, ConnectTimeoutError,
                                 CredentialRetrievalError, EndpointConnectionError, NoCredentialsError,
                                 NoRegionError, PartialCredentialsError, ReadTimeoutError)

from bot.core import clock
from bot.core.config import EnvironmentConfig
from bot.core.errors import LiveUnavailable
import time

ROLE_SESSION_SECONDS = 3600
REFRESH_BEFORE_EXPIRY = dt.timedelta(minutes=15)
# A pooled session (and its clients) lives this long, less than REFRESH_BEFORE_EXPIRY, so role
# credentials it holds are never used after they expire.
POOLED_SESSION_SECONDS = 600
# After "no credentials" or "AWS unreachable" an environment fails at once for this long instead
# of waiting on the same timeouts again; then it is tried afresh.
FAILED_ENVIRONMENT_SECONDS = 30
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 20

Kind = Literal["credentials", "denied", "unreachable", "error"]

_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
           "NotAuthorized"}
_BAD_CREDENTIALS = {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId",
                    "UnrecognizedClientException", "SignatureDoesNotMatch", "IncompleteSignature",
                    "InvalidSignatureException", "MissingAuthenticationToken", "RequestExpired"}
# Access key ids (AKIA.../ASIA...) and anything that looks like a long secret or token.
_SECRETISH = re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}\b|[A-Za-z0-9/+=]{40,}")
_MAX_MESSAGE = 300


class AwsUnavailable(LiveUnavailable):
    """AWS cannot be used as this environment. `reason` is safe to show to a person.

    `kind`: "credentials" (none, expired, invalid), "denied", "unreachable" or "error".
    """

    def __init__(self, reason: str, *, kind: Kind = "error"):
        super().__init__(reason)
        self.reason = reason
        self.kind: Kind = kind


def client_config() -> Config:
    """The botocore Config of every modelbot client: standard retries (attempts from
    AWS_MAX_ATTEMPTS, default 3) and modest timeouts."""
    return Config(retries={"mode": "standard"}, connect_timeout=CONNECT_TIMEOUT_SECONDS,
                  read_timeout=READ_TIMEOUT_SECONDS)


SMOKE_READ_TIMEOUT_SECONDS = 10


def smoke_client_config() -> Config:
    """sagemaker-runtime for a smoke test: one attempt per sample (a model that does not answer
    is a failed sample, not three more tries) and 10 s to answer."""
    return Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=CONNECT_TIMEOUT_SECONDS,
                  read_timeout=SMOKE_READ_TIMEOUT_SECONDS)


def client(session: boto3.Session, service: str, config: Config | None = None) -> Any:
    """A client for `service` from `session`, with `client_config()` unless told otherwise."""
    return session.client(service, config=config or client_config())


def unavailable(exc: Exception, *, where: str, call: str) -> AwsUnavailable:
    """Translate a boto3/botocore failure of `call` (e.g. `sts:AssumeRole`) at `where`."""
    kind: Kind = "error"
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)):
        kind, what = "credentials", "no usable AWS credentials were found"
    elif isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError,
                          ConnectionClosedError)):
        url = getattr(exc, "kwargs", {}).get("endpoint_url") or "the AWS endpoint"
        kind, what = "unreachable", f"cannot reach {url} ({type(exc).__name__})"
    elif isinstance(exc, NoRegionError):
        what = "no AWS region configured"
    elif isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        message = _safe(str(error.get("Message") or ""))
        if code in _DENIED:
            kind = "denied"
        elif code in _BAD_CREDENTIALS:
            kind = "credentials"
        what = f"{code}" + (f": {message}" if message else "")
    elif isinstance(exc, BotoCoreError):
        what = _safe(f"{type(exc).__name__}: {exc}")
    else:
        what = type(exc).__name__
    label = {"credentials": "no valid credentials", "denied": "access denied",
             "unreachable": "AWS unreachable", "error": "AWS error"}[kind]
    return AwsUnavailable(f"{where}: {call} failed, {label}: {what}", kind=kind)


def _safe(text: str) -> str:
    text = _SECRETISH.sub("***", text)
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


# --- assumed-role credentials, cached --------------------------------------------------------------


@dataclass(frozen=True)
class _Credentials:
    access_key: str
    secret_key: str
    token: str
    expires: dt.datetime


_cache: dict[tuple[str, str], _Credentials] = {}
_key_locks: dict[tuple[str, str], threading.Lock] = {}
_cache_lock = threading.Lock()


def clear_credential_cache() -> None:
    """Forget every cached role credential (tests; after a role's trust policy changed)."""
    with _cache_lock:
        _cache.clear()


def _fresh(creds: _Credentials | None) -> bool:
    return creds is not None and creds.expires - clock.utcnow() > REFRESH_BEFORE_EXPIRY


def _assume(base: boto3.Session, role_arn: str, session_name: str, region: str,
            where: str, external_id: str | None = None) -> _Credentials:
    key = (role_arn, session_name, external_id)
    with _cache_lock:
        cached = _cache.get(key)
        if _fresh(cached):
            return cached  # type: ignore[return-value]
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:  # one AssumeRole per role at a time; others wait and reuse its result
        with _cache_lock:
            cached = _cache.get(key)
        if _fresh(cached):
            return cached  # type: ignore[return-value]
        call = f"sts:AssumeRole {role_arn}"
        try:
            if base.get_credentials() is None:
                raise NoCredentialsError()
            sts = base.client("sts", region_name=region, config=client_config())
            extra = {"ExternalId": external_id} if external_id else {}
            answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name,
                                     DurationSeconds=ROLE_SESSION_SECONDS, **extra)["Credentials"]
        except (BotoCoreError, ClientError) as exc:
            raise unavailable(exc, where=where, call=call) from None
        expires = answer["Expiration"]
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.timezone.utc)
        creds = _Credentials(answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"],
                             expires)
        with _cache_lock:
            _cache[key] = creds
        return creds


def aws_session(env_config: EnvironmentConfig, *, env_name: str,
                base_session: boto3.Session | None = None) -> boto3.Session:
    """A boto3 Session for environment `env_name` in its region, as its role if it has one.

    `base_session` supplies the credentials that assume the role (or are used directly when
    the environment has no role); default: boto3's ambient credential chain.
    Raises AwsUnavailable when no credentials are found or the role cannot be assumed.
    """
    region = env_config.region
    where = f"environment {env_name}"
    if env_config.aws_role_arn:
        creds = _assume(base_session or boto3.Session(), env_config.aws_role_arn,
                        f"modelbot-{env_name}", region, where, env_config.aws_external_id)
        return boto3.Session(aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key,
                             aws_session_token=creds.token, region_name=region)
    call = "resolving ambient AWS credentials"
    try:
        if base_session is None:
            session = boto3.Session(region_name=region)
            ambient = session.get_credentials()
        else:
            ambient = base_session.get_credentials()
            session = base_session
        if ambient is None:
            raise NoCredentialsError()
        if session.region_name != region:
            frozen = ambient.get_frozen_credentials()
            session = boto3.Session(aws_access_key_id=frozen.access_key,
                                    aws_secret_access_key=frozen.secret_key,
                                    aws_session_token=frozen.token, region_name=region)
    except (BotoCoreError, ClientError) as exc:
        raise unavailable(exc, where=where, call=call) from None
    return session


class SessionPool:
    """Sessions and clients per environment, reused across deliveries and rollout ticks.

    Building a boto3 client costs milliseconds of CPU (it loads the service model); a worker
    reading live state or polling hundreds of rollouts would spend most of its time on that.
    A pooled session and its clients are kept for POOLED_SESSION_SECONDS, then made again, which
    also picks up renewed role credentials (cached by `_assume` until REFRESH_BEFORE_EXPIRY, a
    longer margin). botocore clients are thread-safe. An environment whose credentials are
    missing or whose AWS endpoint is unreachable fails at once, with the same reason, for
    FAILED_ENVIRONMENT_SECONDS.
    """

    def __init__(self, environments, *, session_factory=None, base_session: boto3.Session | None = None,
                 monotonic=None):
        self._environments = dict(environments)
        # Default: this module's aws_session, looked up at each use (so it can be instrumented).
        self._factory = session_factory or (lambda *a, **kw: aws_session(*a, **kw))
        self._base = base_session
        self._monotonic = monotonic or time.monotonic
        self._entries: dict[str, tuple[float, boto3.Session, dict[str, Any]]] = {}
        self._failed: dict[str, tuple[float, AwsUnavailable]] = {}
        self._lock = threading.Lock()

    def _entry(self, env: str) -> tuple[float, boto3.Session, dict[str, Any]]:
        if env not in self._environments:
            raise KeyError(f"no environment {env!r} in the server config")
        now = self._monotonic()
        with self._lock:
            failed = self._failed.get(env)
            if failed is not None:
                if failed[0] > now:
                    raise failed[1]
                del self._failed[env]
            entry = self._entries.get(env)
            if entry is not None and entry[0] > now:
                return entry
        session = self._factory(self._environments[env], env_name=env, base_session=self._base)
        entry = (now + POOLED_SESSION_SECONDS, session, {})
        with self._lock:
            self._entries[env] = entry
        return entry

    def session(self, env: str) -> boto3.Session:
        return self._entry(env)[1]

    def client(self, env: str, service: str, *, config: Config | None = None, purpose: str = "") -> Any:
        """The pooled client of `service` (one per `purpose`: a different `config`, e.g. the
        smoke test's, is another client)."""
        _, session, clients = self._entry(env)
        key = f"{service}#{purpose}" if purpose else service
        with self._lock:
            made = clients.get(key)
        if made is None:
            made = client(session, service, config)
            with self._lock:
                made = clients.setdefault(key, made)
        return made

    def failed(self, env: str, failure: AwsUnavailable) -> None:
        """Remember that `env` cannot be used now (credentials or reachability); forget its session."""
        now = self._monotonic()
        with self._lock:
            if env in self._failed and self._failed[env][0] > now:
                return  # already remembered (this is its own failure raised again): no extension
            self._failed[env] = (now + FAILED_ENVIRONMENT_SECONDS, failure)
            self._entries.pop(env, None)
