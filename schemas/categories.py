"""The catalogue of ticket categories: codes on the wire, names for people (Chinese, English).

Events may carry any well-formed category code (new ones appear faster than software is
released); these are the ones the district uses today, offered as Open311 services and named on
the dashboards.
"""

from __future__ import annotations

import msgspec


class Category(msgspec.Struct, frozen=True):
    code: str
    zh: str
    en: str
    group: str
    """The Open311 group: residents, villages or enterprises."""
    public: bool = True
    """Offered and listed by Open311's public reads. False where a ticket is about a person more
    than a place (health, care of a named elderly resident, a neighbour reported to the police):
    its very existence, category and text tell too much; staff see it on the dashboards."""


CATEGORIES: tuple[Category, ...] = (
    Category("epidemic_control", "疫情防控", "Epidemic control", "residents", public=False),
    Category("civilised_city", "创建文明城市", "Civilised-city campaign", "residents"),
    Category("compound_management", "小区管理", "Compound management", "residents"),
    Category("parking", "停车秩序", "Parking", "residents"),
    Category("environment", "环境卫生", "Environment and sanitation", "residents"),
    Category("roads_and_lights", "道路与路灯", "Roads and street lights", "residents"),
    Category("water_and_power", "水电供应", "Water and power supply", "residents"),
    Category("elderly_care", "关爱老人", "Care for elderly people", "residents", public=False),
    Category("public_safety", "治安安全", "Public safety", "residents", public=False),
    Category("collective_economy", "村集体经济", "Village collective economy", "villages"),
    Category("farmland_and_rivers", "田长河长林长", "Fields, rivers and forests", "villages"),
    Category("enterprise_problem", "企业诉求", "Enterprise problem", "enterprises"),
    Category("policy_consultation", "政策咨询", "Policy consultation", "enterprises"),
)
DISPUTE_CATEGORIES: tuple[Category, ...] = (
    Category("neighbours", "邻里纠纷", "Neighbours", "disputes", public=False),
    Category("land", "土地山林纠纷", "Land and boundaries", "disputes", public=False),
    Category("family", "婚姻家庭纠纷", "Marriage and family", "disputes", public=False),
    Category("labour", "劳动争议", "Labour and wages", "disputes", public=False),
    Category("property_management", "物业纠纷", "Property management", "disputes", public=False),
    Category("debt", "借贷纠纷", "Debts and loans", "disputes", public=False),
    Category("other", "其他", "Other", "disputes", public=False),
)
"""The kinds of dispute mediators register (矛盾纠纷): named on the pages, never Open311 services."""
BY_CODE = {c.code: c for c in CATEGORIES}
PUBLIC_CODES = frozenset(c.code for c in CATEGORIES if c.public)
"""Categories Open311 shows anonymous readers; a code not in the catalogue is not public either."""

