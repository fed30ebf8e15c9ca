"""A realistic synthetic workload in simulated time, through the same domain functions.

Cases arrive on working days between 08:30 and 17:30 (Asia/Shanghai) and follow a script
drawn at intake: most are accepted and go through their item's flow to completion and
delivery; some are refused, asked for a supplement (and resubmitted or abandoned),
withdrawn, voided, suspended for a special procedure, extended, rejected; fees are
charged, waived or refunded; a share of cases is handled slowly so some end overdue.
Every action is an agenda entry processed in time order with the node's clock set to it.

Each simulated day's actions are committed in one transaction (every action still nests
in its own savepoint, so a refused action undoes only itself); the event log is identical
to what staff would produce one commit at a time.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import random
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Callable

from protocol import lifecycle
from protocol.calendar import SHANGHAI, shanghai_date
from web.security import hash_password

from ..accounts import users
from ..cases import evaluations
from ..cases import handling as cases
from ..cases.applicants import resident_id_check_char
from ..cases.catalogue import current_catalogue
from ..errors import NodeError
from ..node import Node

log = logging.getLogger(__name__)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰建国建华志强海燕红梅春花秋菊冬梅德明永福光辉翠萍金凤"
REGIONS = ("410523", "410526", "411522", "520121", "522422", "530326", "620524", "610426",
           "431026", "360726")
STAFF = {"clerk": ("sim-clerk1", "sim-clerk2"), "handler": ("sim-handler1", "sim-handler2"),
         "reviewer": ("sim-reviewer",), "approver": ("sim-approver",), "head": ("sim-head",)}
PROCEDURES = ("hearing", "expert_review", "inspection", "public_notice", "appraisal")


@dataclass
class SimulationReport:
    cases: int = 0
    events: int = 0
    actions: int = 0
    refused_actions: int = 0
    seconds: float = 0.0
    by_state: dict = field(default_factory=dict)

    @property
    def cases_per_second(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0


class SimClock:
    """A settable clock: the simulator moves it to each action's time."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Script:
    """What will happen to one case, drawn at intake."""

    outcome: str                 # accept | refuse | supplement
    abandon_supplement: bool
    withdraw: bool
    void: bool
    suspend: bool
    extend: bool
    reject: bool
    slow: bool
    waive: bool
    refund: bool


def _resident_id(rng: random.Random) -> str:
    born = date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 65))
    first17 = f"{rng.choice(REGIONS)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + resident_id_check_char(first17)


