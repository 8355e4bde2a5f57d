"""Tier policies as TOML files: the shipped default, and reading and checking your own.

This is the I/O edge of tier eligibility: :func:`load_policy` reads a file (or the default
shipped in the package, ``graph/policies/default.toml``) and :func:`parse_policy` turns TOML
text into a validated :class:`~graph.metrics.tiers.Policy` for
:func:`graph.metrics.tiers.tiers`. The CLI takes a replacement with ``--policy FILE``.

The format
----------
::

    name = "pilot-2026"                       # optional: shown in reports
    description = "Stricter trust for heads"  # optional

    [tiers.time_volunteer]                    # every tier, in ladder order
    activated = true                          # required on the first tier
    hours_given_outside_downline = 2

    [tiers.community_head]
    hours_given_outside_downline = 20         # hours (a number ≥ 0)
    people_helped_outside_downline = 5        # members (an integer ≥ 0)
    active_referrals = 1                      # referrals (an integer ≥ 0)
    tenure_days = 90                          # days (a number ≥ 0)
    trust_percentile = 50                     # a number from 0 to 100 (100 = most trusted)
    no_open_fraud_ring = true                 # true or false

    [tiers.symbiotic_member]
    # ...

    [tiers.city_partner]
    # ...

A requirement is met when the member's measured value is at least the threshold; a flag set
to ``true`` must hold (``false`` is the same as leaving the key out). The requirement kinds
are the closed set of :data:`~graph.metrics.tiers.REQUIREMENT_KINDS`; their meaning is in
:mod:`graph.metrics.tiers`. Each tier requires the one below, so a tier lists only what it
adds: leaving a kind out of a tier keeps the requirement of the tiers below.

Rules, each a :class:`~graph.errors.PolicyError` naming the file and the key
(``policy.toml: tiers.community_head.active_referrals: expected a non-negative integer, got
'three'``):

- the file is UTF-8 TOML with only the top-level keys ``name``, ``description`` (strings) and
  ``tiers`` (a table);
- ``tiers`` holds exactly the four tiers, each a table, written in ladder order
  (``time_volunteer``, ``community_head``, ``symbiotic_member``, ``city_partner``) so that
  the file reads the way members climb — an unknown, missing or out-of-order tier is an error;
- a tier holds only requirement kinds, each with a threshold of the kind's type and range;
- ``time_volunteer`` sets ``activated = true`` (a tier is held only with the 1-yuan account);
- no tier states a *looser* threshold than a tier below it (an error rather than a warning:
  since a tier requires the ones below, the looser threshold would silently never apply).
"""

from __future__ import annotations

import difflib
import tomllib
from importlib import resources
from pathlib import Path

from graph.errors import PolicyError
from graph.metrics.tiers import REQUIREMENT_KINDS, TIERS, Policy, Requirements

__all__ = ["DEFAULT_POLICY", "PolicyError", "default_policy_text", "load_policy", "parse_policy"]

#: Where the shipped default policy lives inside the ``graph`` package.
DEFAULT_POLICY = "policies/default.toml"
_TOP_LEVEL = ("name", "description", "tiers")


def default_policy_text() -> str:
    """The shipped default policy file, comments and all (a template for your own)."""
    return resources.files("graph").joinpath(DEFAULT_POLICY).read_text(encoding="utf-8")


def load_policy(path: Path | str | None = None) -> Policy:
    """Read and validate a tier policy file; None reads the shipped default.

    Parameters
    ----------
    path
        A TOML policy file (format in the module documentation), or None.

    Returns
    -------
    Policy

    Raises
    ------
    PolicyError
        The file cannot be read or breaks a rule; the message names the file and the key.

    Examples
    --------
    >>> policy = load_policy()
    >>> policy.name
    'default'
    >>> policy.tier("time_volunteer").activated
    True
    """
    if path is None:
        return parse_policy(default_policy_text(), source=f"graph/{DEFAULT_POLICY}")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise PolicyError(f"not UTF-8 text ({error.reason})", source=str(path)) from None
    except OSError as error:
        raise PolicyError(f"cannot read the file ({error.strerror})", source=str(path)) from None
    return parse_policy(text, source=str(path))


def parse_policy(text: str, *, source: str = "<policy>") -> Policy:
    """A validated :class:`~graph.metrics.tiers.Policy` from TOML text.

    Parameters
    ----------
    text
        The policy in TOML (format in the module documentation).
    source
        What error messages call the text, usually its file name.

    Raises
    ------
    PolicyError
        The text is not TOML or breaks a rule of the format.

    Examples
    --------
    >>> parse_policy('''
    ... [tiers.time_volunteer]
    ... activated = true
    ... [tiers.community_head]
    ... active_referrals = "three"
    ... [tiers.symbiotic_member]
    ... [tiers.city_partner]
    ... ''', source="policy.toml")
    Traceback (most recent call last):
    ...
    graph.errors.PolicyError: policy.toml: tiers.community_head.active_referrals: expected a non-negative integer, got 'three'
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"not valid TOML: {error}", source=source) from None

    def fail(reason: str, key: str | None = None) -> PolicyError:
        return PolicyError(reason, source=source, key=key)

    for key in document:
        if key not in _TOP_LEVEL:
            raise fail(f"unknown key{_suggest(key, _TOP_LEVEL)}", key)
    labels: dict[str, str] = {}
    for key in ("name", "description"):
        value = document.get(key, "")
        if not isinstance(value, str):
            raise fail(f"expected a string, got {value!r}", key)
        labels[key] = value
    tiers = document.get("tiers")
    if not isinstance(tiers, dict):
        reason = "missing" if tiers is None else f"expected a table, got {tiers!r}"
        raise fail(f"{reason}; a policy has a [tiers.<tier>] table for each tier", "tiers")

    for name in tiers:
        if name not in TIERS:
            raise fail(
                f"unknown tier{_suggest(name, TIERS)}; the tiers are {', '.join(TIERS)}",
                f"tiers.{name}",
            )
    for name in TIERS:
        if name not in tiers:
            raise fail("missing; a policy sets the requirements of every tier", f"tiers.{name}")
    for written, expected in zip(tiers, TIERS, strict=True):
        if written != expected:
            raise fail(
                f"out of order: tiers are written in ladder order, {' → '.join(TIERS)}",
                f"tiers.{written}",
            )

    requirements: dict[str, Requirements] = {}
    for name in TIERS:
        table = tiers[name]
        if not isinstance(table, dict):
            raise fail(f"expected a table of requirements, got {table!r}", f"tiers.{name}")
        for kind in table:
            if kind not in REQUIREMENT_KINDS:
                raise fail(
                    f"unknown requirement{_suggest(kind, REQUIREMENT_KINDS)}; the requirements "
                    f"are {', '.join(REQUIREMENT_KINDS)}",
                    f"tiers.{name}.{kind}",
                )
        # Thresholds go in unchecked: Policy's validation checks them and names the key, for
        # policies built in Python and read from files alike.
        requirements[name] = Requirements(**table)
    try:
        return Policy(
            time_volunteer=requirements["time_volunteer"],
            community_head=requirements["community_head"],
            symbiotic_member=requirements["symbiotic_member"],
            city_partner=requirements["city_partner"],
            name=labels["name"],
            description=labels["description"],
        )
    except PolicyError as error:
        raise fail(error.reason, error.key) from None


def _suggest(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]}?)" if close else ""
