"""Restoring a node without forks: a new epoch under a new key (docs/sync-field.md).

Two ways, both authorised by a one-time token from a county administrator
(``central-hub restore-token``), both starting a new *epoch*: a new key signs every event
from the hub's acknowledged head + 1 on, recorded by the hub as a hub-signed
``node.epoch`` statement. Because the epoch starts after everything the hub holds, the
new key never signs a seq the hub may already hold, so an honest restore cannot fork.

* :func:`restore_from_hub` (the disk died, nothing is left): a new data directory and key;
  the epoch statement names the node and every key of its log; the node downloads its log
  (``GET /sync/v1/log``), verifies every link and every signature with the key in force at
  each seq and that the log ends exactly at the head the statement names, then rebuilds
  its projections (cases, disclosure documents, users, counters). Passwords are not in
  the log: the administrator gets a new password (a ``user.password_reset`` event, the
  first of the new epoch); other accounts get theirs reset by the administrator.
* :func:`restore_from_backup` (``edge-node backup`` file): the backup's data directory
  comes back with its old key; the node asks the hub for its head (signed with the old
  key) and, when the backup holds events the hub never received, pushes them first as
  they are (authentic: the old key signed them). Only then does it redeem the token, so
  the epoch starts after them; events the hub holds beyond the backup are downloaded and
  verified. The old key is then replaced and deleted.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import tarfile
import tempfile
from pathlib import Path

from protocol.batch import decode_batch
from protocol.calendar import Calendar
from protocol.chain import ChainHead, verify_chain
from protocol.disclosure import apply_document_event
from protocol.document import verify_document
from protocol.envelope import format_ts
from protocol.errors import ProtocolError
from protocol.keys import PrivateKey, PublicKey, save_private_key
from protocol.lifecycle import project
from protocol.request_auth import sign_enrolment
from web.inputs import ascii_digits

from ..accounts import users as accounts
from ..cases import catalogue as node_catalogue
from ..config import NODE_FILE, SECRET_FILE, load_config, write_secret
from ..errors import SetupError
from ..node import open_node
from ..store import Store
from ..store import evaluations as evaluations_sql
from ..store import field as sql
from ..store.disclosure import save_document
from .client import SyncClient, default_http, node_tls_pins, norm_fingerprint, \
    split_pinned_token, write_hub_url
from .hub_link import REFUSAL_ZH, HubRefused, HubUnreachable, HubUntrusted, SyncError
from .verification import verify_log

log = logging.getLogger(__name__)

EPOCH_KIND = "node.epoch"
BACKUP_FILES = ("node.key", "node-old.key", "node-next.key", SECRET_FILE, NODE_FILE)
UNUSABLE_PASSWORD = "!restored"


class RestoreError(SyncError):
    code = "restore_failed"


# --------------------------------------------------------------------------- backup


def backup_node(data_dir: str | os.PathLike, file: str | os.PathLike) -> dict:
    """``edge-node backup``: a consistent copy (SQLite online backup) of the database,
    the key files, node.json, the session secret and the attachments, as a tar (0600)."""
    data_dir, file = Path(data_dir), Path(file)
    load_config(data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "node.db"
        source = Store.open(data_dir / "node.db", migrate=False)
        try:
            source.backup_to(copy)
        finally:
            source.close()
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w") as tar:
            tar.add(copy, "node.db")
            for name in BACKUP_FILES:
                if (data_dir / name).exists():
                    tar.add(data_dir / name, name)
            if (data_dir / "attachments").is_dir():
                tar.add(data_dir / "attachments", "attachments")
    return {"file": str(file), "bytes": file.stat().st_size}


def _extract_backup(file: Path, data_dir: Path) -> None:
    with tarfile.open(file, "r") as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if member.name.startswith("/") or ".." in parts or not (member.isfile()
                                                                    or member.isdir()):
                raise SetupError(f"unsafe entry {member.name!r} in the backup",
                                 zh=f"备份文件中有不安全的条目 {member.name!r}，已拒绝")
        tar.extractall(data_dir, filter="data")
    for name in ("node.key", "node-old.key", "node-next.key", SECRET_FILE):
        if (data_dir / name).exists():
            os.chmod(data_dir / name, 0o600)


def _check_target(data_dir: Path) -> None:
    if data_dir.exists() and any(data_dir.iterdir()):
        raise SetupError(f"{data_dir} is not empty",
                         zh=f"{data_dir} 不是空目录，恢复只能写入新的（空）数据目录")
    data_dir.mkdir(parents=True, exist_ok=True)


# --------------------------------------------------------------------------- the epoch


def _redeem(http, hub_url: str, token: str, key: PrivateKey,
            min_seq: int | None = None) -> dict:
    request = {"token": token.strip(), "public_key": key.public.hex,
               "proof": sign_enrolment(key, token.strip())}
    if min_seq is not None:
        request["min_seq"] = min_seq
    body = json.dumps(request).encode("utf-8")
    try:
        response = http.request("POST", hub_url + "/sync/v1/restore", content=body,
                                headers={"Content-Type": "application/json"})
        data = json.loads(response.content) if response.content else {}
    except ValueError:
        raise HubUnreachable("the hub's answer is not JSON", zh="县级平台的答复不完整") from None
    except Exception as exc:     # transport errors of whichever client was injected
        raise HubUnreachable(f"POST /sync/v1/restore: {exc}",
                             zh="无法连接县级平台（网络不通或中断）") from None
    if response.status_code != 200:
        error = data.get("error") if isinstance(data, dict) else None
        code = error.get("code") if isinstance(error, dict) else "hub_unavailable"
        message = error.get("message", "") if isinstance(error, dict) else ""
        raise HubRefused(f"restore refused: {code}: {message}",
                         zh=REFUSAL_ZH.get(code, f"县级平台拒绝了恢复：{message or code}"),
                         code=code)
    return data


def verify_epoch(wire, hub_key: PublicKey, node_code: str | None, new_key: PublicKey) -> dict:
    doc = verify_document(wire, hub_key, kind=EPOCH_KIND)
    body = doc.body
    keys = body.get("keys")
    if (node_code is not None and body.get("node") != node_code) \
            or body.get("public_key") != new_key.hex or not isinstance(keys, list) or not keys \
            or type(body.get("from_seq")) is not int \
            or body.get("from_seq") != body.get("acked_seq", -1) + 1 \
            or keys[-1] != {"from_seq": body["from_seq"], "public_key": new_key.hex}:
        raise HubUntrusted("the epoch statement does not name this node and key",
                           zh="县级平台的恢复答复与本节点或新密钥不符，未恢复",
                           code="epoch_invalid")
    return body


def _key_at(keys: list[dict], seq: int) -> PublicKey:
    chosen = keys[0]
    for entry in keys:
        if entry["from_seq"] <= seq:
            chosen = entry
    return PublicKey.from_hex(chosen["public_key"])


def download_log(node, link, epoch: dict, key: PrivateKey) -> int:
    """Fetch, verify and append the node's events the hub holds beyond our head, up to
    the epoch's boundary; returns how many."""
    store = node.store
    target = ChainHead(epoch["acked_seq"], epoch["acked_link"])
    head = store.chain_head()
    added = 0
    while head.seq < target.seq:
        answer = link.request("GET", f"/sync/v1/log?after={head.seq}", key=key,
                              expect_json=False)
        if not answer.content:
            break
        try:
            events = decode_batch(answer.content, strict=False)
            events = [e for e in events if e.seq <= target.seq]
            if not events or any(e.node != node.code for e in events):
                raise RestoreError("the hub's log holds no or foreign events",
                                   zh="县级平台返回的日志为空或不是本节点的，未恢复")
            new_head = head
            for event in events:
                new_head = verify_chain([event], _key_at(epoch["keys"], event.seq),
                                        after=new_head)
        except ProtocolError as exc:
            raise RestoreError(f"the downloaded log does not verify: {exc.code}: {exc}",
                               zh=f"从县级平台下载的日志未通过验证（{exc.code}，序号 {exc.seq}），"
                                  "未恢复", code=exc.code) from None
        with store.transaction():
            sql.insert_downloaded_events(store, events)
            store.set_meta("acked_seq", str(new_head.seq))
        added += len(events)
        head = new_head
    if head != target:
        raise RestoreError(f"the log ends at {head.seq}, not at the epoch's {target.seq}",
                           zh="下载的日志与县级平台的恢复声明不一致，未恢复",
                           code="chain_broken")
    return added


