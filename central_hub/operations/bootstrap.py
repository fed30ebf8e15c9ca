"""Creating a hub: keys, store, the three administrators (系统管理员, 安全管理员, 审计管理员:
one account each, 三权分立), the first configuration documents."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from protocol.calendar import Calendar
from protocol.config_docs import CONFIG_CALENDAR, CONFIG_CATALOGUE
from web.passwords import generate_password
from web.security import hash_password

from ..accounts.service import ADMIN_ROLES
from ..config import HubConfig
from ..catalogue.service import seed_items
from ..identity import HubIdentity, init_hub_files
from ..orgs.service import SAMPLE_COUNTY, seed_sample_units
from ..sync.publication import publish_config
from ..store import open_store

SAMPLE_CATALOGUE = Path(__file__).resolve().parents[2] / "protocol" / "samples" / "catalogue.json"
ADMIN_USER = "admin"
ADMIN_USERS = {"system_admin": ADMIN_USER, "security_admin": "secadmin",
               "audit_admin": "auditadmin"}
"""The user name ``init`` gives each administrator role (the roles: accounts.ADMIN_ROLES)."""


@dataclass(frozen=True)
class InitResult:
    identity: HubIdentity
    admin_user: str
    admin_password: str
    published: list[tuple[str, int]]
    admins: dict[str, tuple[str, str]] = field(default_factory=dict)
    """role -> (user name, password) of each administrator (``admin_user``: the system
    administrator)."""


def init_hub(data_dir: str | Path, name: str = "county-hub",
             publish_samples: bool = True) -> InitResult:
    config = HubConfig(data_dir=Path(data_dir), name=name)
    identity = init_hub_files(config, name)
    store = open_store(config.db_path, config.now_ts())
    config.db_path.chmod(0o600)
    try:
        now = config.now_ts()
        published = []
        if publish_samples:
            seed_sample_units(store, now)
        admins = {}
        for role, label in ADMIN_ROLES.items():
            admins[role] = (ADMIN_USERS[role],
                            generate_password(username=ADMIN_USERS[role], display_name=label))
            store.add_user(ADMIN_USERS[role], hash_password(admins[role][1]), role, now, label,
                           SAMPLE_COUNTY[0] if publish_samples else None)
        if publish_samples:
            doc = publish_config(store, identity, config, CONFIG_CALENDAR,
                                 Calendar.seeded().to_document(), "init")
            published.append((doc.kind, doc.version))
            if SAMPLE_CATALOGUE.is_file():
                content = json.loads(SAMPLE_CATALOGUE.read_text(encoding="utf-8"))
                doc = publish_config(store, identity, config, CONFIG_CATALOGUE, content, "init")
                seed_items(store, content, now)
                published.append((doc.kind, doc.version))
    finally:
        store.close()
    return InitResult(identity, ADMIN_USER, admins["system_admin"][1], published, admins)
