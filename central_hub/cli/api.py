"""``central-hub api-token add|list|revoke DATA_DIR``: tokens for /api/v1 (docs/hub-face.md)."""

from __future__ import annotations

import click

from ..api.tokens import DEFAULT_SCOPES, PERSONAL_SCOPE, SCOPES, TokenError, issue_token
from ..store import face as sql
from .common import fail, guarded, hub_store, load_config


@click.group("api-token")
def api_token() -> None:
    """Tokens of the data-exchange API (/api/v1)."""


@api_token.command("add")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--name", required=True, help="Who uses it, e.g. 省政务服务平台.")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(sorted(SCOPES)),
              help=f"Repeat for each scope; default: all but {PERSONAL_SCOPE} "
                   "(full ID numbers, phones and query codes are given only when asked for).")
@guarded
def add(data_dir: str, name: str, scopes: tuple[str, ...]) -> None:
    """Issue a token (printed once; only its hash is kept)."""
    config = load_config(data_dir)
    store = hub_store(config)
    scopes = tuple(sorted(set(scopes))) or DEFAULT_SCOPES
    try:
        token_id, token = issue_token(store, name=name, scopes=list(scopes),
                                      at=config.now_ts(), by="cli")
        store.audit(config.now_ts(), "cli", "api_token.issued", str(token_id),
                    {"scopes": list(scopes)})
    except TokenError as exc:
        fail(exc.message)
    finally:
        store.close()
    click.echo(token)
    click.echo(f"token {token_id} for {name}: {', '.join(scopes)}", err=True)


@api_token.command("list")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@guarded
def list_tokens(data_dir: str) -> None:
    """Tokens issued, with their scopes and state."""
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        for t in sql.api_tokens(store):
            state = f"revoked {t['revoked_at']}" if t["revoked_at"] else "active"
            click.echo(f"{t['id']}\t{t['name']}\t{t['scopes']}\t{state}")
    finally:
        store.close()


@api_token.command("revoke")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--id", "token_id", required=True, type=int)
@guarded
def revoke(data_dir: str, token_id: int) -> None:
    """Revoke a token at once."""
    config = load_config(data_dir)
    store = hub_store(config)
    try:
        if not sql.revoke_api_token(store, token_id, config.now_ts()):
            fail(f"no active token {token_id}")
        store.audit(config.now_ts(), "cli", "api_token.revoked", str(token_id))
    finally:
        store.close()
    click.echo(f"token {token_id} revoked")
