"""Every code of the contract named for people, in Chinese and English: one table.

The codes are the wire's (org kinds, ticket stages and statuses, categories, actor roles, reason
codes, channels, event types...); the names are what a reader sees. The HTTP API serves this table
(`GET /api/labels`), the pages' JavaScript names every code from that answer, and the CLI and the
server-rendered pages call `label()`: a name is written here once and nowhere else.
tests/unit/test_labels.py checks that every code each family's source declares has both names.

Ticket and dispute categories are named in `schemas/categories.py` (the catalogue Open311 also
offers) and reasons' English sentences in `schemas/rejected.py`; this module takes them from
there. A code that no table knows (events may carry any well-formed category) shows as itself.
"""

from __future__ import annotations

from typing import Literal, get_args

from schemas import lifecycle
from schemas.base import ActorRole
from schemas.clock import CLOCK_EVENTS, UnitRole
from schemas.categories import CATEGORIES, DISPUTE_CATEGORIES
from schemas.dispute import PartyRole, RiskGrade
from schemas.families import ENVELOPE
from schemas.intake import EVENTS_BY_TYPE
from schemas.organisation import OrgKind
from schemas.policy import Stage as DeadlineStage
from schemas.rejected import REASONS
from schemas.ticket import TICKET_EVENTS, Channel, Satisfaction

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
Names = dict[str, tuple[str, str]]
"""code -> (Chinese, English)."""

TopicStage = Literal["proposed", "discussed", "decided", "implemented"]
"""A deliberation topic's stage as the read model keeps it (projections/facts.py TOPIC_COUNTERS)."""
ReceiverKind = Literal["unit", "grid_worker"]
"""Who a ticket is dispatched to: a unit or a grid worker (the workload list's `kind`)."""
TicketStatus = Literal["open", "overdue", "resolved", "closed", "voided", "all"]
"""The ticket lists' status filter: the lifecycle's statuses, `overdue` (open past the deadline) and `all`."""
AccountRole = Literal["staff", "auditor", "admin"]
"""A web account's role (dashboards/accounts.py)."""

