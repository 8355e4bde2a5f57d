"""Finding the shared Bitcoin OTC data: one variable naming one folder, and one line saying
what to set when the data is not where it names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from graph.errors import DatasetError
from graph.shared_data import BITCOIN_OTC_FILES, SHARED_ENV, bitcoin_otc_folder, shared_folder

ROOT = Path(__file__).resolve().parents[1]
#: Where code that might read the variable lives.
SOURCES = ("graph", "dashboards", "tests", "bench", "notebooks")
SUFFIXES = (".py", ".ipynb")
WHAT_TO_SET = "set TIMEBANK_SHARED to the folder that holds data/bitcoin-otc/ (the `shared` folder)"


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """A `shared` folder of our own holding data/bitcoin-otc/ (empty files: only their
    presence is checked)."""
    folder = tmp_path / "elsewhere" / "shared"
    otc = folder / "data" / "bitcoin-otc"
    otc.mkdir(parents=True)
    for name in BITCOIN_OTC_FILES:
        (otc / name).touch()
    return folder


def failure(monkeypatch: pytest.MonkeyPatch, value: Path) -> str:
    monkeypatch.setenv(SHARED_ENV, str(value))
    with pytest.raises(DatasetError) as raised:
        bitcoin_otc_folder()
    message = str(raised.value)
    # One line a log or a script can grep.
    assert "\n" not in message
    return message


def test_unset_means_shared_beside_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SHARED_ENV, raising=False)
    assert shared_folder() == ROOT.parent / "shared"
    expected = ROOT.parent / "shared" / "data" / "bitcoin-otc"
    # Where it looks, whether or not the data is there (the OTC tests fail without it).
    if all((expected / name).is_file() for name in BITCOIN_OTC_FILES):
        assert bitcoin_otc_folder() == expected
    else:
        with pytest.raises(DatasetError) as raised:
            bitcoin_otc_folder()
        assert str(raised.value) == f"Bitcoin OTC data not found at {expected}: {WHAT_TO_SET}"


def test_the_variable_names_the_shared_folder(
    monkeypatch: pytest.MonkeyPatch, shared: Path
) -> None:
    monkeypatch.setenv(SHARED_ENV, str(shared))
    assert bitcoin_otc_folder() == shared / "data" / "bitcoin-otc"


def test_a_relative_folder_is_taken_from_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, shared: Path
) -> None:
    monkeypatch.chdir(shared.parent)
    monkeypatch.setenv(SHARED_ENV, "shared")
    assert bitcoin_otc_folder() == shared / "data" / "bitcoin-otc"


def test_a_missing_folder_says_what_to_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    message = failure(monkeypatch, nowhere)
    expected = nowhere / "data" / "bitcoin-otc"
    assert message == f"Bitcoin OTC data not found at {expected}: {WHAT_TO_SET}"


def test_the_bitcoin_otc_folder_itself_is_named_as_the_mistake(
    monkeypatch: pytest.MonkeyPatch, shared: Path
) -> None:
    otc = shared / "data" / "bitcoin-otc"
    message = failure(monkeypatch, otc)
    assert message == (
        f"Bitcoin OTC data not found at {otc / 'data' / 'bitcoin-otc'}: "
        f"TIMEBANK_SHARED={otc} is the bitcoin-otc folder itself, not the `shared` folder that "
        f"holds data/bitcoin-otc/: set TIMEBANK_SHARED={shared}"
    )


def test_the_data_folder_is_named_as_the_mistake(
    monkeypatch: pytest.MonkeyPatch, shared: Path
) -> None:
    message = failure(monkeypatch, shared / "data")
    assert f"TIMEBANK_SHARED={shared / 'data'} is the data folder" in message
    assert message.endswith(f": set TIMEBANK_SHARED={shared}")


def test_the_files_alone_in_another_folder_are_named_as_the_mistake(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Renamed or copied alone, the files have no `shared` folder to suggest: say the layout."""
    copy = tmp_path / "otc-copy"
    copy.mkdir()
    for name in BITCOIN_OTC_FILES:
        (copy / name).touch()
    message = failure(monkeypatch, copy)
    assert f"TIMEBANK_SHARED={copy} is the bitcoin-otc folder itself" in message
    assert message.endswith(WHAT_TO_SET)


def test_a_missing_file_is_named(monkeypatch: pytest.MonkeyPatch, shared: Path) -> None:
    (shared / "data" / "bitcoin-otc" / "ground_truth.csv").unlink()
    message = failure(monkeypatch, shared)
    assert message == (
        f"Bitcoin OTC data not found at {shared / 'data' / 'bitcoin-otc'}: "
        f"no ground_truth.csv in it; {WHAT_TO_SET}"
    )


def test_the_variable_is_read_in_one_place() -> None:
    """Tests, benchmarks and notebooks call bitcoin_otc_folder() rather than each reading the
    variable (three readers once disagreed about what it names)."""
    readers = []
    for path in sorted(p for d in SOURCES for p in (ROOT / d).rglob("*") if p.suffix in SUFFIXES):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            cells = json.loads(text)["cells"]
            text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        if re.search(r"""["']TIMEBANK_SHARED["']""", text):
            readers.append(path.relative_to(ROOT).as_posix())
    assert readers == ["graph/shared_data.py"]