def _check_same_chain(node, link, head: ChainHead) -> None:
    """Before a token is used: the hub's event at our head seq must be ours (a backup of
    another chain would otherwise fork at the epoch)."""
    answer = link.request("GET", f"/sync/v1/log?after={head.seq - 1}", expect_json=False,
                          key=node.key)
    try:
        events = decode_batch(answer.content, strict=False) if answer.content else []
    except ProtocolError:
        events = []
    if not events or events[0].seq != head.seq or events[0].link_hex != head.link:
        raise RestoreError(f"the hub's event {head.seq} is not the backup's",
                           zh=f"备份中的第 {head.seq} 条事件与县级平台保存的不一致（不是同一条事件链），"
                              "不能从此备份恢复", code="chain_fork")


def rebuild_projections(node, *, keep_users: bool = False) -> dict:
    """Rebuild cases, disclosure documents, users and counters from the log."""
    store = node.store
    envs = [e.env for e in store.iter_events()]
    with store.transaction():
        old_users = {u["id"]: u for u in store.users()} if keep_users else {}
        sql.clear_projections(store)
        cases = project(envs)
        for state in cases.values():
            store.save_case(state)
        docs: dict[str, dict] = {}
        users: dict[str, dict] = {}
        rated: list[tuple] = []
        for env in envs:
            type_ = env.get("type") or ""
            if type_.startswith("disclosure."):
                body = env.get("body") or {}
                doc = body.get("doc")
                if isinstance(doc, str):
                    new = apply_document_event(docs.get(doc), env)
                    if new is not None:
                        docs[doc] = (new, env["seq"])
            elif type_ == "evaluation.given":
                b = env.get("body") or {}
                rated.append((b.get("case"), b.get("stage"), b.get("level"), b.get("text"),
                              env.get("ts"), env.get("seq")))
            elif type_ == "user.created":
                b = env.get("body") or {}
                users[b.get("user")] = old_users.get(b.get("user")) or {
                    "id": b.get("user"), "username": b.get("username"), "name": b.get("name"),
                    "roles": tuple(b.get("roles") or ()), "password_hash": UNUSABLE_PASSWORD,
                    "active": True, "created": env.get("ts")}
        for state, seq in docs.values():
            save_document(store, state, seq)
        for user in users.values():
            store.add_user(user)
        evaluations_sql.replace_all(store, rated)
        counters = [int(c.rsplit("-", 1)[1]) for c in cases
                    if c.startswith(node.code + "-") and ascii_digits(c.rsplit("-", 1)[1])]
        if counters:
            sql.set_counter(store, "case", max(counters))
        doc_counters = [int(d.rsplit("-D", 1)[1]) for d in docs
                        if "-D" in d and ascii_digits(d.rsplit("-D", 1)[1])]
        if doc_counters:
            sql.set_counter(store, "disclosure_doc", max(doc_counters))
        for state, _ in docs.values():
            index_no = ((state.get("published") or {}).get("index_no") or "")
            if "/" in index_no and "-" in index_no:
                body_code, rest = index_no.rsplit("/", 1)
                year, _, number = rest.partition("-")
                if ascii_digits(number):
                    sql.set_counter(store, f"disclosure_index:{body_code}:{year}", int(number))
    return {"cases": len(cases), "documents": len(docs), "users": len(users)}


