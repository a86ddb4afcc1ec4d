"""Rendering helpers: display math isolation, heading demotion, the claims table with controls,
escaped front matter, capped notebook output and the annotated implementation."""
from pathlib import Path

from paperclub.fragments import claims_table, demote_headings, isolate_display_math, plain, text
from paperclub.papers import Paper, format_value
from paperclub.render import annotate


def test_display_math_glued_to_a_paragraph_gets_blank_lines():
    src = "optimise\n$$x = 1 \\tag{2}$$\nafter\n\n$$\na\n$$\n```\n$$ not math\n```"
    out = isolate_display_math(src)
    assert "optimise\n\n$$x = 1 \\tag{2}$$\n\nafter" in out
    assert "\n\n$$\na\n$$\n\n```\n$$ not math\n```" in out


def test_demote_headings_skips_code():
    md = "# Title\n```python\n# comment\n```\n## Sub"
    assert demote_headings(md, 2) == "### Title\n```python\n# comment\n```\n#### Sub"


def paper(claims):
    return Paper(title="t", authors=["a"], year=2020, venue="v", links={"paper": "https://example.org"}, tldr="t",
                 claims=claims, slug="t", path=Path("t"))


def test_claims_table_shows_controls_failures_vacuity_and_missing_values():
    p = paper([{"text": "a | b", "paper": "Fig. 1", "metric": "acc", "expect": ">= 0.9", "fmt": ".1%",
                "control": "acc_untrained", "control_label": "untrained"},
               {"text": "c", "paper": "Fig. 2", "metric": "gone", "expect": "< 1"},
               {"text": "d", "paper": "Fig. 3", "metric": "loss", "expect": "< 1", "control": "loss_naive"}])
    metrics = {"acc": 0.95, "acc_untrained": 0.1, "loss": 0.5, "loss_naive": 0.7}
    table = claims_table(p, p.verdicts(metrics))
    assert "a \\| b" in table and "95.0%" in table and "10.0%" in table and "untrained" in table
    assert table.count("✔&nbsp;holds") == 1 and "not&nbsp;recorded" in table and "vacuous" in table
    v = p.verdicts(metrics)
    assert v[0].ok and v[1].missing == ["gone"] and v[2].vacuous and not v[2].ok
    assert "is vacuous: its control 'loss_naive' passes too" in v[2].problem()
    assert format_value(True) == "yes" and format_value(3, ".2f") == "3.00" and format_value(3.0, "d") == "3"


def test_front_matter_text_cannot_become_markup():
    assert text("<svg onload=alert(2)>") == "&lt;svg onload=alert(2)&gt;"
    assert text("n<k and k>2") == "n&lt;k and k&gt;2"
    assert text("[x](javascript:alert(1))") == "&#91;x&#93;(javascript:alert(1))"
    assert "<" not in plain("<b>bold</b>") and ">" not in plain("<b>bold</b>")


def test_annotate_sets_comments_and_docstrings_beside_their_code_once():
    src = ('"""Doc: the model.\n\nWith maths $x^2$."""\nimport math\n\n# ----------------\n# 1. The model (Sec. 2)\n'
           '# ----------------\n\n# why this exists:\n#\n# - eq. (1)\ndef f(x):\n    """Square it: eq. (1).\n\n    Second '
           'paragraph."""\n    # the product, not pow\n    return x * x  # inline stays\n\nclass G:\n    """A class."""\n'
           '    s = "# not a comment"\n')
    chunks = annotate(src)
    kinds = [(c.kind, c.title) for c in chunks]
    assert kinds == [("note", ""), ("section", "1. The model (Sec. 2)"), ("note", "def f"), ("note", ""),
                     ("note", "class G")]
    # the module docstring is prose, not code; a docstring is prose once, whole, after its comments
    assert chunks[0].prose == "Doc: the model.\n\nWith maths $x^2$." and chunks[0].code == "import math"
    assert chunks[2].prose == "why this exists:\n\n- eq. (1)\n\nSquare it: eq. (1).\n\nSecond paragraph."
    assert chunks[2].code == "def f(x):"
    assert chunks[3].prose == "the product, not pow" and chunks[3].code == "    return x * x  # inline stays"
    assert chunks[4].code == 'class G:\n    s = "# not a comment"'
    joined = "\n".join(c.code for c in chunks)
    assert '"""' not in joined and "Square it" not in joined and "why this exists" not in joined


def test_implementation_page_renders_notes_beside_code(tmp_path):
    import markdown

    from paperclub.layout import Project
    from paperclub.render import implementation_page

    root = tmp_path / "proj"
    (root / "minimal_impls").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / "minimal_impls" / "toy.py").write_text(
        '"""Toy: the *model*, <script>x</script>."""\n\n# eq. (2): \\(a^2\\)\ndef f(a):\n    """Once."""\n    return a * a\n')
    (root / "notebooks" / "toy.py").write_text("from minimal_impls.toy import f\n")
    md, _ = implementation_page(paper([]).model_copy(update={"slug": "toy"}), Project(root))
    body = md.split("---\n", 2)[2]
    html = markdown.markdown(body, extensions=["md_in_html", "fenced_code", "attr_list", "pymdownx.arithmatex"],
                             extension_configs={"pymdownx.arithmatex": {"generic": True}})
    assert html.count("Once.") == 1 and "<em>model</em>" in html and "<script>" not in html
    assert '<span class="arithmatex">\\(a^2\\)</span>' in html and 'class="pc-impl-row" id="impl-toy-f"' in html
    assert '"""' not in html


def test_pipes_in_claim_fields_keep_the_table_whole():
    import markdown

    p = paper([{"text": "a | b", "paper": "Fig | 1", "metric": "acc", "expect": ">= 0.9", "control": "c",
                "control_label": "x | y"}])
    html = markdown.markdown(claims_table(p, p.verdicts({"acc": 1.0, "c": 0.1})), extensions=["tables"])
    assert html.count("<td") == 5 and "x | y" in html


def test_references_literals_and_the_lint():
    from paperclub.bind import literal_numbers, render_refs

    metrics = {"acc": 0.9602, "ppl": 29.35, "speedup": 120.4, "modes": 8}
    text = ("We reach 96.0 % (typed), {{ acc:.1% }} (bound); perplexity 29.35; 120× faster.\n"
            "The paper reports {{! 96.0 % }} on its own data; $k = 29.35$ is a setting; 8 modes; `0.96`.")
    found = [(line, lit, name) for line, lit, name in literal_numbers(text, metrics)]
    assert found == [(1, "96.0 %", "acc"), (1, "29.35", "ppl"), (1, "120×", "speedup")]
    out = render_refs(text, metrics, "papers/x.md")
    assert "96.0% (bound)" in out and "The paper reports 96.0 % on" in out and "{{" not in out


def test_shrink_png_is_cached_by_content(tmp_path):
    import io

    from PIL import Image

    from paperclub.render import shrink_png

    im = Image.new("RGB", (64, 32), "white")
    im.putpixel((3, 3), (200, 10, 10))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    first = shrink_png(buf.getvalue(), tmp_path)
    assert len(list(tmp_path.glob("*.png"))) == 1
    assert shrink_png(buf.getvalue(), tmp_path) == first == shrink_png(buf.getvalue())
