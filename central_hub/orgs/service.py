"""The org hierarchy (组织机构): county -> departments and townships -> villages and communities.

Codes follow GB/T 2260 and the statistical division codes built on it: a county is 6
digits (``510829``), a township 9 digits beginning with its county's (``510829100``), a
village or community 12 digits beginning with its township's (``510829100201``). A
department has no area code of its own: its code is the county's area code and the
letters its service items begin with (``510829-MZ`` for the 民政局, whose items are
``MZ-QR-0001`` ...), the shape of the 2012-era body codes (``62052400MZ``).

Scope (what a user or a node's cases belong to) follows the tree: a unit's subtree is the
unit and everything below it. See docs/hub.md for the permissions table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import HubError
from ..store.records import ORG_KINDS, OrgUnit
from ..store import HubStore

KIND_LABELS = {"county": "县（区）", "department": "县直部门", "township": "乡镇（街道）",
               "village": "村", "community": "社区"}
PARENT_KINDS = {"county": (None,), "department": ("county",), "township": ("county",),
                "village": ("township",), "community": ("township",)}
_PREFIX_RE = re.compile(r"^[A-Z]{2,4}$")
MAX_NAME = 100


class OrgError(HubError):
    code = "org_invalid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, extra={"field": field})
        self.field = field


def department_code(county: str, prefix: str) -> str:
    return f"{county}-{prefix}"


def validate_unit(store: HubStore, *, code: str, name: str, kind: str, parent: str | None,
                  item_prefix: str | None) -> tuple[str, str]:
    """Check a new unit; (code, area_code). Raises OrgError naming the field and rule."""
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise OrgError("name", f"名称：请填写 1 至 {MAX_NAME} 个字符的名称")
    if kind not in ORG_KINDS:
        raise OrgError("kind", "类型：请选择县、县直部门、乡镇、村或社区")
    parent_unit = store.org_unit(parent) if parent else None
    if parent and parent_unit is None:
        raise OrgError("parent", f"上级单位：{parent} 不存在")
    allowed = PARENT_KINDS[kind]
    if (parent_unit.kind if parent_unit else None) not in allowed:
        wanted = "、".join(KIND_LABELS[k] for k in allowed if k) or "无（县为最上级）"
        raise OrgError("parent", f"上级单位：{KIND_LABELS[kind]}的上级应为{wanted}")
    code = (code or "").strip()
    if item_prefix:
        item_prefix = item_prefix.strip().upper()
        if not _PREFIX_RE.match(item_prefix):
            raise OrgError("item_prefix", "事项编码字母：应为 2 至 4 个大写字母，如 MZ")
    if kind == "county":
        if not re.fullmatch(r"[1-8][0-9]{5}", code):
            raise OrgError("code", "区划代码：县级区划代码为 6 位数字（GB/T 2260），如 510829")
        area = code
    elif kind == "department":
        if not item_prefix:
            raise OrgError("item_prefix", "事项编码字母：县直部门须填写其事项编码的字母，如 MZ")
        code = department_code(parent_unit.code, item_prefix)
        area = parent_unit.area_code
    elif kind == "township":
        if not re.fullmatch(r"[0-9]{9}", code) or not code.startswith(parent_unit.code):
            raise OrgError("code", f"区划代码：乡镇代码为 9 位数字，以所属县的代码 "
                                   f"{parent_unit.code} 开头，如 {parent_unit.code}100")
        area = code
    else:
        if not re.fullmatch(r"[0-9]{12}", code) or not code.startswith(parent_unit.code):
            raise OrgError("code", f"区划代码：村、社区代码为 12 位数字，以所属乡镇的代码 "
                                   f"{parent_unit.code} 开头，如 {parent_unit.code}201")
        area = code
    if store.org_unit(code) is not None:
        raise OrgError("code", f"区划代码：{code} 已存在")
    if item_prefix and any(u.item_prefix == item_prefix for u in store.org_units()):
        raise OrgError("item_prefix", f"事项编码字母：{item_prefix} 已被其他单位使用")
    return code, area


def add_unit(store: HubStore, now: str, *, code: str, name: str, kind: str,
             parent: str | None, item_prefix: str | None = None) -> OrgUnit:
    code, area = validate_unit(store, code=code, name=name, kind=kind, parent=parent,
                               item_prefix=item_prefix or None)
    unit = OrgUnit(code, name.strip(), kind, parent or None, area,
                   item_prefix.strip().upper() if item_prefix else None, now)
    store.add_org_unit(unit)
    return unit


@dataclass(frozen=True)
class OrgTree:
    units: dict[str, OrgUnit]

    @classmethod
    def load(cls, store: HubStore) -> "OrgTree":
        return cls({u.code: u for u in store.org_units()})

    def children(self, code: str | None) -> list[OrgUnit]:
        return sorted((u for u in self.units.values() if u.parent == code),
                      key=lambda u: (u.kind != "department", u.code))

    def subtree(self, code: str) -> set[str]:
        out, todo = set(), [code]
        while todo:
            current = todo.pop()
            if current in out:
                continue
            out.add(current)
            todo.extend(u.code for u in self.units.values() if u.parent == current)
        return out

    def path(self, code: str | None) -> list[OrgUnit]:
        out = []
        while code and code in self.units and len(out) < 10:
            out.append(self.units[code])
            code = self.units[code].parent
        return list(reversed(out))

    def label(self, code: str | None) -> str:
        unit = self.units.get(code or "")
        return unit.name if unit else (code or "—")

    def department_of_item(self, item_code: str) -> str | None:
        prefix = item_code.split("-", 1)[0]
        for unit in self.units.values():
            if unit.item_prefix == prefix:
                return unit.code
        return None

    def flat(self) -> list[tuple[int, OrgUnit]]:
        """(depth, unit) in tree order, for screens."""
        out: list[tuple[int, OrgUnit]] = []

        def walk(code: str | None, depth: int) -> None:
            for unit in self.children(code):
                out.append((depth, unit))
                walk(unit.code, depth + 1)
        walk(None, 0)
        return out


# The sample county 青岚县 (protocol/samples/catalogue.json): departments by item letters.
SAMPLE_COUNTY = ("510829", "青岚县")
SAMPLE_DEPARTMENTS = (
    ("MZ", "青岚县民政局"), ("YB", "青岚县医疗保障局"), ("RS", "青岚县人力资源和社会保障局"),
    ("WJ", "青岚县卫生健康局"), ("ZR", "青岚县自然资源局"), ("NY", "青岚县农业农村局"),
    ("TY", "青岚县退役军人事务局"), ("SF", "青岚县司法局（法制办）"), ("GA", "青岚县公安局"),
    ("ZF", "青岚县综合行政执法局"), ("ZJ", "青岚县住房和城乡建设局"), ("CL", "青岚县残疾人联合会"),
    ("BM", "青岚县国家保密局"), ("ZW", "青岚县政务服务中心"),
)
SAMPLE_TOWNSHIP = ("510829100", "青岚镇", "XZ")
SAMPLE_VILLAGES = (("510829100001", "青岚社区", "community"),
                   ("510829100201", "石桥村", "village"))


def seed_sample_units(store: HubStore, now: str) -> None:
    county, county_name = SAMPLE_COUNTY
    add_unit(store, now, code=county, name=county_name, kind="county", parent=None)
    for prefix, name in SAMPLE_DEPARTMENTS:
        add_unit(store, now, code="", name=name, kind="department", parent=county,
                 item_prefix=prefix)
    code, name, prefix = SAMPLE_TOWNSHIP
    add_unit(store, now, code=code, name=name, kind="township", parent=county,
             item_prefix=prefix)
    for vcode, vname, kind in SAMPLE_VILLAGES:
        add_unit(store, now, code=vcode, name=vname, kind=kind, parent=code)
