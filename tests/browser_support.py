"""What the browser tests share: Debian's Chromium driven by Playwright, a watch on what a page
logs, plotly figures read back from the page, screenshots, and ``timebank serve`` as a process.

Chromium is the distribution's (``apt-get install chromium``), never a Playwright download:
``TIMEBANK_CHROMIUM`` may point elsewhere. Members' names are Chinese, so the screenshots need a
CJK font (``apt-get install fonts-wqy-microhei``), or they show boxes; the run's summary says
when fontconfig knows none. Screenshots go to ``TIMEBANK_SCREENSHOTS``, else to
``artifacts/screenshots/`` in the checkout (git-ignored; CI keeps that folder as an artifact);
the folder is named in the terminal summary of every run that took one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    ViewportSize,
)

#: Debian's chromium package (a shell wrapper around /usr/lib/chromium/chromium).
CHROMIUM = Path(os.environ.get("TIMEBANK_CHROMIUM", "/usr/bin/chromium"))
#: As root (containers, CI) Chromium refuses to start sandboxed; /dev/shm may be small there.
LAUNCH_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}


def launch(playwright: Playwright) -> Browser:
    """Headless Debian Chromium; a clear failure (never a skip) when it is missing."""
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: install Debian's chromium package "
        "(apt-get install --no-install-recommends chromium) or set TIMEBANK_CHROMIUM"
    )
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
    )


# What a page says --------------------------------------------------------------------------


@dataclass
class Watch:
    """Everything a page reports that would mean it is broken: error-level console messages,
    uncaught exceptions, server errors and failed requests.

    ``allow`` holds patterns for errors a test provokes on purpose (a refused action logs the
    refusal); anything else fails :meth:`assert_clean`.
    """

    errors: list[str] = field(default_factory=list)
    allow: list[re.Pattern[str]] = field(default_factory=list)

    def attach(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("response", self._response)
        page.on("requestfailed", self._failed)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "assert"):
            where = message.location.get("url", "")
            self.errors.append(f"console {message.type}: {message.text} ({where})")

    def _response(self, response: Response) -> None:
        if response.status >= 500:
            self.errors.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def _failed(self, request: Request) -> None:
        # A request the browser itself cancels because the page moved on (net::ERR_ABORTED,
        # e.g. the favicon of a page left at once) is not a failure of the server or the page.
        if request.failure == "net::ERR_ABORTED" and request.resource_type not in (
            "document",
            "script",
            "xhr",
            "fetch",
        ):
            return
        self.errors.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allow)]

    def assert_clean(self, what: str) -> None:
        unexpected = self.unexpected()
        assert not unexpected, f"{what}: the page reported errors:\n" + "\n".join(unexpected)


# Plotly figures, as the page drew them -------------------------------------------------------

#: For each plotly graph div (``.js-plotly-plot``) under ``root`` (a CSS selector): its id (or
#: the id of the nearest ancestor that has one: a Dash ``dcc.Graph`` wraps the plot div), its
#: traces, the data points they carry and what was drawn into the SVG.
_FIGURES_JS = """
(root) => {
  const scope = root ? document.querySelector(root) : document;
  if (!scope) return null;
  const length = (value) => {
    if (value == null) return 0;
    if (Array.isArray(value) || ArrayBuffer.isView(value)) return value.length;
    return 0;
  };
  return [...scope.querySelectorAll('.js-plotly-plot')].map((el) => {
    let named = el;
    while (named && !named.id) named = named.parentElement;
    const full = el._fullData || [];
    const points = full.map((t) => Math.max(
      length(t.x), length(t.y), length(t.z), length(t.values), length(t.labels), length(t.ids)
    ));
    return {
      id: named ? named.id : '',
      traces: (el.data || []).length,
      types: full.map((t) => t.type),
      points: points,
      svg: el.querySelectorAll('.main-svg').length,
      drawn: el.querySelectorAll(
        'g.trace, g.slice, .heatmaplayer image, .hm image, .hm'
      ).length,
      title: (el._fullLayout && el._fullLayout.title && el._fullLayout.title.text) || '',
    };
  });
}
"""


def figures(page: Page, root: str | None = None) -> list[dict[str, Any]]:
    """The plotly figures on ``page`` (under the CSS selector ``root``), as drawn."""
    found: list[dict[str, Any]] | None = page.evaluate(_FIGURES_JS, root)
    assert found is not None, f"nothing on the page matches {root!r}"
    return found


def figure_data(page: Page, graph_id: str) -> list[dict[str, Any]]:
    """The traces (type, name, x, y, …; plain lists) plotted in the graph with ``graph_id``
    (the plot div itself, or the Dash ``dcc.Graph`` around it)."""
    data: list[dict[str, Any]] | None = page.evaluate(
        """
        (id) => {
          const outer = document.getElementById(id);
          if (!outer) return null;
          const el = outer.classList.contains('js-plotly-plot')
            ? outer : outer.querySelector('.js-plotly-plot');
          if (!el || !el._fullData) return null;
          const plain = (v) => (ArrayBuffer.isView(v) ? Array.from(v)
            : Array.isArray(v) ? v.map(plain) : v);
          return el._fullData.map((t) => ({
            type: t.type, name: t.name, x: plain(t.x), y: plain(t.y), z: plain(t.z),
            text: plain(t.text), ids: plain(t.ids), labels: plain(t.labels),
            values: plain(t.values),
          }));
        }
        """,
        graph_id,
    )
    assert data is not None, f"no drawn plotly graph #{graph_id} on the page"
    return data


#: True once every graph named (a dcc.Graph id or a plot div id) has drawn traces, and Dash is
#: updating no component.
_GRAPHS_READY_JS = """
(ids) => {
  if (document.querySelector('[data-dash-is-loading="true"]')) return false;
  return ids.every((id) => {
    const outer = document.getElementById(id);
    if (!outer) return false;
    const el = outer.classList.contains('js-plotly-plot')
      ? outer : outer.querySelector('.js-plotly-plot');
    return !!(el && el._fullData && el._fullData.length && el.querySelector('.main-svg'));
  });
}
"""


def wait_for_graphs(page: Page, ids: Collection[str], *, seconds: float = 30) -> None:
    """Wait until the graphs ``ids`` are drawn with traces and no Dash callback is pending."""
    page.wait_for_function(_GRAPHS_READY_JS, arg=list(ids), timeout=seconds * 1000)


def wait_for(page: Page, condition: Callable[[], bool], *, what: str, seconds: float = 30) -> None:
    """Poll ``condition`` (letting the page run in between) until it holds."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}")
        page.wait_for_timeout(100)


