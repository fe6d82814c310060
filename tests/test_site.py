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
- exercise solutions are hidden until their title is clicked, then shown.

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
    errors: Array.from(document.querySelectorAll('mjx-merror')).map(el => el.getAttribute('data-mjx-error') || el.textContent),
    mathjaxLoaded: !!(window.MathJax && MathJax.version),
    leftovers: leftovers,
  };
}
"""

_LINKS = """
() => Array.from(document.querySelectorAll('a[href]')).map(a => ({raw: a.getAttribute('href'), url: a.href}))
"""


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
def test_page_renders_offline(doc: str, open_page, built_site: Path, site_url: str) -> None:
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
