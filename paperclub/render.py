"""Stage 3: render papers and executed notebooks into plain Markdown for the site engine.

Every function here is pure: it returns Markdown (and, for a paper page, the list of files the page needs
copied beside it); :mod:`paperclub.build` writes them into the staging docs tree laid out by
:class:`paperclub.layout.SiteMap`. Nothing depends on plugin internals, so the same tree builds with
MkDocs + Material or Zensical.
"""
from __future__ import annotations

import ast
import base64
import datetime as dt
import html
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from paperclub import fragments as frag
from paperclub import sanitize, standalone
from paperclub.bind import render_refs
from paperclub.execute import NotebookResult, dependencies, read_text
from paperclub.layout import Project, SiteMap, module_name
from paperclub.papers import Paper, split_sections

# the page's sections, in order: notes sections by heading, generated blocks by @name;
# "@notes" stands for every notes section not named elsewhere, in file order
PAGE_ORDER = ("@header", "@tldr", "Key ideas", "@claims", "@notes", "@notebook", "@implementation",
              "Discussion questions", "Exercises", "@run", "@cite", "References")
NAMED = {s for s in PAGE_ORDER if not s.startswith("@")}
OUTPUT_CAP_CHARS = 4000   # a cell's text output beyond this is cut on the page (the download keeps it all)
OUTPUT_CAP_LINES = 60


@dataclass
class PageFiles:
    """A rendered page: its Markdown plus what must sit beside it in the docs tree."""
    markdown: str
    copies: list[tuple[Path, str]] = field(default_factory=list)   # (source file, docs-tree path)
    blobs: dict[str, bytes] = field(default_factory=dict)           # docs-tree path -> bytes


def notes(paper: Paper, metrics: dict) -> dict[str, str]:
    """The paper's notes sections with math isolated and ``{{ metric }}`` references rendered."""
    where = paper.label
    body = sanitize.notes_markdown(render_refs(paper.body, metrics, where))   # raw HTML: allowlist only
    return {k: frag.isolate_display_math(v) for k, v in split_sections(body).items()}


# --------------------------------------------------------------------------- the executed notebook

def _cap(value: str) -> str:
    lines = value.splitlines()
    if len(value) <= OUTPUT_CAP_CHARS and len(lines) <= OUTPUT_CAP_LINES:
        return value
    kept = "\n".join(lines[:OUTPUT_CAP_LINES])[:OUTPUT_CAP_CHARS]
    return (kept + f"\n… [output cut on this page: {len(value):,} characters, {len(lines):,} lines in all; "
                   "the downloaded notebook has it whole]\n")


def _text_outputs_as_html(nb) -> None:
    """Text outputs become capped, escaped ``<pre>`` blocks kept out of the search index.

    A chatty cell can no longer blow up the page or the search index that every page loads.
    """
    import nbformat

    for cell in nb.cells:
        outs = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if out.get("output_type") == "stream":
                text = out.get("text", "")
            elif out.get("output_type") in ("execute_result", "display_data") and set(data) <= {"text/plain"}:
                text = data.get("text/plain", "")
                if re.fullmatch(r"\s*<(Figure|matplotlib\.)[^>]*>\s*", text):
                    continue  # the repr of a figure that is shown anyway
            else:
                outs.append(out)
                continue
            if outs and outs[-1].get("metadata", {}).get("pc_text") is not None:  # merge consecutive streams
                text = outs[-1]["metadata"]["pc_text"] + text
                outs.pop()
            html_out = nbformat.v4.new_output("display_data", data={
                "text/html": f'<pre class="pc-output" data-search-exclude>{html.escape(_cap(text))}</pre>'})
            html_out["metadata"] = {"pc_text": text}
            outs.append(html_out)
        if "outputs" in cell:
            cell["outputs"] = outs


def _alt_texts(nb) -> dict[int, str]:
    """Alt text per code cell: the first sentence of the Markdown cell before it."""
    alts, last = {}, ""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            plain = re.sub(r"[#*_`$\\]|\[([^\]]*)\]\([^)]*\)", r"\1", cell.source).strip()
            last = re.split(r"(?<=[.!?])\s|\n\n", plain, maxsplit=1)[0].strip()[:140]
        else:
            alts[i] = last
    return alts


