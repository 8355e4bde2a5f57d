"""Where the shared read-only data lives: the real Bitcoin OTC network and its fraud labels.

The data is not in the checkout. It sits in a ``shared`` folder — ``shared/data/bitcoin-otc/``
beside the checkout, as in CI — and ``TIMEBANK_SHARED`` names that ``shared`` folder when it
is elsewhere. The tests, ``bench/bench_trust.py`` and the growth-study notebook all find it
through :func:`bitcoin_otc_folder`.
"""

from __future__ import annotations

import os
from pathlib import Path

from graph.errors import DatasetError

__all__ = ["BITCOIN_OTC_FILES", "SHARED_ENV", "bitcoin_otc_folder", "shared_folder"]

#: The variable naming the ``shared`` folder (the one that holds ``data/bitcoin-otc/``).
SHARED_ENV = "TIMEBANK_SHARED"
#: SNAP's signed edge list (``source,target,rating,time``) and REV2's labels (``node,label``).
BITCOIN_OTC_FILES = ("network.csv", "ground_truth.csv")
_WHAT_TO_SET = f"set {SHARED_ENV} to the folder that holds data/bitcoin-otc/ (the `shared` folder)"


def shared_folder() -> Path:
    """The ``shared`` folder: ``$TIMEBANK_SHARED`` when set, else ``shared`` beside the checkout
    this package is installed from (the editable install the README uses)."""
    configured = os.environ.get(SHARED_ENV)
    if configured:
        return Path(configured).expanduser().absolute()
    return Path(__file__).resolve().parents[2] / "shared"


def bitcoin_otc_folder() -> Path:
    """The Bitcoin OTC folder, ``<shared>/data/bitcoin-otc``, checked to hold its two files.

    Raises
    ------
    DatasetError
        When the files are not there, with one line saying what to set — and, when
        ``TIMEBANK_SHARED`` names the ``bitcoin-otc`` or ``data`` folder instead of ``shared``,
        which folder it should name.
    """
    shared = shared_folder()
    folder = shared / "data" / "bitcoin-otc"
    missing = [name for name in BITCOIN_OTC_FILES if not (folder / name).is_file()]
    if not missing:
        return folder
    if os.environ.get(SHARED_ENV):
        wrong = _wrong_folder(shared)
        if wrong is not None:
            raise DatasetError(f"Bitcoin OTC data not found at {folder}: {wrong}")
    if folder.is_dir():
        raise DatasetError(
            f"Bitcoin OTC data not found at {folder}: no {' or '.join(missing)} in it; "
            f"{_WHAT_TO_SET}"
        )
    raise DatasetError(f"Bitcoin OTC data not found at {folder}: {_WHAT_TO_SET}")


def _wrong_folder(given: Path) -> str | None:
    """What to say when ``TIMEBANK_SHARED`` (``given``) names a folder inside ``shared`` — the
    ``bitcoin-otc`` folder itself, or the ``data`` folder holding it — else None."""
    if given.name == "bitcoin-otc" or (given / BITCOIN_OTC_FILES[0]).is_file():
        what, meant = "the bitcoin-otc folder itself", given.parent.parent
    elif (given / "bitcoin-otc").is_dir():
        what, meant = "the data folder", given.parent
    else:
        return None
    found = all((meant / "data" / "bitcoin-otc" / name).is_file() for name in BITCOIN_OTC_FILES)
    fix = f"set {SHARED_ENV}={meant}" if found else _WHAT_TO_SET
    return (
        f"{SHARED_ENV}={given} is {what}, not the `shared` folder that holds "
        f"data/bitcoin-otc/: {fix}"
    )
