"""Names for the simulated district's units: the seed's real names where it gives them, else
Chinese names drawn deterministically (the same for every simulation seed, like the tree).

Every name is written "<中文> <other>", the Chinese first, with no space in it, then the same
unit for a reader without Chinese: a place (town, community, village, hamlet) in pinyin alone, as
the seed's towns are ("蒲庙镇 Pumiao"); a body of a place (grid, council, group, branch, park
committee) as the place's pinyin and the body's kind in English; an enterprise translated.

The syllables of village and hamlet names are those common in the place names of Yongning
(那 "paddy field" and 板 "village" come from Zhuang); the enterprises' brands and trades are
ordinary for a high-tech zone. None of the generated names is meant to be a real place or firm.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

# (character, pinyin) pairs. First syllables of village and hamlet names, then second ones.
FIRST = [("那", "Na"), ("板", "Ban"), ("百", "Bai"), ("六", "Liu"), ("坛", "Tan"), ("良", "Liang"), ("伶", "Ling"),
         ("思", "Si"), ("平", "Ping"), ("新", "Xin"), ("东", "Dong"), ("西", "Xi"), ("上", "Shang"), ("下", "Xia"),
         ("长", "Chang"), ("大", "Da"), ("石", "Shi"), ("江", "Jiang"), ("坡", "Po"), ("塘", "Tang"), ("马", "Ma"),
         ("三", "San"), ("岜", "Ba"), ("渌", "Lu"), ("笔", "Bi"), ("团", "Tuan"), ("高", "Gao"), ("雷", "Lei")]
SECOND = [("桐", "tong"), ("沙", "sha"), ("陈", "chen"), ("蒙", "meng"), ("莲", "lian"), ("洪", "hong"), ("岸", "an"),
          ("和", "he"), ("兴", "xing"), ("华", "hua"), ("宁", "ning"), ("岭", "ling"), ("坝", "ba"), ("垌", "dong"),
          ("湾", "wan"), ("头", "tou"), ("林", "lin"), ("河", "he"), ("塘", "tang"), ("丰", "feng"),
          ("榄", "lan"), ("楼", "lou"), ("良", "liang"), ("圩", "xu"), ("坪", "ping"), ("江", "jiang"), ("埠", "bu")]
# Residential compounds: two-character estate names, as developers name them.
ESTATES = [("金湾", "Jinwan"), ("翠苑", "Cuiyuan"), ("阳光", "Yangguang"), ("锦园", "Jinyuan"), ("邕江", "Yongjiang"),
           ("桂花", "Guihua"), ("水岸", "Shui'an"), ("蓝湾", "Lanwan"), ("凤凰", "Fenghuang"), ("荔园", "Liyuan"),
           ("明珠", "Mingzhu"), ("龙城", "Longcheng"), ("幸福", "Xingfu"), ("绿城", "Lücheng"), ("东方", "Dongfang"),
           ("华庭", "Huating"), ("盛世", "Shengshi"), ("和美", "Hemei")]
BRANDS = [("华锐", "Huarui"), ("博宇", "Boyu"), ("中科", "Zhongke"), ("瑞康", "Ruikang"), ("恒通", "Hengtong"),
          ("智联", "Zhilian"), ("金桂", "Jingui"), ("绿源", "Lüyuan"), ("鼎信", "Dingxin"), ("泰和", "Taihe"),
          ("汇丰", "Huifeng"), ("东盟", "Dongmeng"), ("星辰", "Xingchen"), ("宏图", "Hongtu"), ("嘉禾", "Jiahe"),
          ("正远", "Zhengyuan"), ("昌达", "Changda"), ("海纳", "Haina"), ("天润", "Tianrun"), ("广联", "Guanglian"),
          ("科达", "Keda"), ("远航", "Yuanhang"), ("晟源", "Shengyuan"), ("桂信", "Guixin"), ("华邦", "Huabang"),
          ("朗润", "Langrun"), ("云帆", "Yunfan"), ("佳和", "Jiahe"), ("北斗", "Beidou"), ("万联", "Wanlian")]
TRADES = [("电子科技", "Electronic Technology"), ("软件", "Software"), ("生物医药", "Biopharmaceutical"),
          ("物流", "Logistics"), ("新材料", "New Materials"), ("电子商务", "E-commerce"), ("机械制造", "Machinery"),
          ("食品", "Food"), ("信息技术", "Information Technology"), ("智能装备", "Intelligent Equipment"),
          ("环保科技", "Environmental Technology"), ("供应链管理", "Supply Chain Management"),
          ("医疗器械", "Medical Devices"), ("建材", "Building Materials"), ("检测技术", "Testing Technology")]

SEED_ENTERPRISE = "捷佳润公司 Jiejiarun Company"
"""The one enterprise the seed names (its party branch runs a "Torch Vanguard+" sub-brand)."""
SEED_COMPOUNDS = [("南蒲纸业小区", "Nanpu Paper compound"), ("大唐世家小区", "Datang Shijia compound")]
"""The compounds the seed names: the bankrupt paper mill's housing, and the one whose deliberation
group settled its parking (the article's photograph)."""
CN_DIGITS = "〇一二三四五六七八九十"


def chinese_number(n: int) -> str:
    """1..99 as written in a unit's name (第十二网格)."""
    tens, ones = divmod(n, 10)
    if not tens:
        return CN_DIGITS[ones]
    return (CN_DIGITS[tens] if tens > 1 else "") + "十" + (CN_DIGITS[ones] if ones else "")


def name(zh: str, other: str) -> str:
    return f"{zh} {other}"


def zh_part(full: str) -> str:
    return full.split(" ", 1)[0]


def other_part(full: str) -> str:
    return full.split(" ", 1)[1] if " " in full else full


class PlaceNames:
    """Two-syllable place names, each drawn once: no two villages, and no two hamlets of the
    whole district, share a name."""

    def __init__(self, key: str, taken: set[str] | None = None):
        self.rng = random.Random(f"civic-names:{key}")
        self.taken = set() if taken is None else taken

    def draw(self) -> tuple[str, str]:
        while True:
            (a, pa), (b, pb) = self.rng.choice(FIRST), self.rng.choice(SECOND)
            if a != b and a + b not in self.taken:
                self.taken.add(a + b)
                return a + b, pa + ("'" if pb[0] in "aoe" else "") + pb  # pinyin's apostrophe: Ban'an

    def village(self) -> tuple[str, str]:
        zh, py = self.draw()
        return zh + "村", py


def grid(unit_full: str, n: int) -> str:
    return name(f"{zh_part(unit_full)}第{chinese_number(n)}网格", f"{other_part(unit_full)} grid {n}")


def estates(key: str) -> Iterator[tuple[str, str]]:
    """Compound names: the seed's two first, then estates drawn without repeating."""
    yield from SEED_COMPOUNDS
    pool = ESTATES[:]
    random.Random(f"civic-names:{key}").shuffle(pool)
    for zh, py in pool:
        yield zh + "小区", f"{py} compound"
    for i, (zh, py) in enumerate(ESTATES):  # more compounds than estates: phases of one estate
        yield f"{zh}二期小区", f"{py} phase 2 compound"


def enterprises(key: str, count: int) -> list[str]:
    """`count` distinct company names, the seed's own first."""
    rng = random.Random(f"civic-names:{key}")
    out, seen = [SEED_ENTERPRISE], {SEED_ENTERPRISE}
    while len(out) < count:
        (brand, b_en), (trade, t_en) = rng.choice(BRANDS), rng.choice(TRADES)
        full = name(f"广西{brand}{trade}有限公司", f"Guangxi {b_en} {t_en} Co., Ltd.")
        if full in seen:
            full = name(f"南宁{brand}{trade}有限公司", f"Nanning {b_en} {t_en} Co., Ltd.")
        if full not in seen:
            seen.add(full)
            out.append(full)
    return out
