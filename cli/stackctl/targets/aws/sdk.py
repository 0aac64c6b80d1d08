"""boto3 for the aws target and the s3 backend: clients, endpoint overrides, error classification.

Endpoints resolve exactly as boto3 resolves them (AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL,
the shared config file), except that a manifest's `target.endpoint` is explicit and wins, like
boto3's own `endpoint_url=` argument. The rendered AWS provider gets the same endpoints.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ...errors import InputError, ToolMissingError

# boto3 service name -> the AWS provider's `endpoints` key, for every service stackctl or its modules call
SERVICES = {"ec2": "ec2", "s3": "s3", "iam": "iam", "rds": "rds", "sts": "sts", "ssm": "ssm",
            "resourcegroupstaggingapi": "resourcegroupstaggingapi", "service-quotas": "servicequotas"}
THROTTLED = {"Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
             "TooManyRequestsException", "RequestThrottled", "SlowDown"}
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
BAD_CREDENTIALS = {"InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException",
                   "AuthFailure", "InvalidAccessKeyId", "UnrecognizedClientException"}
CREDENTIALS_HINT = ("set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws configure` "
                    "(`aws sso login` for SSO profiles)")


def _boto3():
    try:
        import boto3
        import botocore.config
    except ImportError:  # boto3 is the `aws` extra: local stacks don't need it
        raise ToolMissingError("boto3 is not installed; the aws target and the s3 backend need it",
                               "pip install 'stackctl-ml[aws]'") from None
    return boto3, botocore.config


@dataclass
class AwsContext:
    region: str
    endpoint: str | None = None  # the manifest's target.endpoint: every service, wins over env and config

    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def client(self, service: str) -> Any:
        """One client per service for the command, shared by the checks that run in parallel: botocore's
        clients are thread-safe, its sessions are not, so they are made one at a time, from one session.
        (A client per call loaded its service model each time: EC2's takes 0.2 s, preflight made five.)"""
        with self._lock:
            if service not in self._clients:
                boto3, config = _boto3()
                if "session" not in self._clients:
                    self._clients["session"] = boto3.session.Session()
                self._clients[service] = self._clients["session"].client(
                    service, region_name=self.region, endpoint_url=self.endpoint,
                    config=config.Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                                         read_timeout=30))
            return self._clients[service]

    def endpoint_of(self, service: str) -> str | None:
        """The override in effect for a service, or None for AWS's own endpoint."""
        return self.endpoints.get(service)

    @cached_property
    def endpoints(self) -> dict[str, str]:
        """boto3 service name -> overridden endpoint URL, for each service that has one."""
        if self.endpoint:
            return dict.fromkeys(SERVICES, self.endpoint)
        boto3, config = _boto3()
        from botocore.exceptions import ProfileNotFound

        try:
            session = boto3.session.Session()
            simple = _simple_endpoints(session)
        except ProfileNotFound as err:
            raise InputError(f"AWS profile not found: {err}",
                             "check AWS_PROFILE (`aws configure list-profiles`), or unset it") from None
        if simple is not None:
            return simple
        out = {}
        for service in SERVICES:
            configured = session.client(service, region_name=self.region).meta.endpoint_url
            default = session.client(service, region_name=self.region,
                                     config=config.Config(ignore_configured_endpoint_urls=True)).meta.endpoint_url
            if configured != default:
                out[service] = configured
        return out

    @property
    def emulated(self) -> bool:
        """EC2 behind an endpoint override (moto, LocalStack): instances exist on paper and run nothing."""
        return "ec2" in self.endpoints

    def provider_endpoints(self) -> dict[str, str]:
        return {SERVICES[s]: url for s, url in self.endpoints.items()}


_ENDPOINT_SETTINGS = ("endpoint_url", "services", "ignore_configured_endpoint_urls")
_AWS_HOSTS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")


def _simple_endpoints(session) -> dict[str, str] | None:
    """The endpoint overrides when nothing but AWS_ENDPOINT_URL (or nothing at all) configures them, as
    boto3 resolves them, without building two clients per service (each loads its service model: 0.8 s
    in all, on every command); None when anything else could be in play (a per-service variable, the
    shared config file's endpoint settings, an AWS_ENDPOINT_URL that is AWS's own): ask the clients."""
    import os
    from urllib.parse import urlsplit

    if any(k.startswith("AWS_ENDPOINT_URL_") or k == "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS" for k in os.environ):
        return None
    if any(k in _ENDPOINT_SETTINGS for k in session._session.get_scoped_config()):
        return None
    url = os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        return {}
    if (urlsplit(url).hostname or "").endswith(_AWS_HOSTS):
        return None
    return dict.fromkeys(SERVICES, url)


@functools.lru_cache(maxsize=1)
def known_regions() -> list[str]:
    """Regions of every AWS partition that botocore knows, offline (read once: 0.14 s)."""
    boto3, _config = _boto3()
    session = boto3.session.Session()
    return sorted({r for partition in session.get_available_partitions()
                   for r in session.get_available_regions("ec2", partition_name=partition)})


def error_code(err: Exception) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def classify(err: Exception) -> tuple[str, str, str]:
    """An error from a boto3 call as (status, detail, hint): NO when it is the caller's to fix, else UNKNOWN."""
    if isinstance(err, ToolMissingError):  # no boto3 (the aws extra): before botocore's own errors can be named
        return "NO", err.message, err.hint or ""
    from botocore import exceptions as bx

    if isinstance(err, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return "NO", "no AWS credentials found", CREDENTIALS_HINT
    if isinstance(err, bx.ProfileNotFound):
        return "NO", f"AWS profile not found: {err}", CREDENTIALS_HINT
    if isinstance(err, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError)):
        return "UNKNOWN", f"cannot reach AWS: {err}", "check the network, or the endpoint override (AWS_ENDPOINT_URL)"
    if isinstance(err, bx.NoRegionError):
        return "NO", "no region", "set target.region in the manifest"
    code = error_code(err)
    message = getattr(err, "response", {}).get("Error", {}).get("Message", "") or str(err)
    if code in BAD_CREDENTIALS:
        return "NO", f"the credentials were refused ({code})", CREDENTIALS_HINT
    if code in THROTTLED:
        return "UNKNOWN", f"throttled by AWS ({code})", "try again in a minute; this check was not verified"
    if code in DENIED:
        operation = getattr(err, "operation_name", "the call")
        return "UNKNOWN", f"access denied to {operation} ({code})", f"allow {operation} for this identity to verify it"
    return "UNKNOWN", f"{code or type(err).__name__}: {message}", "this check could not be verified"
