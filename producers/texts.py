"""What simulated residents, grid workers and councils write: by category, in the seed's words."""

from __future__ import annotations

# category -> (weight among residents' tickets, deadline hours, typical hours to resolve,
#              [(title, resolution), ...])
TICKETS: dict[str, tuple[int, int, float, list[tuple[str, str]]]] = {
    "epidemic_control": (10, 24, 6, [
        ("独居老人需要代购生活物资 elderly resident living alone needs supplies",
         "党员志愿者一对一保供 a party volunteer delivers, one to one"),
        ("小区出入口无人值守 compound gate unattended", "临时党支部安排24小时值守 temporary branch set 24-hour gate duty"),
        ("需要核酸检测上门服务 home testing needed", "社区医生上门 community doctor visited"),
    ]),
    "civilised_city": (12, 72, 30, [
        ("楼道堆放杂物 stairwell cluttered", "组织清理楼道 stairwell cleared with residents"),
        ("小广告乱贴 flyers pasted everywhere", "清理并设置公告栏 cleaned, notice board installed"),
        ("宣传栏破损 notice board broken", "更换宣传栏 notice board replaced"),
    ]),
    "compound_management": (16, 72, 36, [
        ("老旧小区水管漏水 old compound water pipe leaking", "党支部协调维修 the compound branch arranged the repair"),
        ("无物业小区垃圾无人清运 no property company, rubbish not collected", "红色物业服务队清运 red property team cleared it"),
        ("单元门禁损坏 entrance door lock broken", "更换门禁 lock replaced"),
    ]),
    "parking": (12, 48, 20, [
        ("电动车堵住消防通道 e-bikes block the fire lane", "划定停车区并张贴告示 bays marked, notice posted"),
        ("小区乱停车 cars parked all over the compound", "党群议事后规划车位 spaces planned after deliberation"),
        ("充电桩不足 too few charging points", "加装充电桩 charging points added"),
    ]),
    "environment": (14, 72, 24, [
        ("垃圾点异味 smell from the rubbish point", "增加清运频次 collection made more frequent"),
        ("污水外溢 sewage overflowing", "疏通管道 drains cleared"),
        ("河道漂浮垃圾 rubbish floating in the stream", "组织清漂 stream cleaned"),
    ]),
    "roads_and_lights": (12, 120, 48, [
        ("路灯不亮 street light out", "更换灯具 lamp replaced"),
        ("屯内道路坑洼 potholes on the hamlet road", "修补路面 road patched"),
        ("桥栏杆松动 bridge railing loose", "加固栏杆 railing fixed"),
    ]),
    "collective_economy": (6, 168, 96, [
        ("村集体果园缺少销路 village orchard needs buyers", "对接电商联盟 linked to the e-commerce alliance"),
        ("合作社需要技术指导 cooperative needs technical advice", "安排农技员指导 agronomist visited"),
    ]),
    "elderly_care": (8, 48, 16, [
        ("独居老人家中无人照看 elderly resident alone at home", "网格员定期探访 grid worker now visits weekly"),
        ("老人申请居家养老服务 request for home care", "已纳入居家养老服务 home care arranged"),
    ]),
    "public_safety": (5, 24, 8, [
        ("楼顶电线私拉乱接 illegal wiring on the roof", "拆除私拉电线 wiring removed"),
        ("消防栓缺水 fire hydrant dry", "供水部门修复 water company repaired it"),
    ]),
}
ENTERPRISE_PROBLEMS: list[tuple[str, str]] = [
    ("企业用工招聘困难 trouble hiring workers", "园区人才对接会 park job fair arranged"),
    ("融资需要银行对接 needs a bank loan", "银企对接会促成贷款 bank-enterprise matchmaking, loan granted"),
    ("厂区道路积水 water on the plant road", "园区协调排水 park fixed the drainage"),
    ("政策申报咨询 question on applying for a subsidy", "政策送上门 policy explained on site"),
]
ENTERPRISE_DEADLINE_HOURS, ENTERPRISE_RESOLVE_HOURS = 120, 60
RETURN_REASONS = ["不属于本网格 not this grid's area", "物业管辖 the property company's area", "需要职能部门处理 needs a department"]
REOPEN_REASONS = ["问题又出现了 the problem is back", "处理不彻底 not properly fixed"]
PROGRESS_NOTES = ["已现场查看 inspected on site", "已联系责任单位 responsible unit contacted", "材料已采购 materials ordered"]
COMMENTS = {"satisfied": ["谢谢 thank you", "处理及时 quick", ""], "basically_satisfied": ["还可以 OK", "有点慢 a bit slow"],
            "dissatisfied": ["没有解决 not solved", "态度不好 unhelpful"]}

DISPUTE_CATEGORIES = [("neighbours", "楼上漏水 water leaking from upstairs"), ("neighbours", "噪音扰民 noise at night"),
                      ("land", "宅基地边界 house plot boundary"), ("family", "赡养纠纷 support of elderly parents"),
                      ("labour", "拖欠工资 unpaid wages"), ("property_management", "物业费争议 property fee dispute"),
                      ("debt", "借款纠纷 unpaid loan")]
AGREEMENTS = ["双方达成和解 the parties reconciled", "费用各半 costs shared", "分期偿还 repaid in instalments",
              "重新划定边界 boundary redrawn"]

TOPICS = [("屯内道路硬化 paving the hamlet road", "每户出工两天 two workdays per household", "已完工 road paved"),
          ("安装太阳能路灯 solar street lights", "村集体出资加众筹 village fund plus crowdfunding", "已安装 lights installed"),
          ("垃圾分类收集点 sorting point for rubbish", "设三个分类点 three sorting points", "已投入使用 in use"),
          ("小区停车位规划 parking spaces in the compound", "划线加装道闸 bays painted, barrier added", "已实施 done"),
          ("发展村集体经济项目 a village economy project", "建设百香果基地 passion fruit plantation", "首季已收获 first harvest in"),
          ("文明新风积分 civility points scheme", "积分兑换日用品 points for household goods", "已运行 running")]

SURNAMES = "李王张刘陈杨黄赵吴周徐孙马朱胡郭何林罗梁韦覃蒙莫"
GIVEN = ["华", "芳", "伟", "丽", "强", "敏", "军", "静", "磊", "燕", "勇", "艳", "杰", "娟", "涛", "明", "霞", "平", "刚", "兰"]
