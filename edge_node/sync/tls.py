"""The node's TLS trust in the hub: pinned keys, checked inside the handshake.

:func:`hub_ssl_context` returns the ``ssl.SSLContext`` the node's httpx client is built
with. For each new connection it asks ``pins()`` (the pins the node trusts now: from the
enrolment token, then from the newest verified ``config.tls``):

* **pins known**: the connection is made with a context that does no certificate-authority
  or host-name check, whose socket class checks, inside ``do_handshake`` and so before
  ``wrap_socket`` returns to httpx, that SHA-256 of the peer certificate's public key
  (SPKI) is one of the pins. A mismatch closes the socket and raises
  :class:`TlsPinMismatch`: not one byte of the request (headers or body) is written.
* **no pins**: ordinary verification against the system's and certifi's authorities, with
  the host name checked (a hub behind a TLS proxy with a public certificate).

Plain ``http://`` hubs never reach this code (a node enrolled over http stays on http).
"""

from __future__ import annotations

import ssl
from typing import Callable, Collection

import certifi

from protocol.tls import spki_pin


class TlsPinMismatch(ssl.SSLCertVerificationError):
    """The hub's certificate key is not one the node pinned; nothing was sent."""

    def __init__(self, seen: str, pins: Collection[str]) -> None:
        super().__init__(
            f"the hub's TLS certificate key {seen[:16]}... is not pinned (expected "
            + ", ".join(p[:16] + "..." for p in pins) + ")")
        self.seen = seen
        self.pins = tuple(pins)


class _PinnedSocket(ssl.SSLSocket):
    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        pins = tuple(self.context.pins)
        der = self.getpeercert(binary_form=True)
        seen = spki_pin(der) if der else ""
        if seen not in pins:
            self.close()
            raise TlsPinMismatch(seen, pins)


class _PinnedContext(ssl.SSLContext):
    """CERT_NONE, no host name: the pin check of :class:`_PinnedSocket` is the trust."""

    sslsocket_class = _PinnedSocket
    pins: tuple[str, ...] = ()


class _HubContext(ssl.SSLContext):
    """Verifying context that hands a connection to the pinned one when pins are known."""

    pins: Callable[[], Collection[str]]

    def wrap_socket(self, sock, server_side=False, do_handshake_on_connect=True,
                    suppress_ragged_eofs=True, server_hostname=None, session=None):
        pins = tuple(self.pins() or ())
        if not pins:
            return super().wrap_socket(sock, server_side, do_handshake_on_connect,
                                       suppress_ragged_eofs, server_hostname, session)
        pinned = _PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
        pinned.check_hostname = False
        pinned.verify_mode = ssl.CERT_NONE
        pinned.minimum_version = ssl.TLSVersion.TLSv1_2
        pinned.set_alpn_protocols(["http/1.1"])
        pinned.pins = pins
        return pinned.wrap_socket(sock, server_side, True, suppress_ragged_eofs,
                                  server_hostname, session)


def hub_ssl_context(pins: Callable[[], Collection[str]]) -> ssl.SSLContext:
    """The context for the node's hub client (see the module docs)."""
    context = _HubContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_default_certs()
    context.load_verify_locations(certifi.where())
    context.pins = pins
    return context


def tls_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate failure behind a transport error (httpx wraps it), if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


__all__ = ["TlsPinMismatch", "hub_ssl_context", "tls_failure"]
