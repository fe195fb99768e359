"""The demo hospital's content: synthetic but valid data (ID numbers pass the GB 11643 checksum).

Everything here is invented. Phones use the 139 0000 xxxx range; ID numbers are built from a
real region code, a birth date and a sequence, with the check character computed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from stdnum.cn import ric

INSTITUTION_CODE = "DEMO-HOSP"
INSTITUTION_NAME = "示范市第一人民医院互联网医院"
REGISTERED_SUBJECTS = "03.01,03.02,03.03,03.04,03.07,04.04,07.01,13.01,50"

STAFF_PASSWORD = "Demo-Staff-2026!"  # noqa: S105 (published demo login)
PATIENT_PASSWORD = "Demo-Patient-2026"  # noqa: S105 (published demo login)


def id_number(region: str, birth: dt.date, seq: int, male: bool) -> str:
    """A checksum-valid 18-digit resident ID number (the 17th digit is odd for men)."""
    order = seq * 2 + (1 if male else 0)
    body = f"{region}{birth:%Y%m%d}{order % 1000:03d}"
    # stdnum expects the number with a (placeholder) check character appended.
    return body + ric.calc_check_digit(body + "0")


@dataclass(frozen=True)
class Campus:
    name: str
    address: str
    phone: str


@dataclass(frozen=True)
class Department:
    name: str
    subject_code: str
    subject_name: str
    campus: int
    introduction: str
    strengths: str


@dataclass(frozen=True)
class Staff:
    username: str
    display_name: str
    staff_no: str
    roles: tuple[str, ...]
    phone: str
    title: str | None = None
    department: str | None = None
    practice_since: int | None = None
    specialties: str = ""
    # Base32 TOTP secret pre-enrolled for the demo (printed so a demo user can add it to an app).
    totp_secret: str = ""


@dataclass(frozen=True)
class Person:
    name: str
    id_number: str
    phone: str
    relation: str = "self"


@dataclass(frozen=True)
class Patient:
    owner: Person
    family: tuple[Person, ...] = field(default_factory=tuple)


CAMPUSES = (
    Campus("本部院区", "示范市中山路 100 号", "010-88880000"),
    Campus("东院区", "示范市东湖大道 8 号", "010-88881111"),
)

DEPARTMENTS = (
    Department(
        "心血管内科",
        "03.04",
        "心血管内科专业",
        0,
        "高血压、冠心病、心力衰竭的长期随访管理。",
        "高血压规范化管理",
    ),
    Department(
        "内分泌科", "03.07", "内分泌专业", 0, "糖尿病、甲状腺疾病的复诊与用药调整。", "糖尿病综合管理"
    ),
    Department("呼吸内科", "03.01", "呼吸内科专业", 0, "哮喘、慢阻肺的稳定期随访。", "慢性气道疾病"),
    Department(
        "消化内科", "03.02", "消化内科专业", 1, "胃食管反流、慢性胃炎、慢性肝病随访。", "慢性肝病管理"
    ),
    Department("神经内科", "03.03", "神经内科专业", 0, "脑血管病二级预防、癫痫、头痛随访。", "卒中二级预防"),
    Department("泌尿外科", "04.04", "泌尿外科专业", 1, "前列腺增生、泌尿系结石术后随访。", "前列腺疾病"),
    Department("皮肤科", "13.01", "皮肤病专业", 1, "特应性皮炎、银屑病、痤疮的复诊。", "慢性皮肤病"),
    Department("中医科", "50", "中医科", 0, "慢性病中医调理与复诊。", "中西医结合"),
)

_TITLES = ("主任医师", "副主任医师", "主治医师", "住院医师")
_DOCTOR_NAMES = (
    "王建国",
    "李秀兰",
    "张伟",
    "刘洋",
    "陈静",
    "杨帆",
    "赵敏",
    "黄磊",
    "周婷",
    "吴强",
    "徐丽",
    "孙浩",
    "马超",
    "朱琳",
    "胡斌",
    "郭芳",
    "何军",
    "林娜",
    "罗鹏",
    "高翔",
)
_SPECIALTIES = {
    "心血管内科": "高血压；冠心病；心律失常",
    "内分泌科": "2型糖尿病；甲状腺功能异常",
    "呼吸内科": "支气管哮喘；慢阻肺",
    "消化内科": "胃食管反流病；慢性乙肝",
    "神经内科": "脑梗死二级预防；偏头痛",
    "泌尿外科": "前列腺增生；尿路结石",
    "皮肤科": "特应性皮炎；湿疹；银屑病",
    "中医科": "慢性病中医调理；失眠",
}


def _totp(n: int) -> str:
    # Deterministic 32-character base32 secrets for demo staff only (never in production).
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "".join(alphabet[(n * 7 + i * 11) % 32] for i in range(32))


def _doctors() -> tuple[Staff, ...]:
    doctors = []
    for i, name in enumerate(_DOCTOR_NAMES):
        dept = DEPARTMENTS[i % len(DEPARTMENTS)]
        title = _TITLES[i % len(_TITLES)] if i != 19 else "主治医师"
        doctors.append(
            Staff(
                username=f"doctor{i + 1:02d}",
                display_name=name,
                staff_no=f"D{1001 + i}",
                roles=("doctor",),
                phone=f"1390000{1001 + i:04d}",
                title=title,
                department=dept.name,
                practice_since=2000 + (i * 3) % 20,
                specialties=_SPECIALTIES[dept.name],
                totp_secret=_totp(i + 1),
            )
        )
    return tuple(doctors)


DOCTORS = _doctors()

PHARMACISTS = (
    Staff(
        "pharm01",
        "钱药师",
        "P2001",
        ("pharmacist",),
        "13900002001",
        "主任药师",
        None,
        2001,
        "处方审核",
        _totp(31),
    ),
    Staff(
        "pharm02",
        "冯药师",
        "P2002",
        ("pharmacist", "senior_pharmacist"),
        "13900002002",
        "主管药师",
        None,
        2012,
        "临床药学",
        _totp(32),
    ),
    Staff(
        "pharm03", "韩药师", "P2003", ("pharmacist",), "13900002003", "药师", None, 2019, "调剂", _totp(33)
    ),
)

OTHER_STAFF = (
    Staff("ops01", "运营小周", "O3001", ("operations",), "13900003001", totp_secret=_totp(41)),
    Staff("finance01", "财务老钱", "F3002", ("finance",), "13900003002", totp_secret=_totp(42)),
    Staff("quality01", "医务处孙主任", "Q3003", ("quality",), "13900003003", totp_secret=_totp(43)),
    Staff("it01", "信息科李工", "I3004", ("it_admin",), "13900003004", totp_secret=_totp(44)),
    Staff("security01", "安全管理员", "S3005", ("security_admin",), "13900003005", totp_secret=_totp(45)),
    Staff("auditor01", "审计员赵", "A3006", ("auditor",), "13900003006", totp_secret=_totp(46)),
    Staff(
        "formulary01", "药品目录维护员", "M3007", ("formulary_admin",), "13900003007", totp_secret=_totp(48)
    ),
    Staff("admin", "系统管理员", "X3000", ("super_admin",), "13900003000", totp_secret=_totp(47)),
)

ALL_STAFF = DOCTORS + PHARMACISTS + OTHER_STAFF

_D = dt.date
PATIENTS = (
    Patient(
        Person("张三", id_number("110105", _D(1968, 3, 12), 11, True), "13900100001"),
        (
            Person("李梅", id_number("110105", _D(1970, 8, 2), 12, False), "13900100011", "spouse"),
            Person("张小宝", id_number("110105", _D(2022, 5, 20), 13, True), "13900100001", "child"),
        ),
    ),
    Patient(
        Person("李四", id_number("310104", _D(1955, 11, 30), 21, True), "13900100002"),
        (Person("李老太", id_number("310104", _D(1932, 1, 15), 22, False), "13900100002", "parent"),),
    ),
    Patient(Person("王芳", id_number("110108", _D(1985, 6, 18), 31, False), "13900100003")),
    Patient(
        Person("赵磊", id_number("110102", _D(1979, 9, 9), 41, True), "13900100004"),
        (Person("赵一诺", id_number("110102", _D(2014, 2, 28), 42, False), "13900100004", "child"),),
    ),
    Patient(Person("孙丽", id_number("310101", _D(1990, 12, 1), 51, False), "13900100005")),
    Patient(Person("周强", id_number("310101", _D(1962, 4, 22), 61, True), "13900100006")),
    Patient(Person("吴敏", id_number("310104", _D(1975, 7, 7), 71, False), "13900100007")),
    Patient(Person("郑浩", id_number("110102", _D(1988, 10, 10), 81, True), "13900100008")),
    Patient(Person("冯雪", id_number("310104", _D(1993, 3, 3), 91, False), "13900100009")),
    Patient(Person("陈刚", id_number("110101", _D(1958, 8, 8), 101, True), "13900100010")),
)

# Identities the sandbox real-name authority knows besides the visitors above: people a tester
# may add as new family members (the browser test adds 王小明 with this ID).
EXTRA_IDENTITIES = (
    Person("王小明", id_number("110108", _D(2016, 6, 1), 201, True), "13900100021", "child"),
    Person("刘奶奶", id_number("110108", _D(1940, 2, 2), 202, False), "13900100022", "parent"),
    Person("测试甲", id_number("110101", _D(1990, 1, 1), 203, True), "13900100023", "other"),
    # Order code 9xx: the sandbox insurance platform knows nobody by this number (医保 binding refused).
    Person("测试乙", id_number("110101", _D(1991, 2, 2), 460, True), "13900100024", "other"),
)

# Visitors bound to 医保 by the demo (the sandbox platform's 1101 answer): 张三 职工 (310) and his
# son 张小宝 城乡居民 (390), so their drug orders show the 医保统筹 / 自付 split. The others are
# self-pay until they bind in the app.
INSURED_VISITORS = ("张三", "张小宝")


def all_identities() -> tuple[Person, ...]:
    """Every synthetic person the sandbox real-name authority should recognise."""
    people: list[Person] = []
    for patient in PATIENTS:
        people.append(patient.owner)
        people.extend(patient.family)
    people.extend(EXTRA_IDENTITIES)
    return tuple(people)


CONSENT_VERSION = "2026.1"
CONSENT_TITLE = "互联网诊疗服务知情同意书"
CONSENT_BODY = """尊敬的患者：

