"""The built site, opened page by page in a real headless Chromium, offline.

The book is built once per test session (``jupyter-book build -W -n --keep-going`` into a
temporary folder), served from ``127.0.0.1`` and every page in the table of contents (plus
the index, search and general index pages) is loaded in Debian's Chromium through
Playwright. For every page:

- it is served (HTTP 200) in the light theme and nothing logs a console error or throws;
- nothing is requested from any host but the local server (MathJax and the widget code
  are vendored or left out; launch and download buttons are links, not loads);
- every ``<img>`` loaded (``naturalWidth > 0``);
- where the page has math, MathJax typeset all of it (an ``mjx-container`` in every math
  element, no TeX errors) and no raw ``$$``, ``\\(`` or ``\\[`` is left in the prose;
- every internal link points at a file that exists in the build;
- exercise solutions are hidden until their title is clicked, then shown;
- what readers see is rendered, not source (:func:`content_problems`): no MyST directive or
  role text left in the page (```` ```{ ````, ``:label:``, ``{cite}`…```), no Markdown pipe
  table printed as text, no exercise solution visible without a click (every ``.solution`` a
  hidden dropdown, and as many exercises and solutions on a chapter's page as in its
  notebook), no cell output wider than its box or the column, no code line behind a scroll
  bar at 1280 px (both measured in the browser), and
  bibliography labels that name the entry's first author and year ([He et al., 2015], not
  [GDollarG+17]) and match the citations in the text.

Each of those checks is shown to fail on a page built to break it (the ``test_check_*``
tests feed small HTML pages to the same functions), so a green run means something.

Full-page screenshots of the introduction and of the first chapter are saved to
``<pytest's basetemp>/site-screenshots`` (the path is printed).

Chromium is never downloaded (no ``playwright install``): the test drives
``/usr/bin/chromium`` and fails, saying how to install it, when it is missing.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from conftest import REPO_ROOT, toc_files

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = (
    "Debian's Chromium is needed at /usr/bin/chromium for the site tests: "
    "sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium "
    "(.ci/run does this). Never run `playwright install`: the tests use the system browser."
)
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# Pages Sphinx writes besides the table of contents' documents.
EXTRA_PAGES = ["index", "genindex", "search"]
NAVIGATION_TIMEOUT_MS = 60_000


def _strip_suffix(name: str) -> str:
    for suffix in (".ipynb", ".md"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


TOC_DOCS = [_strip_suffix(f) for f in toc_files()]
PAGES = TOC_DOCS + EXTRA_PAGES
CHAPTERS = [doc for doc in TOC_DOCS if doc.startswith("notebooks/")]


# --------------------------------------------------------------------------------------
# Session fixtures: one build, one server, one browser


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
        pass


@pytest.fixture(scope="session")
def site_url(built_site: Path):
    """``built_site`` served over HTTP on 127.0.0.1 (a free port), for the whole session."""
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing. {INSTALL_HINT}", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - requirements.txt pins playwright
        pytest.fail("playwright is not installed: pip install -r requirements.txt", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.getbasetemp() / "site-screenshots"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def bibliography(built_site: Path) -> dict[str, str]:
    """Entry id → label of the built reference list (for checking the citations on every page)."""
    import re

    html = (built_site / "book" / "references.html").read_text(encoding="utf-8")
    entries = re.findall(r'<div class="citation" id="([^"]+)"[^>]*>\s*<span class="label">(.*?)</span></span>',
                         html, flags=re.S)
    labels = {ident: re.sub(r"<[^>]+>", "", label).strip("[] ") for ident, label in entries}
    assert labels, "no bibliography entries found in book/references.html"
    return labels


class LoadedPage:
    """A page opened in the browser, with what happened while it loaded."""

    def __init__(self, page, url: str, status: int | None, console_errors: list[str], remote_requests: list[str]):
        self.page = page
        self.url = url
        self.status = status
        self.console_errors = console_errors
        self.remote_requests = remote_requests


@pytest.fixture
def open_page(browser, site_url: str):
    """Open ``<doc>.html`` of the built site in a fresh browser context; closes it afterwards."""
    contexts = []

    def _open(doc: str) -> LoadedPage:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
        contexts.append(context)
        console_errors: list[str] = []
        remote_requests: list[str] = []

        def route(route) -> None:
            url = route.request.url
            parts = urlsplit(url)
            if parts.scheme in {"http", "https", "ws", "wss"} and parts.hostname not in LOCAL_HOSTS:
                remote_requests.append(url)
                route.abort()
            else:
                route.continue_()

        context.route("**/*", route)
        page = context.new_page()
        page.set_default_timeout(NAVIGATION_TIMEOUT_MS)
        page.on(
            "console",
            lambda message: console_errors.append(f"console.{message.type}: {message.text} ({message.location})")
            if message.type == "error"
            else None,
        )
        page.on("pageerror", lambda error: console_errors.append(f"uncaught exception: {error}"))
        url = f"{site_url}/{doc}.html"
        response = page.goto(url, wait_until="load", timeout=NAVIGATION_TIMEOUT_MS)
        page.wait_for_load_state("networkidle", timeout=NAVIGATION_TIMEOUT_MS)
        return LoadedPage(page, url, response.status if response else None, console_errors, remote_requests)

    yield _open
    for context in contexts:
        context.close()


# --------------------------------------------------------------------------------------
# In-page checks (JavaScript run in the page)

_WAIT_FOR_IMAGES = """
async () => {
  const images = Array.from(document.images);
  for (const img of images) { img.loading = 'eager'; }
  await Promise.all(images.map(img => img.complete ? null : new Promise(resolve => {
    img.addEventListener('load', resolve, {once: true});
    img.addEventListener('error', resolve, {once: true});
    setTimeout(resolve, 15000);
  })));
  return images.map(img => ({src: img.currentSrc || img.src, complete: img.complete, width: img.naturalWidth}));
}
"""

_MATH_STATE = """
async () => {
  const math = Array.from(document.querySelectorAll('.math, span.math, div.math'));
  if (math.length && window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  // Prose only: code, pre-formatted output and typeset math may legitimately hold TeX.
  const article = (document.querySelector('article.bd-article') || document.body).cloneNode(true);
  article.querySelectorAll('pre, code, script, style, mjx-container, .highlight, .output')
    .forEach(node => node.remove());
  const prose = article.textContent;
  const leftovers = ['$$', '\\\\(', '\\\\[', '\\\\begin{'].filter(raw => prose.includes(raw));
  return {
    mathElements: math.length,
    untypeset: math.filter(el => !el.querySelector('mjx-container')).map(el => el.textContent.slice(0, 120)),
    containers: document.querySelectorAll('mjx-container').length,
    errors: Array.from(document.querySelectorAll('mjx-merror'))
        .map(el => el.getAttribute('data-mjx-error') || el.textContent),
    mathjaxLoaded: !!(window.MathJax && MathJax.version),
    leftovers: leftovers,
  };
}
"""

_LINKS = """
() => Array.from(document.querySelectorAll('a[href]')).map(a => ({raw: a.getAttribute('href'), url: a.href}))
"""


# What a reader sees must be rendered, not source. One function returns every problem it finds.
_CONTENT_STATE = """
() => {
  const article = document.querySelector('article.bd-article') || document.body;
  // sphinx-togglebutton hides a closed dropdown's body with `visibility: hidden`.
  const visible = el => el.checkVisibility({visibilityProperty: true, checkVisibilityCSS: true, opacityProperty: true});
  const snippet = (text, at) => text.slice(Math.max(0, at - 40), at + 60).replace(/\\s+/g, ' ').trim();
  const found = [];
  // 1. MyST source left in the page, anywhere in it (hidden solutions included).
  const all = article.textContent;
  const raw = [
    [/(```|~~~|:::)\\s*\\{[\\w:-]+\\}/g, 'directive fence'],
    [/(^|\\n)\\s*:(label|class|name|nonumber|hidden|dropdown|figwidth|align|width|filter|all|style):(\\s|$)/g,
     'directive option'],
    [/\\{(cite(:\\w+)?|ref|numref|doc|eq|term|download|glue(:\\w+)?|prf:ref|math|abbr|index)\\}`/g, 'role'],
  ];
  for (const [pattern, what] of raw) {
    for (const match of all.matchAll(pattern)) found.push(`raw MyST ${what}: "${snippet(all, match.index)}"`);
  }
  // 2. Markdown tables printed as text: a |---|---| delimiter row outside code and math (a
  //    typographer may have turned each --- into an em dash: |—|—|).
  const prose = article.cloneNode(true);
  prose.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(node => node.remove());
  const text = prose.textContent;
  for (const match of text.matchAll(/\\|\\s*:?[-–—]+:?\\s*\\|\\s*:?[-–—]+:?\\s*\\|/g)) {
    found.push(`pipe-table text in the page: "${snippet(text, match.index)}"`);
  }
  // 3. Solutions: each one a dropdown whose body is hidden until it is opened.
  const solutions = Array.from(article.querySelectorAll('.solution'));
  for (const solution of solutions) {
    const title = (solution.querySelector('.admonition-title') || solution).textContent.trim().slice(0, 60);
    const body = Array.from(solution.children).filter(child => !child.classList.contains('admonition-title'));
    if (!solution.classList.contains('dropdown')) found.push(`solution "${title}" is not a dropdown`);
    if (body.some(visible)) found.push(`solution "${title}" is visible without a click`);
  }
  // 4. Cell outputs: nothing wider than its box or than the column.
  const column = article.getBoundingClientRect();
  for (const output of article.querySelectorAll('div.cell_output')) {
    for (const el of [output, ...output.querySelectorAll('pre, table, img, div.output, svg')]) {
      if (!visible(el)) continue;  // inside a closed toggle
      const box = el.getBoundingClientRect();
      if (el.scrollWidth > el.clientWidth + 1 || box.right > column.right + 1) {
        found.push(`output wider than the column (${Math.round(Math.max(el.scrollWidth, box.width))} px in `
          + `${Math.round(Math.min(el.clientWidth, column.width))} px): "${el.textContent.trim().slice(0, 80)}"`);
        break;
      }
    }
  }
  // 5. Code (cell inputs, the text's code blocks): no line behind a scroll bar.
  for (const code of article.querySelectorAll('pre')) {
    if (code.closest('div.cell_output') || !visible(code)) continue;
    if (code.scrollWidth > code.clientWidth + 1) {
      const longest = code.textContent.split('\\n').reduce((a, line) => line.length > a.length ? line : a, '');
      found.push(`code line cut off (${code.scrollWidth} px in ${code.clientWidth} px): `
        + `"${longest.trim().slice(0, 80)}"`);
    }
  }
  // 6. Bibliography entries and the citations that point at them.
  const labels = {};
  for (const entry of article.querySelectorAll('div.citation')) {
    const labelNode = entry.querySelector('.label');
    const label = labelNode ? labelNode.textContent.replace(/^\\[|\\]$/g, '').trim() : '';
    const body = entry.textContent.replace(labelNode ? labelNode.textContent : '', '');
    labels[entry.id] = label;
    const parts = label.match(/^(.+?)(?: et al\\.)?, (\\d{4})[a-z]?$/);
    if (!parts) { found.push(`bibliography label [${label}] is not "Author(s), year"`); continue; }
    const names = parts[1].split(' and ');
    for (const name of names) {
      if (!body.includes(name)) found.push(`bibliography label [${label}]: "${name}" is not in its entry`);
    }
    if (!body.includes(parts[2])) found.push(`bibliography label [${label}]: ${parts[2]} is not in its entry`);
  }
  const citations = Array.from(article.querySelectorAll('a.reference.internal[href*="references.html#"]'))
    .map(a => ({target: a.getAttribute('href').split('#')[1], text: a.textContent.replace(/\\s+/g, ' ').trim()}));
  return {problems: found, labels: labels, citations: citations,
          exercises: article.querySelectorAll('.exercise').length, solutions: solutions.length};
}
"""


def content_problems(page, *, bibliography: dict[str, str] | None = None,
                     expected: tuple[int, int] | None = None) -> list[str]:
    """Source text, pipe tables, open solutions, too-wide outputs, cut-off code and bad bibliography labels.

    ``bibliography`` (entry id → label, from the reference list) checks that each citation in
    the page reads like the label of the entry it links to; ``expected`` is the number of
    exercises and solutions the page's notebook has.
    """
    state = page.evaluate(_CONTENT_STATE)
    problems = list(state["problems"])
    for citation in state["citations"] if bibliography else []:
        label = bibliography.get(citation["target"])
        if label is not None and citation["text"] != label:
            problems.append(f"citation {citation['text']!r} links to the entry labelled [{label}]")
    if expected is not None and (state["exercises"], state["solutions"]) != expected:
        problems.append(f"{state['exercises']} exercises and {state['solutions']} solutions on the page, "
                        f"the notebook has {expected[0]} and {expected[1]}")
    return problems


def _source_exercises(doc: str) -> tuple[int, int] | None:
    """(exercises, solutions) in a chapter's notebook, from its MyST source."""
    path = REPO_ROOT / f"{doc}.ipynb"
    if not path.is_file():
        return None
    from test_notebooks import _directives, _load, _markdown

    names = [d["name"] for d in _directives(_markdown(_load(path)))]
    return names.count("exercise"), names.count("solution")


def _resolve_in_build(url: str, site_url: str, built_site: Path) -> Path | None:
    """The file an internal URL names in the build, or None for external URLs."""
    parts = urlsplit(url)
    base = urlsplit(site_url)
    if parts.scheme not in {"http", "https"} or parts.netloc != base.netloc:
        return None
    path = unquote(parts.path).lstrip("/")
    target = built_site / path
    if not path or path.endswith("/"):
        target = target / "index.html"
    return target


# --------------------------------------------------------------------------------------
# Tests


def test_every_built_page_is_checked(built_site: Path) -> None:
    """The pages opened below are exactly the HTML pages the build wrote."""
    built = {
        p.relative_to(built_site).with_suffix("").as_posix()
        for p in built_site.rglob("*.html")
        if p.relative_to(built_site).parts[0] not in {"_static", "_sources", "_images"}
    }
    assert built == set(PAGES), f"built but not checked: {sorted(built - set(PAGES))}; " \
        f"checked but not built: {sorted(set(PAGES) - built)}"


@pytest.mark.slow
@pytest.mark.parametrize("doc", PAGES)
def test_page_renders_offline(doc: str, open_page, built_site: Path, site_url: str, bibliography) -> None:
    loaded = open_page(doc)
    page = loaded.page
    problems: list[str] = []

    if loaded.status != 200:
        problems.append(f"HTTP status {loaded.status} for {loaded.url}")

    if doc != "index":  # index.html only redirects to the root document
        theme = page.evaluate("() => document.documentElement.dataset.theme")
        if theme != "light":
            problems.append(f"theme is {theme!r}, expected 'light' (html_context.default_mode)")

    for image in page.evaluate(_WAIT_FOR_IMAGES):
        if not image["complete"] or image["width"] == 0:
            problems.append(f"image did not load: {image['src']}")

    math = page.evaluate(_MATH_STATE)
    if math["mathElements"]:
        if not math["mathjaxLoaded"]:
            problems.append(f"page has {math['mathElements']} math elements but MathJax did not load")
        for raw in math["untypeset"]:
            problems.append(f"math not typeset by MathJax: {raw!r}")
        for error in math["errors"]:
            problems.append(f"MathJax error: {error}")
    for raw in math["leftovers"]:
        problems.append(f"raw TeX delimiter {raw!r} left in the page's prose")

    for link in page.evaluate(_LINKS):
        target = _resolve_in_build(link["url"], site_url, built_site)
        if target is not None and not target.is_file():
            problems.append(f"broken internal link {link['raw']!r} -> {target.relative_to(built_site)}")

    problems += content_problems(page, bibliography=bibliography, expected=_source_exercises(doc))
    problems += [f"request to a non-local host: {url}" for url in loaded.remote_requests]
    problems += loaded.console_errors
    assert not problems, f"{doc}.html:\n  " + "\n  ".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("doc", CHAPTERS)
def test_solutions_hidden_until_clicked(doc: str, open_page) -> None:
    loaded = open_page(doc)
    page = loaded.page
    solutions = page.locator("div.solution.dropdown")
    count = solutions.count()
    assert count >= 3, f"{doc}: expected at least 3 solution dropdowns, found {count}"
    for i in range(count):
        solution = solutions.nth(i)
        title = solution.locator(":scope > .admonition-title")
        body = solution.locator(":scope > :not(.admonition-title)")
        label = " ".join(title.inner_text().split())
        assert body.count() > 0, f"{doc}: solution {label!r} has no body"
        assert not body.first.is_visible(), f"{doc}: solution {label!r} is visible before it is clicked"
        # The "Click to show" toggle in the title (sphinx-togglebutton). The title's own
        # link ("Solution to Exercise N") jumps to the exercise instead of toggling.
        title.locator(".toggle-button").click()
        body.first.wait_for(state="visible", timeout=5000)
        assert body.first.is_visible(), f"{doc}: solution {label!r} stays hidden after clicking its toggle"
    assert not loaded.console_errors, f"{doc}: errors while opening solutions: {loaded.console_errors}"


@pytest.mark.slow
def test_screenshots(open_page, screenshot_dir: Path, capsys: pytest.CaptureFixture) -> None:
    """Full-page screenshots of the introduction and the first chapter, for a human to look at."""
    docs = [TOC_DOCS[0]] + CHAPTERS[:1]
    saved = []
    for doc in docs:
        page = open_page(doc).page
        page.evaluate(_MATH_STATE)  # waits for MathJax
        path = screenshot_dir / (doc.replace("/", "__") + ".png")
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000, f"screenshot of {doc} looks empty"
        saved.append(path)
    with capsys.disabled():
        print(f"\nsite screenshots: {screenshot_dir} ({', '.join(p.name for p in saved)})")


def test_chromium_is_the_system_browser() -> None:
    """The site tests use Debian's Chromium; fail loudly (never skip) where it is missing."""
    assert CHROMIUM.exists(), INSTALL_HINT
    assert shutil.which(str(CHROMIUM)), f"{CHROMIUM} is not executable. {INSTALL_HINT}"


# --------------------------------------------------------------------------------------
# The content checks fail where they should: small pages built to break each one


_CUSTOM_CSS = (REPO_ROOT / "book" / "_static" / "custom.css").read_text(encoding="utf-8")
_LONG_LINE = "verdict: " + " ".join(["the deeper plain network trains worse"] * 12)


@pytest.fixture
def snippet_page(browser):
    """A page holding ``body`` in an ``article.bd-article`` as wide as the book's column (688 px)."""
    pages = []

    def _open(body: str, css: str = ""):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        pages.append(page)
        page.set_content("<html><head><style>body {margin: 0} article {width: 688px; font-size: 16px}"
                         f"{css}</style></head><body><article class='bd-article'>{body}</article></body></html>")
        return page

    yield _open
    for page in pages:
        page.close()


_BIB_ENTRY = ("<div class='citation' id='id7'><span class='label'><span class='fn-bracket'>[</span>{label}"
              "<span class='fn-bracket'>]</span></span><p>Priya Goyal, Piotr Dollár, Ross Girshick, and others. "
              "Accurate, large minibatch SGD: training ImageNet in 1 hour. 2017.</p></div>")
_SOLUTION = ("<div class='solution {cls} admonition'><p class='admonition-title'>Solution to Exercise 14</p>"
             "<div{hidden}><p>out is the output of bn2, which nothing saved.</p></div></div>")

BROKEN = {
    "directive printed as text (chapter 3's last exercise)": (
        "<p>```{exercise} Why is torchvision’s <code>+=</code> safe?\n:label: ex-ch3-inplace</p>", "directive fence"),
    "directive option printed as text": ("<p>Some text\n:label: ex-ch3-inplace\n★★ torchvision's …</p>",
                                          "directive option"),
    "role printed as text": ("<p>the paper {cite}`he2016deep` (§3.1)</p>", "role"),
    "pipe table printed as text": (
        "<p>| Chapter | Quick mode | Exercises |\n|---|---|---|\n| 1. The degradation problem | 1.1 min | 4 |</p>",
        "pipe-table text"),
    "pipe table printed as text, dashes typeset (the teaching guide)": (
        "<p>| Chapter | Quick mode, CPU | Exercises |\n|—|—|—|\n| 1. The degradation problem | 1.1 min | 4 |</p>",
        "pipe-table text"),
    "solution that is not a dropdown": (_SOLUTION.format(cls="", hidden=""), "is not a dropdown"),
    "solution shown before a click": (_SOLUTION.format(cls="dropdown", hidden=""), "visible without a click"),
    "long output line cut off at the column edge": (
        f"<div class='cell_output'><div class='output'><pre>{_LONG_LINE}</pre></div></div>", "output wider"),
    "code line cut off at the column edge": (
        f"<div class='cell_input'><div class='highlight'><pre>{'x = 1  # ' + 'y' * 110}</pre></div></div>",
        "code line cut off"),
    "garbled bibliography label": (_BIB_ENTRY.format(label="GDollarG+17"), 'is not "Author(s), year"'),
    "label naming someone else": (_BIB_ENTRY.format(label="Goyal and Dollar, 2017"), '"Dollar" is not in its entry'),
    "label with the wrong year": (_BIB_ENTRY.format(label="Goyal et al., 2016"), "2016 is not in its entry"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_check_fails_on_a_broken_page(case: str, snippet_page) -> None:
    body, expected = BROKEN[case]
    problems = content_problems(snippet_page(body))
    assert any(expected in problem for problem in problems), f"{case}: not caught; found {problems}"


@pytest.mark.parametrize("body", [
    "<table><tr><th>Chapter</th><th>Quick mode</th></tr><tr><td>1</td><td>1.1 min</td></tr></table>",
    "<p>Inline code <code>{cite}</code> and a code block:</p><pre>| a | b |</pre>",
    _SOLUTION.format(cls="dropdown", hidden=" style='display: none'"),
    _SOLUTION.format(cls="dropdown toggle-hidden", hidden=" style='visibility: hidden; height: 0'"),
    f"<div class='cell_output'><div class='output'><pre>{_LONG_LINE}</pre></div></div>",
    f"<div class='cell_output'><div class='output'><pre>{'x' * 400}</pre></div></div>",
    f"<div class='cell_input'><div class='highlight'><pre>{'x = 1  # ' + 'y' * 70}</pre></div></div>",
    _BIB_ENTRY.format(label="Goyal et al., 2017"),
])
def test_check_passes_rendered_content(body: str, snippet_page) -> None:
    """The book's CSS wraps long outputs (even one unbroken word): with it, nothing is reported."""
    assert content_problems(snippet_page(body, css=_CUSTOM_CSS)) == []


def test_check_compares_citations_and_exercise_counts(snippet_page) -> None:
    page = snippet_page("<p>As <a class='reference internal' href='../book/references.html#id7'>Goyal et al., 2016</a>"
                        " showed.</p><div class='exercise admonition'><p>Exercise 9</p></div>"
                        + _SOLUTION.format(cls="dropdown", hidden=" style='display: none'"))
    problems = content_problems(page, bibliography={"id7": "Goyal et al., 2017"}, expected=(2, 2))
    assert "citation 'Goyal et al., 2016' links to the entry labelled [Goyal et al., 2017]" in problems
    assert "1 exercises and 1 solutions on the page, the notebook has 2 and 2" in problems
    assert content_problems(page, bibliography={"id7": "Goyal et al., 2016"}, expected=(1, 1)) == []
