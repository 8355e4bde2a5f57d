"""Where the browser tests' screenshots go, and what the end of the run says about them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.browser_support import ScreenshotSummary, has_cjk_font, screenshot_folder

ROOT = Path(__file__).resolve().parents[1]


class Reporter:
    """What a terminal reporter was asked to write."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_sep(self, sep: str, title: str) -> None:
        self.lines.append(f"{sep * 3} {title} {sep * 3}")

    def write_line(self, line: str) -> None:
        self.lines.append(line)


def test_screenshots_default_to_the_checkouts_artifacts_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TIMEBANK_SCREENSHOTS", raising=False)
    folder = screenshot_folder(tmp_path)
    assert folder == (tmp_path / "artifacts" / "screenshots").resolve()
    assert folder.is_dir()


def test_timebank_screenshots_moves_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIMEBANK_SCREENSHOTS", str(tmp_path / "kept"))
    assert screenshot_folder(tmp_path / "checkout") == (tmp_path / "kept").resolve()
    assert not (tmp_path / "checkout").exists()


def test_the_default_folder_is_ignored_by_git() -> None:
    """Screenshots taken in the checkout never show up as untracked files."""
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "artifacts/screenshots/report-index.png"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, "artifacts/ is not in .gitignore"


def test_the_summary_names_the_folder(tmp_path: Path) -> None:
    summary = ScreenshotSummary(tmp_path, cjk_font=True)
    summary.taken += ["a.png", "b.png"]
    reporter = Reporter()
    summary.pytest_terminal_summary(reporter)
    assert reporter.lines == ["--- browser screenshots ---", f"2 screenshots in {tmp_path}"]


@pytest.mark.parametrize(
    ("cjk_font", "says"),
    [
        (
            False,
            "no CJK font: Chinese names show as boxes in the screenshots "
            "(apt-get install fonts-wqy-microhei)",
        ),
        (None, "could not check for a CJK font: fc-list (fontconfig) is missing"),
    ],
)
def test_the_summary_says_when_names_will_show_as_boxes(
    tmp_path: Path, cjk_font: bool | None, says: str
) -> None:
    assert ScreenshotSummary(tmp_path, cjk_font=cjk_font).lines()[1:] == [says]


def test_a_cjk_font_is_found_when_fontconfig_lists_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Through a stand-in ``fc-list``, so the answer does not depend on this machine's fonts."""
    fc_list = tmp_path / "fc-list"
    for listed, expected in (("echo 'WenQuanYi Micro Hei'\n", True), ("", False)):
        fc_list.write_text(f"#!/bin/sh\n{listed}")
        fc_list.chmod(0o755)
        monkeypatch.setenv("PATH", str(tmp_path))
        assert has_cjk_font() is expected
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert has_cjk_font() is None
