"""Applicants (申请人): validation of names, identity documents and phone numbers.

Resident identity numbers follow GB 11643-1999: 17 digits (6 region, 8 birth date, 3
sequence) and a check character computed with ISO 7064 MOD 11-2. Organisations are
identified by their unified social credit code (GB 32100-2015).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from protocol.catalogue import credit_code_ok

from ..errors import ValidationError

ID_TYPES = {
    "resident_id": "居民身份证", "passport": "护照", "hk_macao_permit": "港澳居民来往内地通行证",
    "taiwan_permit": "台湾居民来往大陆通行证", "foreign_permanent": "外国人永久居留身份证",
    "uscc": "统一社会信用代码", "other": "其他证件",
}
KINDS = {"person": "自然人", "organisation": "法人或其他组织"}

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_RESIDENT_RE = re.compile(r"^[1-9][0-9]{16}[0-9X]$")      # ASCII digits: \d takes "١" too
_MOBILE_RE = re.compile(r"^1[3-9][0-9]{9}$")
_LANDLINE_RE = re.compile(r"^0[0-9]{2,3}-?[0-9]{7,8}(-[0-9]{1,6})?$")
_DOC_RE = re.compile(r"^[A-Za-z0-9()（）\-]{4,40}$")


def resident_id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS))
    return _CHECK[total % 11]


def resident_id_ok(id_no: str) -> bool:
    """True for an 18-character resident ID number with a valid birth date and check char."""
    if not isinstance(id_no, str):
        return False
    id_no = id_no.strip().upper()
    if not _RESIDENT_RE.match(id_no):
        return False
    try:
        born = date(int(id_no[6:10]), int(id_no[10:12]), int(id_no[12:14]))
    except ValueError:
        return False
    if born.year < 1890:
        return False
    return resident_id_check_char(id_no[:17]) == id_no[17]


def _text(value, field: str, label: str, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "required", f"请填写{label}")
    text = unicodedata.normalize("NFC", " ".join(value.split()))
    if len(text) > max_len:
        raise ValidationError(field, "max_length", f"{label}不能超过 {max_len} 个字")
    return text


def validate_applicant(raw: dict) -> dict:
    """Return the applicant normalised for the ``case.received`` event, or raise
    :class:`ValidationError` naming the field (``applicant.id_no`` ...)."""
    if not isinstance(raw, dict):
        raise ValidationError("applicant", "required", "请填写申请人信息")
    kind = raw.get("kind") or "person"
    if kind not in KINDS:
        raise ValidationError("applicant.kind", "choice", "申请人类型须为自然人或法人/其他组织")
    name = _text(raw.get("name"), "applicant.name", "申请人姓名或名称", 100)
    default_type = "resident_id" if kind == "person" else "uscc"
    id_type = raw.get("id_type") or default_type
    if id_type not in ID_TYPES:
        raise ValidationError("applicant.id_type", "choice", "证件类型不正确")
    id_no = _text(raw.get("id_no"), "applicant.id_no", "证件号码", 40).replace(" ", "").upper()
    if id_type == "resident_id":
        if not resident_id_ok(id_no):
            raise ValidationError("applicant.id_no", "gb11643",
                                  "居民身份证号码不正确（应为 18 位，出生日期和校验位须正确）")
    elif id_type == "uscc":
        if not credit_code_ok(id_no):
            raise ValidationError("applicant.id_no", "gb32100",
                                  "统一社会信用代码不正确（应为 18 位，校验位须正确）")
    elif not _DOC_RE.match(id_no):
        raise ValidationError("applicant.id_no", "format", "证件号码格式不正确")
    out = {"kind": kind, "name": name, "id_type": id_type, "id_no": id_no}
    phone = raw.get("phone")
    if phone not in (None, ""):
        phone = str(phone).strip().replace(" ", "")
        if not (_MOBILE_RE.match(phone) or _LANDLINE_RE.match(phone)):
            raise ValidationError("applicant.phone", "format",
                                  "联系电话格式不正确（手机 11 位，或区号-座机号）")
        out["phone"] = phone
    return out
