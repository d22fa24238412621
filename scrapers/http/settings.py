"""The ``[http]`` settings, apart from the fetcher so that reading a config imports no HTTP library."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class HttpSettings:
    """The ``[http]`` table of the config, plus retry knobs with defaults that suit daily polling."""

    user_agent: str = "trialwatch/0.1 (+https://example.org/contact)"
    timeout_s: float = 20.0
    max_bytes: int = 10_000_000
    per_host_rps: float = 1.0  # 0 disables politeness
    max_concurrency: int = 8  # cap on requests in flight across all hosts
    max_retries: int = 3  # retries after the first attempt, for 429 / 5xx / connect errors / timeouts
    backoff_s: float = 1.0  # base of exponential backoff (backoff_s * 2**attempt, with small jitter)
    max_retry_after_s: float = 60.0  # a longer Retry-After is not waited for: kind "rate_limited"
    #: requests to one host in flight or queued for a global slot at once (0 = no per-host cap):
    #: a host that drips its answers slowly can then hold at most this many of the global slots
    per_host_concurrency: int = 2
    #: all requests of one watch's check end by this many seconds after its first request (0 = no
    #: deadline); set from ``[check] watch_deadline_s``. Scope: :func:`check_deadline`.
    watch_deadline_s: float = 120.0
