"""Transport security shared by the node and hub apps (docs/security.md, section 4 "Transport").

* :class:`TransportSecurityMiddleware`: ``Cache-Control: no-store`` on every response
  except static assets (pages, receipts, exports and API answers carry personal data);
  over HTTPS also ``Strict-Transport-Security`` and the ``Secure`` attribute on every
  cookie the app sets (the session cookie included). "Over HTTPS" is the ASGI scope's
  scheme: uvicorn serving TLS itself, or a TLS proxy with ``--proxy-headers``.
* :func:`tls_serve_options`: checks a certificate and key for ``serve --tls-cert
  --tls-key`` (the key readable by its owner only) and returns uvicorn's options.
* :func:`plain_http_warning`: the start-up warning for plain HTTP on a non-loopback host.
* :func:`write_self_signed`: a self-signed certificate (subjectAltNames from host names
  and IP addresses) with a new or the existing key, written 0600.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import uvicorn.config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS_VALUE = "max-age=31536000"
NO_STORE = "no-store"
DEFAULT_TLS_NAMES = ("localhost", "127.0.0.1")
CERT_DAYS = 825


class TlsSetupError(ValueError):
    """A certificate or key that ``serve`` cannot use; the message is one line."""


class TransportSecurityMiddleware:
    """Pure ASGI middleware: no-store on dynamic responses; HSTS and Secure cookies on HTTPS.

    Responses under ``static_prefix`` (fingerprinted assets, no personal data) keep their
    caching. A response that already sets Cache-Control keeps it (the route answers for it).
    """

    def __init__(self, app: ASGIApp, *, static_prefix: str = "/static/",
                 hsts: str = HSTS_VALUE) -> None:
        self.app = app
        self.static_prefix = static_prefix
        self.hsts = hsts.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https"
        static = scope.get("path", "").startswith(self.static_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = []
                for name, value in message.get("headers", []):
                    if secure and name.lower() == b"set-cookie" \
                            and b"secure" not in [part.strip().lower()
                                                  for part in value.split(b";")]:
                        value = value + b"; Secure"
                    raw.append((name, value))
                present = {name.lower() for name, _ in raw}
                if not static and b"cache-control" not in present:
                    raw.append((b"cache-control", NO_STORE.encode("latin-1")))
                if secure and b"strict-transport-security" not in present:
                    raw.append((b"strict-transport-security", self.hsts))
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def check_key_file(path: str | os.PathLike) -> Path:
    """``path`` if it is a regular file that only its owner can read; else TlsSetupError."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise TlsSetupError(f"TLS key file {path} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise TlsSetupError(f"TLS key file {path} is not a file")
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TlsSetupError(f"TLS key file {path} is readable by others (mode "
                            f"{stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}")
    return path


def tls_serve_options(cert: str | None, key: str | None) -> dict:
    """uvicorn's ``ssl_certfile``/``ssl_keyfile`` for ``serve`` ({} for plain HTTP)."""
    if cert is None and key is None:
        return {}
    if cert is None or key is None:
        raise TlsSetupError("--tls-cert and --tls-key must be given together")
    key_path = check_key_file(key)
    cert_path = Path(cert)
    try:
        x509.load_pem_x509_certificate(cert_path.read_bytes())
    except OSError as exc:
        raise TlsSetupError(f"TLS certificate {cert_path} cannot be read: {exc.strerror}") \
            from None
    except ValueError:
        raise TlsSetupError(f"TLS certificate {cert_path} is not a PEM certificate") from None
    return {"ssl_certfile": str(cert_path), "ssl_keyfile": str(key_path)}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_warning(host: str, options: dict) -> str | None:
    """The warning ``serve`` prints for plain HTTP on a host other machines can reach."""
    if options or is_loopback(host):
        return None
    return (f"警告 / warning: serving plain HTTP on {host}: passwords and personal data "
            "cross the network unencrypted; give --tls-cert and --tls-key, or serve "
            "behind a TLS proxy")


def _names(names: tuple[str, ...] | list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in names or DEFAULT_TLS_NAMES:
        name = name.strip()
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            if not name or any(ch.isspace() or ch in "/:@" for ch in name):
                raise TlsSetupError(f"--tls-name {name!r} is not a host name or IP address") \
                    from None
            out.append(x509.DNSName(name))
    return out


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_self_signed(cert_path: Path, key_path: Path, names: tuple[str, ...] | list[str],
                      *, common_name: str, new_key: bool) -> bytes:
    """Write a self-signed certificate for ``names`` (default localhost, 127.0.0.1).

    With ``new_key`` False and ``key_path`` present, the existing key is reused (its pin
    stays); otherwise a new P-256 key is written (0600). Returns the certificate's DER.
    """
    alt_names = _names(names)
    if not new_key and key_path.exists():
        check_key_file(key_path)
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        _write_private(key_path, key.private_bytes(serialization.Encoding.PEM,
                                                   serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    now = datetime.now(timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=CERT_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert.public_bytes(serialization.Encoding.DER)


__all__ = ["DEFAULT_TLS_NAMES", "HSTS_VALUE", "NO_STORE", "TlsSetupError",
           "TransportSecurityMiddleware", "check_key_file", "is_loopback",
           "plain_http_warning", "tls_serve_options", "write_self_signed"]


class AccessLogWithoutQuery(logging.Filter):
    """Drops the query string from uvicorn's access log lines: query strings carry look-up
    codes and identity numbers (``/portal/apply/status?no=…&code=…``, ``/search?q=…``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def uvicorn_log_config() -> dict:
    """uvicorn's own logging configuration, its access log passed through
    :class:`AccessLogWithoutQuery`."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["no_query"] = {"()": AccessLogWithoutQuery}
    config["handlers"]["access"]["filters"] = ["no_query"]
    return config