def notebook_markdown(executed: Path, slug: str, png_cache: Path | None = None) -> tuple[str, dict[str, bytes]]:
    """The executed notebook as Markdown, and its figures (``notebook_files/<name>`` -> bytes).

    nbconvert is the slowest part of rendering a page, so the result is kept beside the PNG cache, keyed
    by the executed notebook and this module's source: a rebuild that changed only the notes reuses it."""
    if png_cache is None:
        return _notebook_markdown(executed, slug, None)
    import hashlib

    key = hashlib.sha256(executed.read_bytes() + slug.encode() + Path(__file__).read_bytes()
                         + Path(frag.__file__).read_bytes()).hexdigest()
    memo = png_cache.parent / "render-cache" / f"{key}.json"
    try:   # plain JSON (never pickle): a damaged or planted file is just a miss
        data = json.loads(memo.read_text(encoding="utf-8"))
        return data["body"], {str(k): base64.b64decode(v) for k, v in data["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    body, files = _notebook_markdown(executed, slug, png_cache)
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_name(f".{memo.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"body": body, "files": {k: base64.b64encode(v).decode() for k, v in files.items()}}),
                   encoding="utf-8")
    tmp.replace(memo)
    return body, files


def _notebook_markdown(executed: Path, slug: str, png_cache: Path | None = None) -> tuple[str, dict[str, bytes]]:
    import nbformat
    from nbconvert import MarkdownExporter

    nb = nbformat.read(executed, as_version=4)
    # the self-contained notebook's set-up cells (writing the implementation and runtime) are not the story
    nb.cells = [c for c in nb.cells if not str(c.get("id", "")).startswith("pc-")]
    _text_outputs_as_html(nb)
    alts = _alt_texts(nb)
    files: dict[str, bytes] = {}
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/gif" in data:  # animations: keep them as files the page links to
                name = f"notebook_files/animation_{i + 1}.gif"
                files[name] = base64.b64decode(data["image/gif"])
                alt = alts.get(i) or f"Animation from cell {i + 1}"
                out["data"] = {"text/markdown": f"![{frag.attr(alt)}]({name})"}
    body, resources = MarkdownExporter().from_notebook_node(nb, resources={"output_files_dir": "notebook_files"})
    for name, blob in resources.get("outputs", {}).items():
        files[name] = shrink_png(blob, png_cache) if name.endswith(".png") else blob

    def alt(m: re.Match) -> str:
        cell_no = int(m.group(2))
        text = alts.get(cell_no) or f"Figure from cell {cell_no + 1} of the notebook"
        return f"![{frag.attr(text).replace('[', '(').replace(']', ')')}]({m.group(0).split('](')[1]}"
    body = re.sub(r"!\[(png|jpeg|svg)\]\(notebook_files/output_(\d+)_\d+\.\w+\)", alt, body)
    body = frag.demote_headings(body, 2)
    # code cells and outputs stay out of the search index (it is loaded by every page); prose stays in
    body = re.sub(r"(?ms)^```python\n.*?^```$",
                  lambda m: f'<div class="pc-code" markdown data-search-exclude>\n\n{m.group(0)}\n\n</div>', body)
    body = re.sub(r"\n {4}<Figure size [^>]*>\n", "\n", body)
    body = re.sub(r"\n{3,}", "\n\n", body)
    return body, files


PLOT_COLOURS = 8192   # a figure with fewer distinct colours is a plot (lines, fills, their anti-aliasing)
SHRINK_VERSION = b"2: opaque RGBA as RGB\0"   # part of the PNG cache's key: change it when shrink_png changes


def shrink_png(blob: bytes, cache: Path | None = None) -> bytes:
    """Store a plot as a 256-colour palette PNG without dithering (about 2.5× smaller, and the only
    colours merged are anti-aliasing blends); a photo-like figure stays true colour, never speckled.

    ``cache``: a folder of results by content hash, so a rebuild with nothing changed re-encodes nothing.
    """
    if cache is not None:
        import hashlib

        hit = cache / (hashlib.sha256(SHRINK_VERSION + blob).hexdigest() + ".png")
        if hit.exists():
            return hit.read_bytes()
        out = shrink_png(blob)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = hit.with_suffix(".tmp")
        tmp.write_bytes(out)
        tmp.replace(hit)
        return out
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(blob))
        im.load()
    except OSError:
        return blob
    if im.mode == "P":
        return blob
    rgb = im.convert("RGBA" if "A" in im.mode else "RGB")
    if rgb.mode == "RGBA" and rgb.getchannel("A").getextrema() == (255, 255):
        rgb = rgb.convert("RGB")       # matplotlib writes an alpha channel even when nothing is transparent
    if rgb.getcolors(PLOT_COLOURS) is None:
        # a photo-like figure stays true colour, losslessly: without an unused alpha channel it is ~10 % smaller
        buf = io.BytesIO()
        rgb.save(buf, format="PNG", optimize=True)
        return buf.getvalue() if buf.tell() < len(blob) else blob
    exact = rgb.getcolors(256) is not None
    method = Image.Quantize.FASTOCTREE if (exact or rgb.mode == "RGBA") else Image.Quantize.MEDIANCUT
    pal = rgb.quantize(colors=256, method=method, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    pal.save(buf, format="PNG", optimize=True)
    return buf.getvalue() if buf.tell() < len(blob) else blob


# --------------------------------------------------------------------------- the implementation, annotated

@dataclass(frozen=True)
class Chunk:
    kind: str        # "section" (a banner comment) or "note" (prose beside the code it explains)
    title: str       # a section's title; for a note that opens a top-level def or class, "def f" / "class C"
    prose: str       # Markdown: a comment block or a docstring, its "#" and indentation removed
    code: str        # the code the prose explains, without the docstring (shown once, as prose)
    line: int        # first source line of the chunk


def _anchor(name: str) -> str:
    return "impl-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


_BANNER_RULE = re.compile(r"^\s*#\s*[-=]{10,}\s*$")
_BANNER_TITLE = re.compile(r"^\s*#\s*(\d+\.|[A-Z][^-=]{3,})")


def _docstrings(tree: ast.Module) -> dict[int, tuple[int, int, str, int]]:
    """Docstrings by first line: (last line, first line of the owner's header, text, owner depth).
    The module's has header line 0; a def's or class's header starts at its first decorator."""
    out: dict[int, tuple[int, int, str, int]] = {}

    def visit(node: ast.AST, depth: int) -> None:
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            doc = body[0]
            head = 0 if isinstance(node, ast.Module) else \
                min([node.lineno] + [d.lineno for d in node.decorator_list])  # type: ignore[attr-defined]
            out[doc.lineno] = (doc.end_lineno or doc.lineno, head, ast.get_docstring(node) or "", depth)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, depth + 1)
    visit(tree, 0)
    return out


def _comment_lines(source: str) -> dict[int, str]:
    """Lines that hold only a comment (not a ``#`` inside a string), by number: their text without ``#``."""
    import tokenize

    out: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and not tok.line[:tok.start[1]].strip():
            text = tok.string[1:]
            out[tok.start[0]] = text[1:] if text.startswith(" ") else text
    return out


def annotate(source: str) -> list[Chunk]:
    """Split an implementation into labml-style notes: every comment block and every docstring becomes
    prose beside the code that follows it (a docstring beside its ``def`` line), banner comments become
    sections, and every other source line appears exactly once, as code."""
    lines = source.splitlines()
    tree = ast.parse(source)
    docs = _docstrings(tree)
    comments = _comment_lines(source)
    top = {min([n.lineno] + [d.lineno for d in n.decorator_list]): f"{'class' if isinstance(n, ast.ClassDef) else 'def'} {n.name}"
           for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    chunks: list[Chunk] = []
    prose: list[str] = []
    code: list[tuple[int, str]] = []   # (line number, text)
    start = 1

    def flush() -> None:
        nonlocal prose, code, start
        text = "\n".join(prose).strip("\n")
        body = "\n".join(t for _, t in code).strip("\n")
        if text.strip() or body.strip():
            first = next((n for n, t in code if t.strip()), start)
            title = next((top[n] for n, t in code if n in top), "")
            chunks.append(Chunk("note", title, text, body, first if not text.strip() else start))
        prose, code = [], []

    i = 1
    while i <= len(lines):
        ln = lines[i - 1]
        if _BANNER_RULE.match(ln) and i < len(lines) and _BANNER_TITLE.match(lines[i]):
            flush()
            j, title = i + 1, []
            while j <= len(lines) and lines[j - 1].lstrip().startswith("#") and not _BANNER_RULE.match(lines[j - 1]):
                title.append(lines[j - 1].lstrip().lstrip("#").strip())
                j += 1
            chunks.append(Chunk("section", " ".join(title), "", "", i))
            i = j + 1 if j <= len(lines) and _BANNER_RULE.match(lines[j - 1]) else j
            start = i
            continue
        if i in comments:
            if code and any(t.strip() for _, t in code):
                flush()
                start = i
            prose.append(comments[i])
            i += 1
            continue
        if i in docs:
            end, head, text, _ = docs[i]
            # the owner's header (decorators, signature) goes beside its docstring, not before it
            header = [(n, t) for n, t in code if n >= head] if head else []
            code = [(n, t) for n, t in code if not head or n < head]
            if code and any(t.strip() for _, t in code):
                flush()
                start = header[0][0] if header else i
            elif not prose:
                start = header[0][0] if header else i
            prose += (["", text] if prose else [text])
            code = header
            i = end + 1
            continue
        code.append((i, ln))
        i += 1
    flush()
    return chunks


_TAGLIKE = re.compile(r"<(?=[A-Za-z/!?])")


def _prose_markdown(text: str) -> str:
    """A comment block or docstring as Markdown: maths and lists as written; nothing that reads as an
    HTML tag (source comments are text, and the page allows no markup the generator did not write)."""
    return _TAGLIKE.sub("&lt;", text.replace("&", "&amp;"))


def implementation_page(paper: Paper, project: Project) -> tuple[str, list[tuple[str, str]]]:
    """The annotated implementation page, and its outline ``(title, anchor)`` for the paper page.

    Every comment block and docstring is set as Markdown (with maths) beside the code it explains, once:
    the docstrings are not repeated in the code column."""
    impl = project.impl(paper.slug)
    deps = dependencies(project.notebook(paper.slug), project.impls)
    ordered = ([impl] if impl.exists() else []) + [d for d in deps if d != impl]
    # out of the search index: every page loads the whole index (the page budget), and the paper page's
    # outline already names each section
    md = ["---\n" + json.dumps({"title": frag.plain(f"Implementation: {paper.title}"),
                                "hide": ["navigation"], "search": {"exclude": True}}, ensure_ascii=False) + "\n---\n",
          f"# The implementation: {frag.text(paper.title)}", "",
          "The file as it reads, top to bottom (the paper's order): each comment and docstring is set as text "
          "beside the code it explains. Plain Python: copy any block into the notebook and run it.", ""]
    outline: list[tuple[str, str]] = []
    used: set[str] = set()
    for dep in ordered:
        src = read_text(dep, f"minimal_impls/{dep.name}")
        n = len(src.splitlines())
        md += [f'## `minimal_impls/{dep.name}` ({n} lines) {{ #{_anchor(dep.stem)} }}', ""]
        for ch in annotate(src):
            if ch.kind == "section":
                anchor = _anchor(f"{dep.stem}-{ch.title[:40]}")
                md += [f"### {frag.text(ch.title)} {{ #{anchor} }}", ""]
                if dep == impl:
                    outline.append((ch.title, anchor))
                continue
            anchor = _anchor(f"{dep.stem}-{ch.title.split()[-1]}") if ch.title else ""
            ident = f' id="{anchor}"' if anchor and anchor not in used else ""
            used.add(anchor)
            kind = "pc-impl-row" + ("" if ch.code.strip() else " pc-impl-prose-only") + \
                ("" if ch.prose.strip() else " pc-impl-code-only")
            md += [f'<div class="{kind}"{ident} markdown>', ""]
            md += ['<div class="pc-impl-note" markdown>', "", _prose_markdown(ch.prose) if ch.prose.strip() else "",
                   "", "</div>", ""]
            if ch.code.strip():
                fence = "````" if "```" in ch.code else "```"
                md += ['<div class="pc-impl-code" markdown data-search-exclude>', "",
                       f"{fence}python", ch.code, fence, "", "</div>", ""]
            md += ["</div>", ""]
    return "\n".join(md), outline


# --------------------------------------------------------------------------- one paper page

def _downloads(slug: str) -> str:
    return (f'[Notebook (.ipynb), runs on its own]({slug}.ipynb){{ download="{slug}.ipynb" }} · '
            f'[Notebook source (.py, jupytext)]({slug}.py){{ download="{slug}.py" }}')


def run_yourself(paper: Paper) -> list[str]:
    slug = paper.slug
    return ['!!! tip "On your laptop, offline, in under a minute"', "",
            f"    Download the {_downloads(slug)}: the `.ipynb` writes the implementation it needs next to "
            "itself, so it runs in an empty folder with only public packages (`pip install torch numpy scipy "
            "matplotlib scikit-learn scikit-image pillow`).", "",
            "    Or, in a clone of the repository (Python only; Node.js is needed only to build the site):", "",
            "    ```bash",
            "    make notebooks      # sets up .venv and writes notebooks/*.ipynb (jupytext pairs)",
            f"    make lab            # JupyterLab on notebooks/; open {slug}.ipynb",
            f"    .venv/bin/pytest {project_test_path(slug)}    # the implementation's tests",
            "    ```", ""]


def project_test_path(slug: str) -> str:
    return f"tests/test_{module_name(slug)}.py"


def header(paper: Paper, result: NotebookResult, all_papers: dict[str, Paper]) -> list[str]:
    slug = paper.slug
    page = SiteMap.page(slug)
    links = [f"[Paper]({paper.links.paper})"]
    if paper.links.code:
        links.append(f"[Code]({paper.links.code})")
    if paper.links.project:
        links.append(f"[Project page]({paper.links.project})")
    tags = " ".join(f'<span class="pc-tag">{frag.attr(t)}</span>' for t in paper.tags)
    md = [f"# {frag.text(paper.title)}", ""]
    if paper.status == "draft":
        md += ['!!! warning "Draft"', "    This paper is a scaffold still being written; its figures are placeholders.", ""]
    md += ['<div class="pc-meta" markdown data-search-exclude>', "",
           f"**{frag.text(', '.join(paper.authors))}** — {frag.text(paper.venue)} {paper.year} · {' · '.join(links)}", "",
           tags, "",
           f"**Session:** {frag.text(frag.session_line(paper))}", "",
           f"**Notebook:** {result.seconds:.0f} s of CPU time, top to bottom · {_downloads(slug)}", "",
           f"**For the session:** [Slides]({SiteMap.link(page, SiteMap.deck(slug))}) · "
           f"[One-page handout]({SiteMap.link(page, SiteMap.handout(slug))})", "", "</div>", ""]
    if paper.prerequisites:
        # a prerequisite left out of a partial build (--only) is named, not linked
        pre = ", ".join(f"[{frag.text(all_papers[p].title)}]({SiteMap.link(page, SiteMap.page(p))})"
                        if p in all_papers else f"`{p}`" for p in paper.prerequisites)
        md += [f"**Read first:** {pre}", ""]
    return md


def paper_page(paper: Paper, result: NotebookResult, project: Project, all_papers: dict[str, Paper]) -> PageFiles:
    """The paper's page and the files it needs beside it (figures, downloads, notebook figures)."""
    slug = paper.slug
    here = SiteMap.page_dir(slug)
    sections = notes(paper, result.metrics)
    out = PageFiles("")
    for f in result.figures:
        out.copies.append((f, f"{SiteMap.figures(slug)}/{f.name}"))
    out.blobs[SiteMap.ipynb(slug)] = standalone.page_notebook(project, paper, result)   # runs anywhere
    out.copies.append((project.notebook(slug), SiteMap.source_py(slug)))

    md: list[str] = []
    for part in PAGE_ORDER:
        if part == "@header":
            md += standalone.with_links(header(paper, result, all_papers), slug, project)
        elif part == "@tldr":
            md += ['!!! abstract "TL;DR"', f"    {frag.text(paper.tldr)}", ""]
        elif part == "@claims":
            md += ["## Claims, checked by the notebook", "",
                   '<div class="pc-claims-intro" markdown data-search-exclude>', "",
                   "Each figure below was recorded by the notebook when it last ran. A claim names a *control*: "
                   "the same measurement on the strongest naive variant that should fail (a trained model without "
                   "the key component, a trivial baseline), which must fail the claim; otherwise the claim rules "
                   "nothing out and is marked vacuous. `paperclub sweep` re-runs the notebook at seeds 0–4: a "
                   "claim must hold, and its control fail, on every seed, or it is marked fragile "
                   "(\"not re-run\" until a sweep has run). `paperclub build --strict` fails on any claim that "
                   "does not hold, is vacuous or fragile, or was not re-run. Machine-readable: "
                   "[claims.json](../../claims.json).", "", "</div>", "",
                   frag.claims_table(paper, paper.verdicts(result.metrics, result.sweep)), ""]
        elif part == "@notes":
            if sections.get(""):
                md += [sections[""], ""]
            for name, body in sections.items():
                if name and name not in NAMED:
                    md += [f"## {name}", "", body, ""]
        elif part == "@notebook":
            md += ["## The notebook, executed", "",
                   f"Executed top to bottom by `paperclub build` in {result.seconds:.1f} s of CPU time (one thread). "
                   f"{_downloads(slug)}", ""]
            if result.run is not None:
                body, files = notebook_markdown(result.run.notebook, slug, project.png_cache)
                out.blobs.update({f"{here}/{name}": blob for name, blob in files.items()})
                md += ['<div class="pc-notebook" markdown>', "", body, "", "</div>", ""]
        elif part == "@implementation":
            _, outline = implementation_page(paper, project)
            impl = project.impl(slug)
            n = len(read_text(impl).splitlines()) if impl.exists() else 0
            md += ["## The implementation", "",
                   f"`minimal_impls/{impl.name}` ({n} lines) reads top to bottom like the paper. "
                   f"[Read it annotated, section by section →](implementation.md)", ""]
            if outline:
                md += ['<div class="pc-outline" markdown>', ""]
                md += [f"- [{frag.text(title)}](implementation.md#{anchor})" for title, anchor in outline]
                md += ["", "</div>", ""]
        elif part == "@run":
            md += ["## Run it yourself", "", *run_yourself(paper), *standalone.links(slug, project, "    ")]
        elif part == "@cite":
            md += ["## Cite", "", frag.fence(paper.bibtex_entry(), "bibtex"), ""]
        elif sections.get(part):
            md += [f"## {part}", "", sections[part], ""]
    synonyms = spelling_variants("\n".join([paper.tldr, " ".join(t.replace("-", " ") for t in paper.tags),
                                             *sections.values()]))
    if synonyms:  # Lunr stems -isation and -ization apart: index the other spelling too
        md += [f'<p class="pc-synonyms" aria-hidden="true">{" ".join(synonyms)}</p>', ""]
    # the theme's search weighs a page's tags far above its text (and its title above its text): a tag's
    # term in either spelling ranks its paper first ("quantization" finds the VQ-VAE, tagged -isation)
    tags = [frag.plain(t.replace("-", " ")) for t in paper.tags]
    tags += [w for w in spelling_variants(" ".join(tags)) if w not in tags]
    meta = {"title": frag.plain(paper.title), "tags": tags, "search": {"boost": 2}}
    out.markdown = "---\n" + json.dumps(meta, ensure_ascii=False) + "\n---\n\n" + "\n".join(md)
    return out


_SPELLING = re.compile(r"\b([A-Za-z]{3,}?)(is|iz|ys|yz)(ation|ations|e|es|ed|ing|er|ers)\b")


def spelling_variants(prose: str) -> list[str]:
    """For every -ise/-isation word in ``prose`` (or -ize/-ization), the whole family in the other
    spelling: "quantised" also indexes "quantize", "quantized", "quantization", … so a search in
    either spelling finds the page (Lunr stems the two apart)."""
    out: set[str] = set()
    seen = {w.lower() for w in re.findall(r"[A-Za-z]+", prose)}
    for m in _SPELLING.finditer(prose):
        stem, mid, end = m.groups()
        if len(stem + mid + end) < 8 or not (end.startswith("ation") or end in ("e", "ed", "es", "ing", "er", "ers")):
            continue
        for letter in ({"is": ("iz",), "iz": ("is",), "ys": ("yz",), "yz": ("ys",)}[mid] + (mid,)):
            for suffix in ("e", "ed", "es", "ing", "ation", "ations"):
                word = (stem + letter + suffix).lower()
                if word not in seen:
                    out.add(word)
    return sorted(out)


# --------------------------------------------------------------------------- handouts

def _equations(text: str) -> list[tuple[str | None, str]]:
    """Display equations in the notes with their ``\\tag`` (or None)."""
    out = []
    for eq in re.findall(r"^\s*\$\$.*?\$\$", text, flags=re.S | re.M):
        tag = re.search(r"\\tag\{([^}]*)\}", eq)
        out.append((tag.group(1) if tag else None, eq.strip()))
    return out


def handout_equations(paper: Paper, sections: dict[str, str]) -> list[str]:
    """The equations a handout prints: those the front matter names by tag, else the first four."""
    method = "\n\n".join(t for n, t in sections.items() if n not in ("Discussion questions", "Exercises", "References"))
    eqs = _equations(method)
    if paper.handout and paper.handout.equations:
        by_tag = {tag: eq for tag, eq in eqs if tag}
        return [by_tag[t] for t in paper.handout.equations if t in by_tag]
    return [eq for _, eq in eqs[:4]]


def handout_page(paper: Paper, result: NotebookResult, site_url: str | None = None) -> PageFiles:
    slug = paper.slug
    here = SiteMap.handout(slug)
    sections = notes(paper, result.metrics)
    out = PageFiles("")
    md = [frag.page_title(f"Handout: {paper.title}", search=False), '<div class="pc-handout" markdown>', "", f"# {frag.text(paper.title)}", "",
          f"*{frag.text(', '.join(paper.authors))} — {frag.text(paper.venue)} {paper.year}* · "
          f"Session: {frag.text(frag.session_line(paper))}", "",
          f"**TL;DR.** {frag.text(paper.tldr)}", ""]
    eqs = handout_equations(paper, sections)
    if eqs:
        md += ["## Key equations", ""] + [e + "\n" for e in eqs]
    fig_name = paper.handout.figure if paper.handout and paper.handout.figure else None
    figs = {f.stem: f for f in result.figures}
    if fig_name and fig_name in figs:
        f = figs[fig_name]
        dest = SiteMap.handout_figure(slug, f.name)
        out.copies.append((f, dest))
        md += [f'<figure class="pc-handout-figure" markdown>', "",
               f"![A figure from the {frag.attr(paper.title)} notebook]({SiteMap.link(here, dest)})", "", "</figure>", ""]
    md += ["## Claims on our toy", "", frag.claims_table(paper, paper.verdicts(result.metrics, result.sweep), compact=True), ""]
    if sections.get("Discussion questions"):
        md += ["## Questions for the session", "", sections["Discussion questions"], ""]
    if site_url:
        md += [f'<p class="pc-siteurl">Notes, notebook and slides: {html.escape(site_url.rstrip("/"))}/'
               f'{SiteMap.page_dir(slug)}/</p>', ""]
    md += ["</div>", "", '<div class="pc-noprint" markdown>', "",
           f"Print this page for a one-page A4 handout (the site's navigation is left out of print). "
           f"Back to [the paper page]({SiteMap.link(here, SiteMap.page(slug))}) · "
           f"[the slides]({SiteMap.link(here, SiteMap.deck(slug))}).", "", "</div>", ""]
    out.markdown = "\n".join(md)
    return out


# --------------------------------------------------------------------------- home page

def home_page(papers: list[Paper], results: dict[str, NotebookResult], intro: str, next_box: str,
              today: dt.date) -> str:
    # the filter offers the tags that group papers (two or more); every card still lists all of its own
    counts: dict[str, int] = {}
    for p in papers:
        for t in set(p.tags):
            counts[t] = counts.get(t, 0) + 1
    tags = sorted(t for t, n in counts.items() if n >= 2) or sorted(counts)
    md = [intro.strip(), "", next_box, "", "## This season's papers", "",
          '<div class="pc-tagbar" markdown="0"><button data-tag="all" class="pc-active">all</button>'
          + "".join(f'<button data-tag="{frag.attr(t)}">{frag.attr(t)}</button>' for t in tags) + "</div>", "",
          '<div class="pc-grid" markdown>', ""]
    # upcoming sessions first (soonest first), then past ones (most recent first), then unscheduled
    upcoming = sorted((p for p in papers if p.session.date and p.session.date >= today), key=lambda p: (p.session.date, p.slug))
    past = sorted((p for p in papers if p.session.date and p.session.date < today), key=lambda p: (p.session.date, p.slug), reverse=True)
    rest = sorted((p for p in papers if not p.session.date), key=lambda p: p.slug)
    for p in upcoming + past + rest:
        res = results.get(p.slug)
        figs = res.figures if res else ()
        when = "upcoming" if p in upcoming else "past" if p in past else "unscheduled"
        date = p.session.date.isoformat() if p.session.date else ""
        card = [f'<div class="pc-card pc-{when}" data-tags="{frag.attr(" ".join(p.tags))}" data-date="{date}" markdown>', ""]
        page = SiteMap.page(p.slug)
        if figs:
            card += [f'<span class="pc-thumb" markdown>[![Thumbnail: a figure from the {frag.attr(p.title)} '
                     f'notebook]({SiteMap.thumbnail(p.slug)})]({page})</span>', ""]
        badge = {"upcoming": '<span class="pc-when pc-when-upcoming">upcoming</span> ',
                 "past": '<span class="pc-when pc-when-past">past session</span> ',
                 "unscheduled": ""}[when]
        draft = '<span class="pc-draft">draft</span> ' if p.status == "draft" else ""
        card += [f'{draft}{badge}<span class="pc-title" markdown>[{frag.text(p.title)}]({page})</span>', "",
                 frag.text(p.tldr), "",
                 " ".join(f'<span class="pc-tag">{frag.attr(t)}</span>' for t in p.tags), "",
                 f'<span class="pc-small" markdown>{frag.text(frag.session_line(p))}'
                 + (f" · notebook {res.seconds:.0f} s" if res else "")
                 + f' · [Slides]({SiteMap.deck(p.slug)})</span>', "", "</div>", ""]
        md += card
    md += ["</div>", ""]
    return "\n".join(md)


def thumbnail(figure: Path, box: tuple[int, int] = (480, 320)) -> bytes:
    """A card-sized PNG of a paper's first figure (the first frame of an animation)."""
    from PIL import Image

    with Image.open(figure) as im:
        im.seek(0)
        small = im.convert("RGB")
        small.thumbnail(box, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, format="PNG", optimize=True)
    return shrink_png(buf.getvalue())


def claims_json(papers: list[Paper], results: dict[str, NotebookResult]) -> str:
    """``site/claims.json``: the claims tables, machine-readable (one entry per paper)."""
    out = {}
    for p in papers:
        res = results.get(p.slug)
        if res is None:
            continue
        esc = lambda t: html.escape(t, quote=False) if isinstance(t, str) else t  # noqa: E731 - as on the pages
        out[p.slug] = {"title": esc(p.title), "claims": [
            {"metric": v.claim.metric, "text": esc(v.claim.text), "paper": esc(v.claim.paper),
             "expect": v.claim.expect, "over_seeds": v.claim.over_seeds, "value": v.value, "holds": v.holds,
             "control": v.claim.control, "control_label": esc(v.claim.control_label),
             "control_value": v.control_value, "vacuous": v.vacuous,
             "fragile": v.fragile, "seeds": v.seeds.as_json() if v.seeds is not None else None}
            for v in p.verdicts(res.metrics, res.sweep)]}
    return json.dumps(out, indent=2, sort_keys=True, ensure_ascii=False)


def metrics_json(papers: list[Paper], results: dict[str, NotebookResult]) -> str:
    return json.dumps({p.slug: {"seconds": results[p.slug].seconds, "metrics": results[p.slug].metrics}
                       for p in papers if p.slug in results}, indent=2, sort_keys=True)