def _install_key(node, key: PrivateKey) -> None:
    data_dir = Path(node.config.data_dir)
    staged = data_dir / "node.key.new"
    staged.unlink(missing_ok=True)
    save_private_key(key, staged)
    os.replace(staged, data_dir / "node.key")
    for name in ("node-old.key", "node-next.key"):
        (data_dir / name).unlink(missing_ok=True)
    node.key = key
    node.store.key = key


def _epoch_state(epoch: dict, wire: dict) -> dict:
    return {"epoch": epoch["epoch"], "from_seq": epoch["from_seq"],
            "public_key": epoch["public_key"], "statement": wire}


def restore_from_hub(data_dir: str | os.PathLike, hub_url: str, token: str, *, http=None,
                     expect_fingerprint: str | None = None, admin_password: str | None = None,
                     clock=None) -> dict:
    """Rebuild a node whose disk died from the hub (see the module docs)."""
    data_dir = Path(data_dir)
    hub_url = hub_url.rstrip("/")
    token, pin = split_pinned_token(token, hub_url, "恢复令牌")
    _check_target(data_dir)
    owns = http is None
    http = http or default_http(pins=lambda: (pin,) if pin else ())
    try:
        key = PrivateKey.generate()
        answer = _redeem(http, hub_url, token, key)
        try:
            hub = answer["hub"]
            signing = PublicKey.from_hex(hub["signing_key"])
            epoch = verify_epoch(answer["statement"], signing, None, key.public)
        except (KeyError, TypeError, ProtocolError) as exc:
            raise HubUntrusted(f"the restore answer does not verify: {exc}",
                               zh="县级平台的恢复答复无法验证，未恢复", code="epoch_invalid") from None
        if expect_fingerprint and norm_fingerprint(expect_fingerprint) != norm_fingerprint(signing.fingerprint):
            raise HubUntrusted("hub key fingerprint differs from the expected one",
                               zh=f"县级平台密钥指纹 {signing.fingerprint} 与预期不符，未恢复",
                               code="hub_fingerprint_mismatch")
        save_private_key(key, data_dir / "node.key")
        write_secret(data_dir / SECRET_FILE, secrets.token_urlsafe(32))
        info = {"code": epoch["node"], "name": epoch["name"], "created": answer["hub_time"],
                "public_key": key.public.hex, "restored": {"epoch": epoch["epoch"],
                                                           "from_seq": epoch["from_seq"]},
                "settings": {"sync_interval": 60, "hub_url": hub_url}}
        (data_dir / NODE_FILE).write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n",
                                          "utf-8")
        config = load_config(data_dir, clock=clock) if clock else load_config(data_dir)
        node = open_node(config, create=True)
        try:
            node.store.save_calendar(Calendar.seeded())
            node.store.save_catalogue(node_catalogue.sample_catalogue(), "sample")
            node.store.save_sync_state(
                hub_url=hub_url, hub_name=str(hub.get("name") or ""),
                hub_signing_key=signing.hex, hub_encryption_key=hub["encryption_key"],
                enrolled_at=format_ts(node.now()), status="active",
                initial_key=epoch["keys"][0]["public_key"],
                epoch=_epoch_state(epoch, answer["statement"]),
                hub_tls={"pins": [pin], "source": "token"} if pin else None)
            client = SyncClient(node, http, hub_url=hub_url)
            downloaded = download_log(node, client.link, epoch, key)
            counts = rebuild_projections(node)
            if node.store.user_by_username("admin") is None:
                password = admin_password or accounts.generate_password("admin", "系统管理员")
                accounts.create_user(node, "admin", "系统管理员", ("admin",), password, actor=None)
            else:
                password = accounts.reset_password(node, "admin", admin_password)
            write_hub_url(data_dir, hub_url)
            ok, error, _ = verify_log(node)
            if not ok:
                raise RestoreError(f"the rebuilt log does not verify: {error}",
                                   zh=f"重建后的日志未通过验证：{error}")
            return {"node": node.code, "epoch": epoch["epoch"], "from_seq": epoch["from_seq"],
                    "downloaded": downloaded, **counts, "admin_password": password,
                    "fingerprint": signing.fingerprint}
        finally:
            node.close()
    except BaseException:
        # nothing half-built stays behind: the token is used, but a retry with a new
        # token (or the same key, which this process no longer has) starts over cleanly
        _empty(data_dir)
        raise
    finally:
        if owns:
            http.close()


