"""End to end: build the real site (all papers) into a temporary folder and check what a reader gets.

Marked slow; it runs in CI with the rest (``make test``). The executed-notebook cache is the
repository's ``build/cache`` (content-addressed, so reusing it is safe): after ``make site`` this test
only renders; on a clean clone it executes every notebook once.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from paperclub.audit import PAGE_BUDGET, audit_site, page_weights
from paperclub.papers import load_papers

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("site")]  # one worker builds the site once


def test_every_paper_page_and_deck(built_site):
    site, report = built_site
    papers = load_papers(ROOT / "papers")
    assert len(papers) == len(report.papers) >= 1
    home = (site / "index.html").read_text()
    for p in papers:
        page = (site / "papers" / p.slug / "index.html").read_text()
        assert "Claims, checked by the notebook" in page, p.slug
        assert page.count('class="pc-holds"') == len(p.claims), f"{p.slug}: a claim does not hold or is vacuous"
        left = re.search(r"\{\{!?\s*[A-Za-z_]\w*\s*(:[^{}]*)?\}\}", page)
        assert left is None, f"{p.slug}: an unrendered reference {left.group(0) if left else ''}"
        assert 'class="arithmatex"' in page, f"{p.slug}: no math on the page"
        assert re.search(r'<img[^>]+src="notebook_files/[^"]+\.(png|gif)"', page), f"{p.slug}: no notebook figure"
        assert f'href="papers/{p.slug}/index.html"' in home, f"home page does not link to {p.slug}"
        nb = json.loads((site / "papers" / p.slug / f"{p.slug}.ipynb").read_text())
        assert nb["nbformat"] == 4 and nb["cells"]
        deck = (site / "slides" / p.slug / "index.html").read_text()
        n_slides = deck.count("<section")
        assert 8 <= n_slides <= 20, f"{p.slug}: deck has {n_slides} slides"  # claims may take two slides
        assert '<aside class="notes">' in deck
    assert not report.failed_claims, report.failed_claims
    # the machine-readable claims table: every paper, every claim, with its control
    table = json.loads((site / "claims.json").read_text())
    assert sorted(table) == sorted(p.slug for p in papers)
    fields = {"metric", "text", "expect", "value", "holds", "control", "control_value", "vacuous", "seeds"}
    for p in papers:
        rows = table[p.slug]["claims"]
        assert [r["metric"] for r in rows] == [c.metric for c in p.claims]
        for r in rows:
            assert fields <= set(r), (p.slug, sorted(fields - set(r)))
            assert r["control"], f"{p.slug}: claim {r['metric']} has no control"
            assert r["holds"] and not r["vacuous"], (p.slug, r["metric"])
    # numbers bound to the run: no measured figure typed by hand into notes or decks
    assert not report.warnings, "\n".join(report.warnings)


def test_vae_page_has_claims_figures_and_math(built_site):
    site, report = built_site
    if "vae" not in report.results:
        pytest.skip("the VAE paper is not in this checkout")
    page = (site / "papers/vae/index.html").read_text()
    for metric in ("latent_knn_accuracy",):
        assert metric in page
    assert page.count("<img") >= 4
    assert "\\mathcal{L}" in page or "\\mathcal L" in page or "ELBO" in page


def test_site_audit_links_and_page_weight(built_site, tmp_path_factory):
    site, report = built_site
    assert audit_site(site) == []
    weights = page_weights(site)
    out = ROOT / "artifacts"
    out.mkdir(exist_ok=True)
    lines = ["| page | bytes loaded |", "| --- | ---: |"]
    lines += [f"| {k} | {v:,} |" for k, v in sorted(weights.items(), key=lambda kv: -kv[1])]
    (out / "page-weight.md").write_text("\n".join(lines) + "\n")
    heavy = {k: v for k, v in weights.items() if v > PAGE_BUDGET}
    assert not heavy, f"pages over the {PAGE_BUDGET:,}-byte budget: {heavy}"


def test_calendar_is_valid(built_site):
    from icalendar import Calendar

    site, report = built_site
    cal = Calendar.from_ical((site / "sessions.ics").read_bytes())
    dated = [p for p in report.papers if p.session.date]
    assert len(list(cal.walk("VEVENT"))) == len(dated)
    assert (site / "schedule.html").exists()