KINDS: Names = {
    "district": ("区", "district"), "zone": ("高新区", "high-tech zone"), "town": ("镇", "town"),
    "street": ("街道", "street"), "community": ("社区", "community"), "village": ("村", "village"),
    "hamlet": ("屯", "hamlet"), "grid": ("网格", "grid"), "work_committee": ("两新工委", "work committee"),
    "park_committee": ("园区综合党委", "park committee"), "enterprise": ("企业", "enterprise"),
    "party_branch": ("党支部", "party branch"), "council": ("党群理事会", "council"),
    # A receiver that is not a unit of the tree: the workload list names both kinds.
    "unit": ("单位", "unit"), "grid_worker": ("网格员", "grid worker"),
}
STAGES: Names = {
    "raised": ("待派单", "awaiting dispatch"), "dispatched": ("已派单", "dispatched"), "accepted": ("办理中", "in hand"),
    "returned": ("已退回", "returned"), "resolved": ("已办结", "resolved"), "rated": ("已评价", "rated"),
    "reopened": ("已重启", "reopened"), "closed": ("已关闭", "closed"), "voided": ("已作废", "voided"),
}
STATUSES: Names = {
    "open": ("未办结", "open"), "overdue": ("超期", "overdue"), "resolved": ("已办结", "resolved"),
    "closed": ("已关闭", "closed"), "voided": ("已作废", "voided"), "all": ("全部", "all"),
}
ROLES: Names = {
    "resident": ("居民", "resident"), "enterprise": ("企业", "enterprise"), "dispatcher": ("派单员", "dispatcher"),
    "receiver": ("接单员", "receiver"), "grid_worker": ("网格员", "grid worker"), "unit": ("责任单位", "unit"),
    "mediator": ("调解员", "mediator"), "council": ("议事组织", "council"), "auditor": ("审计", "auditor"),
    "system": ("系统", "system"),
}
ACCOUNT_ROLES: Names = {"staff": ("工作人员", "staff"), "auditor": ("审计", "auditor"), "admin": ("管理员", "admin")}
CHANNELS: Names = {
    "mini_program": ("小程序", "mini-program"), "hotline": ("12345 热线", "12345 hotline"),
    "grid_patrol": ("网格巡查", "grid patrol"), "walk_in": ("来访", "walk-in"),
    "enterprise_platform": ("企业平台", "enterprise platform"), "import": ("导入", "import"), "other": ("其他", "other"),
}
EVENTS: Names = {
    "OrgUnitRegistered": ("单位登记", "Unit registered"), "OrgUnitRenamed": ("单位更名", "Unit renamed"),
    "OrgUnitMoved": ("单位划转", "Unit moved"), "GridWorkerAssigned": ("网格员到岗", "Grid worker assigned"),
    "TicketRaised": ("居民点单", "Raised by resident"), "TicketDispatched": ("中心派单", "Dispatched by centre"),
    "TicketAccepted": ("网格员接单", "Accepted"), "TicketReturned": ("退单", "Returned"),
    "TicketProgressNoted": ("办理进展", "Progress"), "TicketResolved": ("办结", "Resolved"),
    "TicketRated": ("群众评单", "Rated by resident"), "TicketReopened": ("重启", "Reopened"),
    "TicketClosed": ("关闭", "Closed"), "TicketVoided": ("重复作废", "Voided (duplicate)"),
    "TicketRecategorised": ("调整类别", "Recategorised"), "TicketTransferred": ("转办", "Transferred"),
    "TicketContacted": ("联系群众", "Resident contacted"), "TicketExtensionRequested": ("申请延期", "Extension requested"),
    "TicketExtensionApproved": ("延期批准", "Extension approved"), "TicketExtensionRefused": ("延期驳回", "Extension refused"),
    "TicketPaused": ("挂起", "Paused (waiting for the resident)"), "TicketResumed": ("恢复计时", "Resumed"),
    "TicketTaskAccepted": ("协办签收", "Supporting unit signed for"), "TicketTaskCompleted": ("协办完成", "Supporting task done"),
    "DeadlineNearing": ("时限提醒", "Deadline near"), "DeadlineBreached": ("超期", "Deadline breached"),
    "TicketChased": ("催办", "Chased"), "TicketSupervised": ("督办", "Supervised"),
    "DisputeRegistered": ("纠纷登记", "Dispute registered"), "MediationSessionHeld": ("调解", "Mediation session"),
    "DisputeConcluded": ("调解结案", "Dispute concluded"), "TopicProposed": ("议题提出", "Topic proposed"),
    "MeetingHeld": ("议事会议", "Meeting held"), "TopicDecided": ("形成决议", "Topic decided"),
    "TopicImplemented": ("决议落实", "Decision carried out"), "PersonalDataErased": ("个人信息删除", "Personal data erased"),
    "IntakeGap": ("接收缺口", "Intake gap"), "IntakeGapAcknowledged": ("缺口已确认", "Intake gap acknowledged"),
}
SATISFACTION: Names = {
    "satisfied": ("满意", "satisfied"), "basically_satisfied": ("基本满意", "basically satisfied"),
    "dissatisfied": ("不满意", "dissatisfied"),
}
RISK: Names = {"red": ("红", "red"), "orange": ("橙", "orange"), "yellow": ("黄", "yellow")}
PARTY_ROLES: Names = {"applicant": ("申请人", "applicant"), "respondent": ("被申请人", "respondent"), "other": ("其他当事人", "other party")}
TOPIC_STAGES: Names = {
    "proposed": ("已提出", "proposed"), "discussed": ("已议事", "discussed"), "decided": ("已决议", "decided"),
    "implemented": ("已落实", "implemented"),
}
FIELDS: Names = {
    "title": ("事项", "title"), "category": ("类别", "category"), "description": ("描述", "description"),
    "channel": ("来源", "channel"), "deadline": ("时限", "deadline"), "to_unit": ("派至单位", "to unit"),
    "to_worker": ("派至网格员", "to grid worker"), "reason": ("原因", "reason"), "note": ("进展", "note"),
    "resolution": ("办理结果", "resolution"), "evidence_ref": ("佐证", "evidence"), "contacted": ("已联系", "contacted"),
    "resolved": ("已解决", "resolved"), "satisfaction": ("满意度", "satisfaction"), "comment": ("评价意见", "comment"),
    "duplicate_of": ("重复于", "duplicate of"), "from_org_id": ("转出单位", "from unit"), "to_org_id": ("转入单位", "to unit"),
    "sign_for_by": ("签收时限", "sign for by"), "contact_by": ("联系时限", "contact by"), "supporting": ("协办单位", "supporting units"),
    "counting": ("计时方式", "counted in"), "policy_version": ("时限规则版本", "deadline policy version"),
    "filled": ("系统计算", "computed by the ledger"), "unit": ("单位", "unit"), "how": ("联系方式", "how"),
    "until": ("延至", "until"), "request_id": ("延期申请", "extension request"), "deadlines": ("新时限", "deadlines now"),
    "result": ("协办结果", "result"),
    "round": ("办理轮次", "round"), "unit_role": ("主办/协办", "lead or supporting"), "stage": ("时限环节", "clock"),
    "chased_by": ("催办单位", "chased by"), "chase": ("第几次催办", "chase"), "escalated_to": ("督办单位", "escalated to"),
    "lat": ("纬度", "latitude"), "long": ("经度", "longitude"), "address_id": ("地址编号", "address id"),
}
"""The fields of a ticket's steps, as a ticket's timeline shows them (GET /api/tickets/{id} `detail`)."""
REASON_ZH: dict[str, str] = {
    "oversize": "消息超过单个事件允许的 64 KiB。",
    "invalid_utf8": "消息不是有效的 UTF-8 编码。",
    "malformed_json": "消息不是格式正确的 JSON。",
    "unknown_type": "`type` 字段不是本契约中的事件类型。",
    "invalid_field": "有字段缺失、类型错误或超出范围。",
    "unsupported_version": "schema_version 比本账本能理解的版本新。",
    "sealed_by_producer": "只有账本可以写入 `sealed` 和 `org_path`。",
    "subject_mismatch": "主题与事件的类型和单位路径不符。",
    "conflicting_duplicate": "该 event_id 已以不同内容记录过。",
    "unknown_org": "事件发生的单位尚未登记。",
    "org_exists": "该编号的单位已经登记。",
    "bad_parent": "上级单位不存在，或不能设立这一类下级单位。",
    "move_cycle": "单位不能划转到自身或其下级单位之下。",
    "not_a_grid": "网格员只能派驻到网格。",
    "role_not_allowed": "该角色无权记录此事件。",
    "unknown_ticket": "没有提出过该编号的工单。",
    "ticket_exists": "该编号的工单已经提出。",
    "ticket_finished": "工单已关闭或作废，不能再有后续操作。",
    "wrong_stage": "工单当前所处环节不允许此操作。",
    "already_rated": "本轮办理已有评价。",
    "bad_deadline": "办理时限不晚于派单时间。",
    "no_assignee": "派单既未指定单位，也未指定网格员。",
    "bad_duplicate": "工单只能合并到另一件已提出的工单。",
    "bad_transfer": "转办须从工单所在单位转到另一个单位。",
    "bad_extension": "延期须把本次派单的某一时限推后。",
    "extension_pending": "该时限已有一项延期申请待审批。",
    "no_extension_request": "该时限没有待审批的延期申请。",
    "already_paused": "工单已挂起。",
    "not_paused": "工单未挂起。",
    "not_supporting_unit": "该单位不是本次派单的协办单位。",
    "already_signed_for": "该协办单位已签收其任务。",
    "task_completed": "该协办单位已完成其任务。",
    "bad_supporting": "协办单位须是主办单位以外已登记的单位，且每个只列一次。",
    "not_lead_unit": "只有主办单位签收并办结工单；协办单位只办其任务。",
    "unknown_dispute": "没有登记过该编号的纠纷。",
    "dispute_exists": "该编号的纠纷已经登记。",
    "dispute_concluded": "纠纷已结案，不能再有后续操作。",
    "no_mediation": "纠纷至少调解一次后才能结案。",
    "unknown_topic": "没有提出过该编号的议事事项。",
    "topic_exists": "该编号的议事事项已经提出。",
    "topic_stage": "议事事项当前所处阶段不允许此操作。",
    "personal_data_mismatch": "个人信息必须对应本事件涉及的居民。",
    "unknown_erasure": "没有记录过该编号的删除。",
    "erasure_exists": "该编号的删除已经记录。",
    "unknown_gap": "没有记录过该编号的接收缺口。",
    "gap_exists": "该接收缺口已经记录。",
    "unknown_deadline": "工单没有这一时限（轮次、单位、环节和时间）。",
    "deadline_met": "规则触发之前，工单已在时限内完成这一环节。",
    "not_due": "事件时间早于其规则触发的时间。",
    "not_escalated": "催办或督办须在已记录的超期之后，第二次催办须在第一次之后。",
    "poison": "多次处理失败，消息已被搁置。",
}
"""Each refusal's sentence in Chinese; the English sentence is the reason's own (schemas/rejected.py)."""