def restore_from_backup(data_dir: str | os.PathLike, backup: str | os.PathLike, token: str,
                        *, hub_url: str | None = None, http=None, clock=None) -> dict:
    """Restore a node from an ``edge-node backup`` file into a new epoch (module docs)."""
    data_dir = Path(data_dir)
    _check_target(data_dir)
    try:
        return _restore_from_backup(data_dir, Path(backup), token, hub_url, http, clock)
    except BaseException:
        _empty(data_dir)
        raise


def _empty(data_dir: Path) -> None:
    for child in list(data_dir.iterdir()) if data_dir.exists() else []:
        shutil.rmtree(child) if child.is_dir() else child.unlink()


def _restore_from_backup(data_dir: Path, backup: Path, token: str, hub_url: str | None,
                         http, clock) -> dict:
    _extract_backup(backup, data_dir)
    config = load_config(data_dir, clock=clock) if clock else load_config(data_dir)
    node = open_node(config)
    owns = http is None
    pin: str | None = None
    http = http or default_http(pins=lambda: (pin,) if pin else node_tls_pins(node))
    try:
        state = node.store.sync_state()
        hub_url = (hub_url or state.get("hub_url") or "").rstrip("/")
        if not state.get("hub_signing_key") or not hub_url:
            raise SetupError("the backup is of a node that never enrolled",
                             zh="备份中的节点从未接入县级平台，无需恢复纪元，直接使用即可")
        token, pin = split_pinned_token(token, hub_url, "恢复令牌")
        if pin:
            node.store.save_sync_state(hub_tls={"pins": [pin], "source": "token"})
        client = SyncClient(node, http, hub_url=hub_url)
        backup_head = node.store.chain_head()
        pushed = 0
        try:
            status = client.report_status()
            if status.get("acked_seq", 0) < backup_head.seq:
                pushed = client.push().pushed
            elif backup_head.seq > 0:
                _check_same_chain(node, client.link, backup_head)
        except HubRefused as exc:
            if exc.code not in ("request_signature_invalid", "node_quarantined"):
                raise
            log.warning("the backup's key is no longer accepted (%s): its unsent events "
                        "cannot be pushed", exc.code)
        key = PrivateKey.generate()
        answer = _redeem(http, hub_url, token, key, min_seq=backup_head.seq)
        epoch = client.link.verified(
            lambda w, k: verify_epoch(w, k, node.code, key.public), answer.get("statement"))
        if epoch["acked_seq"] < backup_head.seq:      # the hub checked min_seq; never here
            raise RestoreError("the epoch starts inside the backup's log",
                               code="epoch_behind_backup", zh="恢复纪元与备份冲突，未恢复")
        node.store.save_sync_state(epoch=_epoch_state(epoch, answer["statement"]),
                                   rotation=None, resend_from=None, status="active")
        downloaded = download_log(node, client.link, epoch, key)
        _install_key(node, key)
        counts = rebuild_projections(node, keep_users=True) if downloaded else {}
        ok, error, _ = verify_log(node)
        if not ok:
            raise RestoreError(f"the restored log does not verify: {error}",
                               zh=f"恢复后的日志未通过验证：{error}")
        return {"node": node.code, "epoch": epoch["epoch"], "from_seq": epoch["from_seq"],
                "backup_head": backup_head.seq, "pushed": pushed, "downloaded": downloaded,
                **counts}
    finally:
        node.close()
        if owns:
            http.close()


__all__ = ["backup_node", "restore_from_hub", "restore_from_backup", "rebuild_projections",
           "download_log", "verify_epoch", "RestoreError"]
