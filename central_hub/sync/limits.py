"""The abuse limits of the node-facing API (/sync/v1), behind one object on the hub.

Two budgets, both token buckets (``web.security.RateLimiter``) sized by ``HubConfig``:

* failed node authentications per client address (unknown node, forged signature, bad
  or expired timestamp, missing headers, replayed nonce): ``auth_failure_burst``,
  refilled at ``auth_failures_per_hour``. An address over it has its failing requests
  answered 429 with ``Retry-After`` and nothing recorded (no alert, no skew). Its
  *authentic* requests still pass: the townships of a county often reach the hub through
  one NAT address, and one noisy neighbour must not cut them all off.
* authenticated requests per node: ``node_request_burst``, refilled at
  ``node_requests_per_second``. Counted per node code, never per address, so a whole
  county arriving through one NAT after an outage passes; one node over its budget is
  answered 429 while the others go on.

Enrolment, restore and reinstatement (token requests, no node signature yet) keep their
own per-address limiter (``enrolment``).

The buckets live in this process's memory; sharing them between processes is a change
to this class alone.
"""

from __future__ import annotations

from web.security import RateLimiter

from ..config import HubConfig
from ..errors import RateLimited


class SyncLimits:
    def __init__(self, config: HubConfig) -> None:
        self.failures = RateLimiter(rate=config.auth_failures_per_hour / 3600,
                                    burst=config.auth_failure_burst)
        self.node_requests = RateLimiter(rate=config.node_requests_per_second,
                                         burst=config.node_request_burst)
        self.enrolment = RateLimiter(rate=0.2, burst=10)

    def failure_wait(self, address: str) -> float:
        """Seconds until ``address`` may fail again (0.0: it may now); takes nothing."""
        return self.failures.wait(address)

    def count_failure(self, address: str) -> None:
        self.failures.acquire(address)

    def check_node(self, code: str) -> None:
        """Refuse (429) a request of node ``code`` beyond its budget; takes nothing."""
        wait = self.node_requests.wait(code)
        if wait:
            raise RateLimited(f"node {code} sends requests faster than this hub allows; "
                              "try again later", retry_after=wait)

    def take_node(self, code: str) -> None:
        """Count an accepted request of node ``code``."""
        self.node_requests.acquire(code)

    def check_enrolment(self, address: str, what: str) -> None:
        """Count one enrolment / restore attempt from ``address``; 429 beyond the limit."""
        wait = self.enrolment.acquire(address)
        if wait:
            raise RateLimited(f"too many {what} attempts from this address; try again later",
                              retry_after=wait)