DEADLINE_STAGES: Names = {
    "sign_for": ("签收", "sign for"), "first_contact": ("首次联系", "first contact"), "resolve": ("办结", "resolve"),
    "supporting": ("协办任务", "supporting task"),
}
"""The deadline policy's and the clock's stages (schemas/policy.py Stage)."""
UNIT_ROLES: Names = {"lead": ("主办", "lead"), "supporting": ("协办", "supporting")}
"""A unit's role on a dispatch (schemas/clock.py UnitRole)."""

FAMILIES: dict[str, Names] = {
    "kind": KINDS,
    "stage": STAGES,
    "status": STATUSES,
    "category": {c.code: (c.zh, c.en) for c in (*CATEGORIES, *DISPUTE_CATEGORIES)},
    "role": ROLES,
    "account_role": ACCOUNT_ROLES,
    "channel": CHANNELS,
    "event": EVENTS,
    "satisfaction": SATISFACTION,
    "risk": RISK,
    "party_role": PARTY_ROLES,
    "topic": TOPIC_STAGES,
    "field": FIELDS,
    "reason": {code: (REASON_ZH.get(code, ""), r.sentence) for code, r in REASONS.items()},
    "deadline_stage": DEADLINE_STAGES,
    "unit_role": UNIT_ROLES,
}
"""Every family of codes the pages, the API and the CLI name, by the name the pages ask for."""