def assert_drawn(figure: dict[str, Any], what: str) -> None:
    """One figure has traces, data in them and marks in its SVG."""
    assert figure["traces"] > 0, f"{what}: #{figure['id']} has no traces: {figure}"
    assert max(figure["points"], default=0) > 0, f"{what}: #{figure['id']} plots no data: {figure}"
    assert figure["svg"] > 0, f"{what}: #{figure['id']} was not drawn: {figure}"
    assert figure["drawn"] > 0, f"{what}: #{figure['id']} drew no marks: {figure}"


# Screenshots -------------------------------------------------------------------------------


def screenshot_folder(root: Path) -> Path:
    """``TIMEBANK_SCREENSHOTS`` if set, else ``artifacts/screenshots`` under ``root`` (the
    checkout: pytest's rootpath), where CI keeps them too; created."""
    configured = os.environ.get("TIMEBANK_SCREENSHOTS")
    folder = Path(configured) if configured else root / "artifacts" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder.resolve()


def has_cjk_font() -> bool | None:
    """Whether fontconfig (which Chromium draws text with) knows a font for Chinese; None when
    ``fc-list`` is missing, so it cannot tell."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    listed = subprocess.run(
        [fc_list, ":lang=zh", "family"], capture_output=True, text=True, check=False
    )
    return listed.returncode == 0 and bool(listed.stdout.strip())


class ScreenshotSummary:
    """A pytest plugin, registered by the first test that takes a screenshot: names the folder
    at the end of the run (stdout is captured and warnings are errors, so neither would do),
    and says when the screenshots will show boxes for want of a CJK font."""

    def __init__(self, folder: Path, *, cjk_font: bool | None) -> None:
        self.folder = folder
        self.cjk_font = cjk_font
        self.taken: list[str] = []

    def lines(self) -> list[str]:
        """What the summary says."""
        lines = [f"{len(self.taken)} screenshots in {self.folder}"]
        if self.cjk_font is None:
            lines.append("could not check for a CJK font: fc-list (fontconfig) is missing")
        elif not self.cjk_font:
            lines.append(
                "no CJK font: Chinese names show as boxes in the screenshots "
                "(apt-get install fonts-wqy-microhei)"
            )
        return lines

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_sep("-", "browser screenshots")
        for line in self.lines():
            terminalreporter.write_line(line)


@dataclass
class Screenshots:
    folder: Path
    summary: ScreenshotSummary

    def take(self, page: Page, name: str) -> Path:
        """A full-page screenshot of ``page`` as ``name.png``."""
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0
        self.summary.taken.append(path.name)
        print(f"screenshot: {path}")
        return path


def register_screenshots(config: pytest.Config) -> Screenshots:
    """The run's screenshots, in :func:`screenshot_folder` of the checkout."""
    name = "timebank-browser-screenshots"
    summary = config.pluginmanager.get_plugin(name)
    if summary is None:
        summary = ScreenshotSummary(screenshot_folder(config.rootpath), cjk_font=has_cjk_font())
        config.pluginmanager.register(summary, name)
    assert isinstance(summary, ScreenshotSummary)
    return Screenshots(summary.folder, summary)


# timebank serve ----------------------------------------------------------------------------
