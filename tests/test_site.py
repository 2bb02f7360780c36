"""The built book, as a reader sees it: built with warnings as errors, served
on 127.0.0.1, opened in a real headless Chromium (Debian's), every page of
the table of contents checked. Screenshots land in $NIN_ARTIFACTS
(default: _build/test-artifacts)."""

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
import yaml

from nin_repro.book import plots
from nin_repro.book.claims import CLAIMS

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("NIN_ARTIFACTS") or REPO / "_build" / "test-artifacts")
WIDTHS = (1280, 390)  # a desktop window and a phone
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def toc_pages() -> list[str]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [c["file"] for c in part["chapters"]]
    return [p + ".html" for p in pages]


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).parent / "jupyter-book"
    proc = subprocess.run([str(jb), "build", str(REPO), "--path-output", str(out), "--warningiserror"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out / "_build" / "html"


def test_book_builds_without_warnings_from_committed_outputs(built_book):
    for page in toc_pages():
        assert (built_book / page).exists(), page


def uncaptioned_figures(html: str) -> list[str]:
    """The images of a page's article that are not in a <figure> with a
    non-empty caption, or whose alt text is no description (empty, or the
    file's own path: what myst-nb writes for a bare output), by their alt."""
    from bs4 import BeautifulSoup  # pydata-sphinx-theme's dependency: the book's build needs it anyway

    article = BeautifulSoup(html, "html.parser").find("article", class_="bd-article")
    bad = []
    for img in article.find_all("img") if article else []:
        figure, alt = img.find_parent("figure"), (img.get("alt") or "").strip()
        caption = figure.find("figcaption") if figure else None
        if not (caption and caption.get_text(strip=True).removeprefix("Fig.").strip(" .0123456789")) \
                or not alt or alt.endswith((".png", ".svg", ".jpg")):
            bad.append(alt or img.get("src", "?"))
    return bad


def test_the_caption_check_catches_a_bare_image_and_a_hash_for_alt_text():
    page = '<article class="bd-article">{}</article>'
    good = '<figure><img alt="Error per epoch" src="a.png"><figcaption><p>Fig. 1 Error per epoch.</p></figcaption></figure>'
    assert uncaptioned_figures(page.format(good)) == []
    assert uncaptioned_figures(page.format('<img alt="../_images/ab12.png" src="ab12.png">')) == ["../_images/ab12.png"]
    assert uncaptioned_figures(page.format(good.replace("Error per epoch.", ""))) == ["Error per epoch"]
    assert uncaptioned_figures(page.format(good.replace('alt="Error per epoch"', 'alt=""'))) == ["a.png"]


def test_every_figure_of_the_book_has_a_caption_and_alt_text(built_book):
    # a figure a chapter draws is a code cell's output: glued and pasted with `{glue:figure}` and its
    # caption (tests/test_notebooks.py checks the sources), never shown bare
    bad = {page: found for page in toc_pages() if (found := uncaptioned_figures((built_book / page).read_text()))}
    assert bad == {}, "figures without a caption or a description for alt text"


@pytest.fixture(scope="module")
def server(built_book):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (apt-get install -y chromium)")
        pytest.skip("no chromium on this machine")
    from playwright import sync_api  # a test dependency (pyproject's [test]): missing, the test fails
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def browser_context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context
    context.close()


@pytest.fixture(scope="module")
def phone_context(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    yield context
    context.close()


# Every code block and table of the page that is wider than its box: a code
# block that scrolls, or a table wider than the container it scrolls in.
OVERFLOW_JS = """() => Array.from(document.querySelectorAll('.bd-article pre, .bd-article table')).map(el => {
    const box = el.tagName === 'TABLE'
        ? (el.closest('.pst-scrollable-table-container, .cell_output, .output') || el.parentElement) : el;
    return [el.tagName, box.scrollWidth, box.clientWidth, (el.innerText || '').slice(0, 80)];
}).filter(([tag, scroll, client]) => scroll > client + 1)"""


def open_page(context, url):
    """Load a page; return it with the console errors and page errors it raised.
    Requests to other hosts (CDNs for MathJax and friends) are answered empty:
    this machine has no internet, and they are not part of the site."""
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    host = urlparse(url).netloc
    page.route("**/*", lambda route: route.continue_() if urlparse(route.request.url).netloc == host
               else route.fulfill(status=200, body="", content_type="text/plain"))
    response = page.goto(url, wait_until="load")
    page.wait_for_timeout(300)
    return page, response, errors


@pytest.mark.parametrize("page_path", toc_pages())
def test_every_page_loads_cleanly_with_images_and_working_links(browser_context, phone_context, server, page_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, context in zip(WIDTHS, (browser_context, phone_context)):
        page, response, errors = open_page(context, urljoin(server, page_path))
        try:
            assert response.status == 200
            assert errors == [], f"{page_path} at {width} px"
            images = page.evaluate("Array.from(document.images).map(i => [i.currentSrc || i.src, i.naturalWidth])")
            broken = [src for src, w in images if w == 0]
            assert broken == []
            page.screenshot(path=str(ARTIFACTS / f"{page_path.replace('/', '_')[:-5]}_{width}.png"), full_page=True)
            if width != 1280:
                continue
            hrefs = page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
            internal = {h.split("#")[0] for h in hrefs if urlparse(h).netloc == urlparse(server).netloc}
            dead = [h for h in sorted(internal) if page.request.get(h).status != 200]
            assert dead == []
            # at desktop width every code block and table fits its box (on a phone they scroll inside it)
            assert page.evaluate(OVERFLOW_JS) == [], page_path
        finally:
            page.close()


def test_the_intro_is_the_one_page_summary_and_the_discussion_does_not_repeat_it(browser_context, server):
    page, _, _ = open_page(browser_context, urljoin(server, "notebooks/intro.html"))
    try:
        abstract = page.evaluate("Array.from(document.querySelectorAll('.bd-article ol')).map(o => o.innerText)")
        assert abstract and all(k in abstract[0] for k in ("What was run", "Data", "Headline", "Comparisons",
                                                          "Verdicts", "Easy, hard")), abstract
        # the data copies; which way each row fell from the paper's (lower, not "better": one seed)
        assert "JPEG" in abstract[0] and "lower" in abstract[0] and "better" not in abstract[0]
        assert page.evaluate("document.querySelector('.bd-article ol').children.length") == 6
        tables = page.evaluate("Array.from(document.querySelectorAll('.bd-article table')).map(t => "
                               "[Array.from(t.querySelectorAll('thead th')).map(th => th.innerText.trim()), "
                               "t.querySelectorAll('tbody tr').length, t.innerText])")
        # one table, the claims: each with its verdict and the paper's number beside ours (the README's
        # headline table would repeat the error claims' rows)
        assert [(head[:4], rows) for head, rows, _ in tables] == [(["claim", "verdict", "paper", "ours"], len(CLAIMS))]
        for claim in (c for c in CLAIMS if c.kind == "error"):
            assert claim.paper.split("%")[0] in tables[0][2], claim.label
    finally:
        page.close()
    page, _, _ = open_page(browser_context, urljoin(server, "notebooks/summary.html"))
    try:
        assert page.evaluate("document.querySelectorAll('.bd-article ol').length") == 0
        heads = page.evaluate("Array.from(document.querySelectorAll('.bd-article thead')).map(t => t.innerText)")
        assert not any(h.startswith("claim") for h in heads)
    finally:
        page.close()


def test_notebook_chapters_show_their_figures(browser_context, server):
    for chapter in ("notebooks/mnist.html", "notebooks/method.html", "notebooks/budget.html"):
        page, _, _ = open_page(browser_context, urljoin(server, chapter))
        widths = page.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
        page.close()
        assert any(w > 200 for w in widths), f"{chapter} shows no figure"


# Length budgets, in screens of 900 px at 1280 px: a table or figure chapter
# holds its full-length result, its figure, the sentence that decides the
# claim and the spread behind it; Method the net and the protocols; the whole
# book about a third of the 90 screens it once ran to.
SCREEN = 900
BOOK_SCREENS = 35
CHAPTER_SCREENS = {f"notebooks/{name}.html": 4 for name in
                   ("cifar10", "cifar100", "svhn", "mnist", "table5_heads", "figure4_dropout", "figure5_maps")}
CHAPTER_SCREENS["notebooks/method.html"] = 5
# A table cell's height in lines of its own text.
CELL_LINES_JS = """() => Array.from(document.querySelectorAll('.bd-article td, .bd-article th')).map(c => {
    const cs = getComputedStyle(c);
    const line = parseFloat(cs.lineHeight) || 1.5 * parseFloat(cs.fontSize);
    const h = c.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom);
    return [Math.round(h / line), (c.innerText || '').slice(0, 60)];
}).filter(([lines]) => lines > 3)"""


# The figures as shown: each at its own size or larger (its text then no
# smaller than plots.MIN_TEXT_PT at plots.DPI, which test_figures checks), and
# the book's small print, the smallest text a page sets outside code, no
# larger than that.
FIGURES_JS = """() => {
    const article = document.querySelector('.bd-article');
    const shrunk = Array.from(article.querySelectorAll('img')).filter(i => i.naturalWidth > 200
        && i.clientWidth < i.naturalWidth - 1).map(i => [i.naturalWidth, i.clientWidth]);
    const sizes = Array.from(article.querySelectorAll('*')).filter(el => el.offsetParent !== null
        && !el.closest('pre, code, .pre, .headerlink')
        && Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim()))
        .map(el => parseFloat(getComputedStyle(el).fontSize));
    return {shrunk, small_print: Math.min(...sizes)};
}"""


def over_budget(heights: dict[str, float]) -> list[str]:
    """The pages (and the book) past their length budget, in screens."""
    over = [f"{page}: {heights[page]:.1f} screens > {limit}" for page, limit in CHAPTER_SCREENS.items()
            if heights.get(page, 0) > limit]
    total = sum(heights.values())
    return over + ([f"the book: {total:.1f} screens > {BOOK_SCREENS}"] if total > BOOK_SCREENS else [])


def test_the_length_budget_catches_a_long_page_and_a_long_book():
    fits = dict.fromkeys(toc_pages(), 1.0)
    assert over_budget(fits) == []
    assert over_budget({**fits, "notebooks/method.html": 5.2}) == ["notebooks/method.html: 5.2 screens > 5"]
    assert over_budget({**fits, "notebooks/runs.html": BOOK_SCREENS})[-1].startswith("the book:")


def test_every_page_fits_its_length_no_table_cell_wraps_past_three_lines_and_figures_show_at_size(
        browser_context, server):
    heights, wrapped, shrunk, small_print = {}, {}, {}, {}
    for page_path in toc_pages():
        page, _, _ = open_page(browser_context, urljoin(server, page_path))
        try:
            heights[page_path] = page.evaluate("document.documentElement.scrollHeight") / SCREEN
            cells = page.evaluate(CELL_LINES_JS)
            if cells:
                wrapped[page_path] = cells
            figures = page.evaluate(FIGURES_JS)
            if figures["shrunk"]:
                shrunk[page_path] = figures["shrunk"]
            small_print[page_path] = figures["small_print"]
        finally:
            page.close()
    assert over_budget(heights) == [], {p: round(h, 1) for p, h in heights.items()}
    assert wrapped == {}
    assert shrunk == {}, "figures shown smaller than drawn (natural, shown width), so their text shrinks"
    # the book's small print (table cells, notes: the smallest text any page sets outside code)
    assert min(small_print.values()) <= plots.MIN_TEXT_PT * plots.DPI / 72, small_print