DECLARED: dict[str, tuple[str, ...]] = {
    "kind": (*get_args(OrgKind), *get_args(ReceiverKind)),
    "stage": lifecycle.STAGES,
    "status": get_args(TicketStatus),
    "category": tuple(c.code for c in (*CATEGORIES, *DISPUTE_CATEGORIES)),
    "role": get_args(ActorRole),
    "account_role": get_args(AccountRole),
    "channel": get_args(Channel),
    "event": tuple(EVENTS_BY_TYPE),
    "satisfaction": get_args(Satisfaction),
    "risk": get_args(RiskGrade),
    "party_role": get_args(PartyRole),
    "topic": get_args(TopicStage),
    "field": tuple(sorted(({f for cls in TICKET_EVENTS for f in cls.__struct_fields__}
                           | {f for c in CLOCK_EVENTS for f in c.__struct_fields__}) - ENVELOPE)),
    "reason": tuple(REASONS),
    "deadline_stage": get_args(DeadlineStage),
    "unit_role": get_args(UnitRole),
}
"""Where each family's codes are declared: the table above must name exactly these (the test)."""


def label(family: str, code: str, language: Language = "zh") -> str:
    """A code in words; the code itself when the family does not know it."""
    names = FAMILIES.get(family, {}).get(code)
    return (names[0] if language == "zh" else names[1]) if names else code


def table() -> dict[str, dict[str, dict[str, str]]]:
    """The whole table as the API serves it: language -> family -> code -> name."""
    return {lang: {family: {code: names[i] for code, names in codes.items()} for family, codes in FAMILIES.items()}
            for i, lang in enumerate(LANGUAGES)}