欢迎使用本院互联网医院服务。在使用前，请您仔细阅读并确认以下内容：

一、服务范围。互联网医院仅为在本院实体医院已确诊的常见病、慢性病患者提供复诊服务，不提供首诊服务。急危重症患者请立即前往线下急诊就医或拨打 120。
二、复诊核验。系统将依据您在本院的门诊、住院记录核验复诊资格；无法核验的，需上传既往病历资料并由医生确认。
三、实名就诊。您须使用本人或家庭成员的真实身份信息就诊，并对所提供信息的真实性负责。
四、诊疗局限。线上问诊无法进行体格检查，医生认为不适宜线上诊疗的，将终止问诊并建议您线下就诊，已支付费用原路退回。
五、处方与用药。电子处方由医生签名并经药师审核后生效，麻醉药品、精神药品等特殊管理药品不在线上开具。
六、隐私保护。您的个人信息和诊疗数据将加密保存，仅用于诊疗服务及法律法规要求的用途，所有访问均留有审计记录。
七、费用。挂号费、药品费等按公示价格收取，退款按原支付渠道退回。

本人已阅读并理解上述内容，自愿接受互联网诊疗服务。
"""

DISCLOSURE = {
    "doctor_lookup": (
        "医师执业信息查询",
        "可在国家卫生健康委员会“医生执业注册信息查询”平台核验本院医师执业信息；本院医师页面公示执业证书编码（部分隐藏）。",
    ),
    "approved_subjects": (
        "核准诊疗科目",
        "内科（呼吸内科、消化内科、神经内科、心血管内科、内分泌）、泌尿外科、儿科、皮肤科、中医科。",
    ),
    "services_process": (
        "服务内容与流程",
        "预约复诊 → 实名核验 → 支付挂号费 → 图文/电话/视频问诊 → 电子处方 → 药师审核 → 缴费 → 配送或到院自取。",
    ),
    "doctors_on_duty": (
        "出诊医师与服务方式",
        "提供图文、电话、视频三种问诊方式；每日出诊医师以排班页面为准。",
    ),
    "prices": (
        "收费标准",
        "图文问诊 20–60 元，电话问诊 30–80 元，视频问诊 30–100 元，按医师职称定价；药品按公示价格收费。",
    ),
    "complaints": (
        "投诉渠道",
        "投诉电话 010-88889999（工作日 8:00–17:30），投诉邮箱 ts@example-hospital.cn；首接负责，7 个工作日内答复。",
    ),
    "convenience": ("便民服务", "支持药品配送到家、到院窗口自取；老年患者可由家属代为操作。"),
    "booking_rules": (
        "预约规则",
        "可预约 7 日内号源；未支付订单 15 分钟后自动关闭；90 天内爽约 3 次将暂停预约 90 天。",
    ),
    "stop_notices": ("停诊公告", "暂无停诊公告。"),
}

# Service prices by title and mode, in fen (¥60.00 = 6000).
PRICES = {
    "主任医师": {"text": 6000, "phone": 8000, "video": 10000},
    "副主任医师": {"text": 4000, "phone": 6000, "video": 8000},
    "主治医师": {"text": 3000, "phone": 4000, "video": 5000},
    "住院医师": {"text": 2000, "phone": 3000, "video": 3000},
}