def _applicant(rng: random.Random) -> dict:
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
    return {"kind": "person", "name": name, "id_type": "resident_id",
            "id_no": _resident_id(rng), "phone": f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"}


def _script(rng: random.Random) -> Script:
    r = rng.random()
    outcome = "refuse" if r < 0.04 else "supplement" if r < 0.16 else "accept"
    return Script(outcome=outcome, abandon_supplement=rng.random() < 0.2,
                  withdraw=rng.random() < 0.03, void=rng.random() < 0.01,
                  suspend=rng.random() < 0.05, extend=rng.random() < 0.04,
                  reject=rng.random() < 0.06, slow=rng.random() < 0.08,
                  waive=rng.random() < 0.1, refund=rng.random() < 0.3)


def _ensure_staff(node: Node) -> dict[str, list[dict]]:
    """The simulation's staff accounts, created once (password: sim-window-2026)."""
    staff: dict[str, list[dict]] = {}
    hashed = None
    admin = next((u for u in node.store.users() if "admin" in u["roles"]), None)
    admin_actor = None if admin is None else {"id": admin["id"], "role": "admin"}
    for role, names in STAFF.items():
        for username in names:
            user = node.store.user_by_username(username)
            if user is None:
                hashed = hashed or hash_password("sim-window-2026")
                user = users.create_user(node, username, f"模拟{username[4:]}", (role,), "",
                                         actor=admin_actor, password_hash=hashed)
            staff.setdefault(role, []).append(user)
    return staff


def simulate(node: Node, *, cases: int, start: date | None = None, days: int = 60,
             seed: int = 1, progress: Callable[[int], None] | None = None
             ) -> SimulationReport:
    """Simulate ``cases`` intakes spread over the working days of ``days`` days from
    ``start`` (default: ``days`` days before the node's today), and their handling."""
    rng = random.Random(seed)
    real_clock = node.store.clock
    today = shanghai_date(node.now())
    start = start or (today - timedelta(days=days))
    clock = SimClock(datetime(start.year, start.month, start.day, 8, 0, tzinfo=SHANGHAI))
    sim = Node(replace(node.config, clock=clock), node.store, node.key)
    node.store.clock = clock
    report = SimulationReport()
    first_seq = node.store.chain_head().seq
    began = time.perf_counter()
    try:
        _run(sim, rng, clock, cases, start, days, report, progress)
    finally:
        node.store.clock = real_clock
    report.seconds = time.perf_counter() - began
    report.events = node.store.chain_head().seq - first_seq
    report.by_state = node.store.cases_by_state()
    return report


def _run(node: Node, rng: random.Random, clock: SimClock, n_cases: int, start: date,
         days: int, report: SimulationReport, progress) -> None:
    calendar = node.store.calendar()
    catalogue = current_catalogue(node)
    items = list(catalogue.items)
    weights = [rng.choice((1, 2, 3, 5, 8)) for _ in items]
    staff = _ensure_staff(node)
    workdays = [start + timedelta(days=i) for i in range(days)
                if calendar.is_working_day(start + timedelta(days=i))] or [start]
    end = datetime.combine(start + timedelta(days=days), datetime.min.time(), SHANGHAI)

    def who(role: str) -> dict:
        user = rng.choice(staff[role])
        return {"id": user["id"], "role": role}

    def later(moment: datetime, working_days: float) -> datetime:
        """A time ``working_days`` (may be fractional) working days after ``moment``."""
        whole = int(working_days)
        day = moment.date()
        for _ in range(whole):
            day += timedelta(days=1)
            while not calendar.is_working_day(day):
                day += timedelta(days=1)
        minutes = rng.randrange(8 * 60 + 30, 17 * 60 + 30) if whole else \
            min(moment.hour * 60 + moment.minute + rng.randrange(5, 120), 17 * 60 + 50)
        return datetime(day.year, day.month, day.day, minutes // 60, minutes % 60,
                        rng.randrange(60), tzinfo=SHANGHAI)

    agenda: list = []
    counter = 0

    def plan(moment: datetime, kind: str, payload) -> None:
        nonlocal counter
        if moment < end:
            counter += 1
            heapq.heappush(agenda, (moment, counter, kind, payload))

    per_day = [n_cases // len(workdays)] * len(workdays)
    for i in range(n_cases - sum(per_day)):
        per_day[i % len(workdays)] += 1
    for day, count in zip(workdays, per_day):
        for _ in range(count):
            minute = rng.randrange(8 * 60 + 30, 17 * 60 + 30)
            plan(datetime(day.year, day.month, day.day, minute // 60, minute % 60,
                          rng.randrange(60), tzinfo=SHANGHAI), "intake", None)

    scripts: dict[str, Script] = {}
    current_day = None
    tx = None
    try:
        while agenda:
            moment, _, kind, payload = heapq.heappop(agenda)
            if moment.date() != current_day:
                if tx is not None:
                    tx.__exit__(None, None, None)
                current_day = moment.date()
                tx = node.store.transaction()
                tx.__enter__()
            clock.now = moment
            report.actions += 1
            try:
                if kind == "intake":
                    _intake(node, rng, items, weights, who, scripts, plan, later, moment)
                    report.cases += 1
                    if progress:
                        progress(1)
                else:
                    _step(node, rng, kind, payload, scripts[payload], who, plan, later, moment)
            except NodeError as exc:
                report.refused_actions += 1
                log.debug("simulated action refused: %s", exc)
    except BaseException as exc:
        if tx is not None:
            tx.__exit__(type(exc), exc, exc.__traceback__)
        raise
    if tx is not None:
        tx.__exit__(None, None, None)


def _intake(node, rng, items, weights, who, scripts, plan, later, moment) -> None:
    item = rng.choices(items, weights)[0]
    script = _script(rng)
    required = [m["id"] for m in item["materials"] if m["required"]]
    optional = [m["id"] for m in item["materials"] if not m["required"]]
    present = set(required) | {m for m in optional if rng.random() < 0.6}
    if script.outcome == "supplement" and required:
        for m in rng.sample(required, k=min(len(required), rng.choice((1, 1, 2)))):
            present.discard(m)
    elif script.outcome == "supplement":
        script.outcome = "accept"
    state = cases.intake(node, who("clerk"), item_code=item["code"], applicant=_applicant(rng),
                         materials=sorted(present), outcome=script.outcome,
                         reason="申请事项不属于本机关职权范围" if script.outcome == "refuse" else None,
                         note="请补齐材料后到窗口办理" if script.outcome == "supplement" else None)
    case_no = state["case"]
    scripts[case_no] = script
    if script.outcome == "supplement":
        plan(later(moment, rng.randrange(1, 6)),
             "withdraw" if script.abandon_supplement else "resubmit", case_no)
    elif script.outcome == "accept":
        _maybe_rate(node, case_no, "accept")
        _after_accept(state, rng, script, plan, later, moment)


def _pace(rng, script: Script) -> float:
    return rng.choice((0, 0, 1, 1, 2, 3)) + (rng.randrange(3, 9) if script.slow else 0)


_RATING_TEXTS = {3: "等候时间有点长", 4: "材料要求没有一次性告知，跑了两趟",
                 5: "窗口人员态度不好，解释不清楚"}


def _maybe_rate(node, case_no: str, stage: str) -> None:
    """About one citizen in four rates the stage at the hall terminal, mostly 非常满意.
    Drawn from a hash of the case and stage, not the simulator's random stream, so the
    cases themselves are the same with or without ratings."""
    draw = int.from_bytes(hashlib.sha256(f"{case_no}/{stage}".encode()).digest()[:4], "big")
    if draw % 4:
        return
    roll = (draw >> 8) % 100
    level = 1 if roll < 70 else 2 if roll < 90 else 3 if roll < 96 else 4 if roll < 99 else 5
    evaluations.give(node, case_no, stage, level, _RATING_TEXTS.get(level))


def _after_accept(state, rng, script, plan, later, moment) -> None:
    case_no = state["case"]
    if state["fee_standard_fen"] > 0:
        plan(later(moment, 0), "waive_fee" if script.waive else "charge_fee", case_no)
    if script.withdraw:
        plan(later(moment, rng.randrange(1, 4)), "withdraw", case_no)
    elif script.void:
        plan(later(moment, rng.randrange(1, 4)), "void", case_no)
    else:
        plan(later(moment, _pace(rng, script)), "next", case_no)


def _step(node, rng, kind: str, case_no: str, script: Script, who, plan, later,
          moment) -> None:
    head = who("head")
    if kind == "resubmit":
        state = cases.get_case(node, case_no)
        present = [m["id"] for m in state["materials"] if m["present"] or m["required"]]
        state = cases.resubmit(node, who("clerk"), case_no, materials=present, outcome="accept")
        _maybe_rate(node, case_no, "accept")
        _after_accept(state, rng, script, plan, later, moment)
    elif kind in ("withdraw", "void"):
        if kind == "withdraw":
            state = cases.withdraw(node, who("clerk"), case_no, reason="申请人申请撤回")
        else:
            state = cases.void(node, head, case_no, reason="重复录入，作废")
        if state["fee"]["charged_fen"] and script.refund:
            plan(later(moment, rng.randrange(0, 3)), "refund_fee", case_no)
    elif kind == "charge_fee":
        cases.charge_fee(node, who("clerk"), case_no, receipt_no=f"R{rng.randrange(10**8):08d}")
    elif kind == "waive_fee":
        cases.waive_fee(node, who("clerk"), case_no, approver=head,
                        reason="申请人为最低生活保障对象，按规定免收")
    elif kind == "refund_fee":
        cases.refund_fee(node, who("clerk"), case_no, approver=head, reason="撤件退费")
    elif kind == "resume":
        cases.resume(node, who("handler"), case_no, reason="专家评审已结束")
        plan(later(moment, _pace(rng, script)), "next", case_no)
    elif kind == "deliver":
        state = cases.get_case(node, case_no)
        cases.deliver(node, who("clerk"), case_no, method=rng.choice(("window", "window", "mail")),
                      recipient=state["applicant"]["name"])
        _maybe_rate(node, case_no, "complete")
    elif kind == "next":
        _next(node, rng, case_no, script, who, plan, later, moment)


def _next(node, rng, case_no, script, who, plan, later, moment) -> None:
    state = cases.get_case(node, case_no)
    decision, final = lifecycle.flow_plan(state["flow"])
    i = state["next_step"]
    flow = state["flow"]
    if state["state"] == "accepted":
        if script.suspend and not state["pauses"] and i >= 2:
            cases.suspend(node, who("handler"), case_no, procedure=rng.choice(PROCEDURES),
                          reason="依法需要组织专家评审")
            plan(later(moment, rng.randrange(2, 9)), "resume", case_no)
            return
        if script.extend and not state["extensions"] and i >= 2:
            cases.extend(node, who("handler"), case_no, approver=who("head"),
                         reason="情况复杂，需延长办理期限")
        if i < decision:
            cases.complete_step(node, who(flow[i]["role"]), case_no, opinion="经核查，情况属实，同意")
        else:
            cases.decide(node, who(flow[decision]["role"]), case_no,
                         outcome="reject" if script.reject else "approve",
                         reason="不符合申请条件" if script.reject else "符合条件，予以批准")
        plan(later(moment, _pace(rng, script)), "next", case_no)
    elif state["state"] == "decided":
        if i < final:
            cases.complete_step(node, who(flow[i]["role"]), case_no, opinion="已办理")
            plan(later(moment, _pace(rng, script)), "next", case_no)
        else:
            cases.complete(node, who(flow[final]["role"]), case_no)
            plan(later(moment, rng.choice((0, 0, 1, 2))), "deliver", case_no)
