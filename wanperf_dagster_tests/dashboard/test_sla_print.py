"""The month's SLA report to send: the printable page (each number linked to its site page),
`wanperf sla` on the terminal, its CSV and HTML, and the PDF headless Chromium prints, each
page rendered as an image and read back."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from wanperf_dagster.dashboard import build_app
from wanperf_dagster.settings import Settings

pytestmark = [pytest.mark.storage]

SETTINGS = Settings.from_env({"WANPERF_DASHBOARD_URL": "http://noc.example:8050"})


def _wanperf(redis_url, *args, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIST_", "WANPERF_"))}
    env.update(
        WANPERF_REDIS_URL=redis_url,
        WANPERF_DATA_DIR=str(tmp_path),
        WANPERF_DASHBOARD_URL="http://noc.example:8050",
    )
    wanperf = Path(sys.executable).parent / "wanperf"
    return subprocess.run(
        [str(wanperf), "sla", *args], env=env, capture_output=True, text=True, timeout=180
    )


def test_the_printable_page_links_each_circuit_to_its_site(org_day, sla_month):
    assets = org_day[0]
    _, worst = sla_month
    client = TestClient(build_app(SETTINGS, assets))
    page = client.get("/sla/print", params={"month": "2025-11"}).text
    assert "SLA report November 2025 · all providers" in page
    circuits = page.split('id="circuits"')[1].split("</table>")[0]
    first = circuits.split("<tr>")[2]  # the one that missed comes first
    assert worst["circuit_id"] in first and ">missed<" in first
    assert f'href="http://noc.example:8050/site/{worst["site_id"]}?from=2025-11-01' in first
    assert "still down at the month&#39;s end" in page
    one = client.get("/sla/print", params={"month": "2025-11", "provider": "Verizon"}).text
    assert worst["circuit_id"] not in one and "· Verizon" in one
    assert client.get("/sla/print", params={"month": "2025-10"}).status_code == 404
    assert 'id="print" href="/sla/print?month=2025-11"' in client.get("/sla?month=2025-11").text


def test_wanperf_sla_prints_the_providers_and_writes_csv_and_html(
    org_day, sla_month, redis_url, tmp_path
):
    report, worst = sla_month
    out = _wanperf(
        redis_url,
        "--month",
        "2025-11",
        "--csv",
        str(tmp_path / "sla.csv"),
        "--html",
        str(tmp_path / "sla.html"),
        tmp_path=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert f"SLA 2025-11: {len(report)} circuits" in out.stdout
    assert "<b>Lumen</b>" in out.stdout and "Verizon" in out.stdout
    lines = (tmp_path / "sla.csv").read_text().strip().splitlines()
    assert len(lines) == len(report) + 1
    assert worst["circuit_id"] in (tmp_path / "sla.html").read_text()
    wrong = _wanperf(redis_url, "--month", "2025-11", "--provider", "Nobody", tmp_path=tmp_path)
    assert wrong.returncode == 1 and "no provider 'Nobody'" in wrong.stderr
    assert "there are: " in wrong.stderr and "Traceback" not in wrong.stderr
    never = _wanperf(redis_url, "--month", "2025-10", tmp_path=tmp_path)
    assert never.returncode == 1 and "no SLA report for 2025-10 yet" in never.stderr
    bad = _wanperf(redis_url, "--month", "November", tmp_path=tmp_path)
    assert bad.returncode == 2 and "is not a month (YYYY-MM)" in bad.stderr


def test_the_pdf_prints_every_page_with_the_numbers(org_day, sla_month, redis_url, tmp_path):
    if not shutil.which("chromium"):
        pytest.skip("PDF test skipped: no Chromium on the PATH (.ci/run installs it)")
    import pypdfium2 as pdfium

    report, worst = sla_month
    pdf = tmp_path / "lumen.pdf"
    out = _wanperf(
        redis_url,
        "--month",
        "2025-11",
        "--provider",
        "<b>Lumen</b>",
        "--pdf",
        str(pdf),
        tmp_path=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    document = pdfium.PdfDocument(str(pdf))
    assert len(document) >= 1
    text = ""
    for page in document:
        image = page.render(scale=1).to_numpy()
        assert image.shape[0] > 500 and image.std() > 5  # drawn on, not a blank page
        text += page.get_textpage().get_text_range()
    assert "SLA report November 2025" in text and "<b>Lumen</b>" in text
    # a line broken at a hyphen: PDFium gives the hyphen as U+FFFE
    flat = re.sub(r"\s+", "", text.replace("\ufffe", "-"))
    assert worst["circuit_id"] in flat and "missed" in flat
    availability = report.set_index("circuit_id").loc[worst["circuit_id"], "availability_pct"]
    assert f"{availability:.4f}" in flat
