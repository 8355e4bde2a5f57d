"""``timebank`` command line: each command opens a store, calls one library function, prints.

Exit status: 0 success; 1 some input rows were rejected (the good ones were kept); 2 usage
errors and input that cannot be read at all (nothing was written).

Only typer, rich's console and light modules of this package are imported up front; each command
imports the analytics, pandas, the stores and the Neo4j driver in its body, so ``--help`` and
usage errors answer at once.
"""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from graph import neo4j_server
from graph.errors import TimebankError
from graph.schema import RingStatus

if TYPE_CHECKING:
    import pandas as pd

    from graph.ingest import IngestReport, RawDataset
    from graph.metrics.growth import Ledger
    from graph.store import GraphStore


# rich_markup_mode=None: click's plain help and usage errors, not typer's rich panels. Those give
# every flag, --help included, a `<bool>` type (typer 0.29 shows a flag's type as if it took a
# value) and fold usage errors inside an 80-column box.
app = typer.Typer(
    help="Graph analytics for time-bank trust networks.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _group(name: str, description: str) -> typer.Typer:
    """A command group of ``app``, with the same plain help."""
    group = typer.Typer(help=description, no_args_is_help=True, rich_markup_mode=None)
    app.add_typer(group, name=name)
    return group


#: Messages for people, on stderr. soft_wrap: each is one line whatever the width (rich folds
#: at 80 columns in a pipe or a log), so a script can grep it.
console = Console(stderr=True, soft_wrap=True)
#: Results on stdout, likewise never folded mid-line; tables still fit the width.
stdout = Console(soft_wrap=True)

EXIT_REJECTS = 1
EXIT_USAGE = 2


class LedgerKind(StrEnum):
    """How ``timebank analyze`` books help (see graph.metrics.growth)."""

    minting = "minting"
    classic = "classic"


class Role(StrEnum):
    """API roles (see graph.config.ROLES)."""

    viewer = "viewer"
    reviewer = "reviewer"
    admin = "admin"


class InputFormat(StrEnum):
    """What ``timebank ingest`` reads."""

    dataset = "dataset"
    snap = "snap"


StoreOption = Annotated[
    str,
    typer.Option(
        "--store",
        metavar="STORE",
        help="A store file, 'neo4j' (NEO4J_URI or the local server) or a bolt:// / neo4j:// "
        "URI. Only ingest creates a store file; other commands refuse one that does not exist.",
    ),
]
EncodingOption = Annotated[
    str,
    typer.Option(
        "--encoding",
        metavar="ENCODING",
        help="Encoding of the CSV files, e.g. gbk for GBK exports.",
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="DATE",
        help="The network as it stood at the start of this date (UTC), or at this time.",
    ),
]
PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy", metavar="FILE", help="Tier policy TOML (default: the shipped policy)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
LedgerOption = Annotated[LedgerKind, typer.Option("--ledger", help="As for `timebank analyze`.")]


def _fail(message: str) -> NoReturn:
    """End the command with status 2 and a one-line message (markup in it is shown as is)."""
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(EXIT_USAGE)


@contextmanager
def _errors_as_exit() -> Iterator[None]:
    """Library errors end the command with a one-line message and status 2, never a traceback."""
    try:
        yield
    except TimebankError as error:
        _fail(str(error))


@contextmanager
def _open(location: str, *, create: bool = False) -> Iterator[GraphStore]:
    """The store at ``location``; a missing store file is refused unless ``create``."""
    from graph.store import open_store

    with _errors_as_exit(), open_store(location, create=create) as store:
        yield store


def _read(source: Path, source_format: InputFormat, *, encoding: str) -> RawDataset:
    """Read the input before any store is opened, so input that cannot be read creates none."""
    from graph.ingest import read_dataset, read_snap

    with _errors_as_exit():
        if source_format is InputFormat.snap:
            return read_snap(source, encoding=encoding)
        return read_dataset(source, encoding=encoding)


def _ingest_with_progress(raw: RawDataset, store: GraphStore) -> IngestReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from graph.ingest import ingest

    with Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=total)
            bar.update(tasks[table], completed=done)

        with _errors_as_exit():
            return ingest(raw, store, progress=progress)


def _print_report(report: IngestReport, rejects_path: Path | None) -> None:
    from rich.table import Table

    table = Table("table", "read", "inserted", "unchanged", "duplicates", "rejected")
    for name, counts in report.tables.items():
        table.add_row(name, *(f"{value:,}" for value in vars(counts).values()))
    console.print(table)
    for ignored in report.ignored_files:
        console.print(f"[yellow]ignored[/yellow] {escape(ignored)}: not a schema file")
    if report.all_accepted:
        return
    rejected = sum(counts.rejected for counts in report.tables.values())
    console.print(f"[yellow]{rejected:,} rows rejected[/yellow]; good rows were kept.")
    if rejects_path is None:
        for row in report.rejects.head(10).itertuples(index=False):
            console.print(
                f"  {row.file}:{row.line} {row.column}={row.value!r}: {row.reason}",
                highlight=False,
                markup=False,
            )
        if len(report.rejects) > 10:
            console.print(
                f"  … {len(report.rejects) - 10:,} more; write them all with --rejects FILE.csv"
            )
    else:
        console.print(f"Rejects written to {rejects_path}", markup=False)


def _write_rejects(report: IngestReport, path: Path | None) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        report.rejects.to_csv(path, index=False)


@app.command("ingest")
def ingest_command(
    data_dir: Annotated[
        Path,
        typer.Argument(
            metavar="DATA_DIR",
            help="Dataset folder (members.csv, sessions.csv, …), or a SNAP file with --format snap.",
        ),
    ],
    store: StoreOption,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects",
            metavar="FILE",
            help="Write rejected rows here (file,line,column,value,reason).",
        ),
    ] = None,
    encoding: EncodingOption = "utf-8",
    source_format: Annotated[
        InputFormat,
        typer.Option(
            "--format",
            help="dataset: a folder in the timebank schema; snap: a SNAP signed edge list "
            "(source,target,rating,time), each rating read as one confirmed hour of help.",
        ),
    ] = InputFormat.dataset,
) -> None:
    """Validate a dataset and add its good rows to a store, creating the store if it does not
    exist (idempotent). Input that cannot be read at all writes nothing and creates no store."""
    raw = _read(data_dir, source_format, encoding=encoding)
    with _open(store, create=True) as opened:
        report = _ingest_with_progress(raw, opened)
    _write_rejects(report, rejects)
    _print_report(report, rejects)
    if not report.all_accepted:
        raise typer.Exit(EXIT_REJECTS)


@app.command()
def stats(store: StoreOption, as_json: JsonOption = False) -> None:
    """Count members, sessions, referrals and redemptions in a store."""
    from rich.table import Table

    with _open(store) as opened:
        counts = opened.counts()
    if as_json:
        typer.echo(json.dumps(counts))
        return
    table = Table("", "count")
    for name, value in counts.items():
        table.add_row(name, f"{value:,}")
    stdout.print(table)


def _parse_as_of(value: str | None) -> pd.Timestamp | None:
    import pandas as pd

    if value is None:
        return None
    try:
        return pd.Timestamp(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 date: {value!r}", param_hint="--as-of") from None


@app.command()
def analyze(
    data_dir: Annotated[
        Path | None,
        typer.Argument(metavar="DATA_DIR", help="Dataset folder to validate and analyse."),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Folder for the result files.")
    ] = Path("out"),
    store: Annotated[
        str | None,
        typer.Option(
            "--store", metavar="STORE", help="Analyse this (existing) store instead of a folder."
        ),
    ] = None,
    as_of: AsOfOption = None,
    encoding: EncodingOption = "utf-8",
    policy: PolicyOption = None,
    ledger: Annotated[
        LedgerKind,
        typer.Option(
            "--ledger",
            help="minting: helpers' credits are new (the 同壹 model); classic: recipients pay.",
        ),
    ] = LedgerKind.minting,
) -> None:
    """Run every analytic and write into --out: trust.csv, fanout.csv, pyramid.csv, claims.csv,
    risk.csv, tiers.csv, growth.csv and cohorts.csv (one row per member, member with an
    implausible claim, or period), rings.json (the fraud-ring review queue) and summary.json
    (counts, the data's time resolution, timings); rejects.csv too when rows of DATA_DIR are
    rejected."""
    if (data_dir is None) == (store is None):
        raise typer.BadParameter("give a DATA_DIR or --store, not both", param_hint="DATA_DIR")
    from graph.analyze import analyze as run_analyze
    from graph.policy import load_policy
    from graph.store import SqliteStore

    moment = _parse_as_of(as_of)
    with _errors_as_exit():
        tier_policy = load_policy(policy)
    settings: dict[str, Any] = {"policy": tier_policy, "ledger": ledger.value}
    if store is not None:
        with _open(store) as opened, _errors_as_exit():
            run = run_analyze(opened, out, as_of=moment, **settings)
        console.print(
            f"Wrote {', '.join(run.summary['files'])} and summary.json to {out}", markup=False
        )
        return
    assert data_dir is not None
    started = time.perf_counter()
    raw = _read(data_dir, InputFormat.dataset, encoding=encoding)
    read_seconds = time.perf_counter() - started
    with SqliteStore(":memory:") as scratch:
        report = _ingest_with_progress(raw, scratch)
        rejects = out / "rejects.csv" if not report.all_accepted else None
        with _errors_as_exit():
            run = run_analyze(
                scratch,
                out,
                as_of=moment,
                write_back=False,
                **settings,
                seconds={"read": read_seconds, "ingest": report.seconds},
                extra_summary={"ingest": report.to_dict()},
            )
    _write_rejects(report, rejects)
    _print_report(report, rejects)
    console.print(
        f"Wrote {', '.join(run.summary['files'])} and summary.json to {out}", markup=False
    )
    if not report.all_accepted:
        raise typer.Exit(EXIT_REJECTS)


@app.command("tiers")
def tiers_command(
    store: StoreOption,
    policy: PolicyOption = None,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare", help="Show how members would move from --current to --policy (what-if)."
        ),
    ] = False,
    current: Annotated[
        Path | None,
        typer.Option(
            "--current",
            metavar="FILE",
            help="With --compare: the policy in force (default: shipped).",
        ),
    ] = None,
    as_of: AsOfOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Members per tier under a policy, or with --compare how many move under a new one."""
    if current is not None and not compare:
        raise typer.BadParameter("--current needs --compare", param_hint="--current")
    from rich.table import Table

    from graph.analyze import compare_tier_policies, tier_measures
    from graph.metrics.tiers import TIER_LEVELS, assign_tiers
    from graph.policy import load_policy

    moment = _parse_as_of(as_of)
    with _open(store) as opened, _errors_as_exit():
        new_policy = load_policy(policy)
        old_policy = load_policy(current) if compare else None
        snapshot = opened.snapshot(as_of=moment)
    if old_policy is None:
        assigned = assign_tiers(tier_measures(snapshot), policy=new_policy)
        counts = assigned["tier"].value_counts().reindex(TIER_LEVELS, fill_value=0)
        if as_json:
            typer.echo(json.dumps({str(tier): int(n) for tier, n in counts.items()}))
            return
        table = Table("tier", "members")
        for tier, n in counts.items():
            table.add_row(str(tier), f"{int(n):,}")
        console.print(table)
        return
    comparison = compare_tier_policies(snapshot, current=old_policy, alternative=new_policy)
    if as_json:
        typer.echo(json.dumps(comparison.as_dict()))
        return
    table = Table("tier", "current", "new", "change")
    for tier, row in comparison.counts.iterrows():
        cells = [f"{int(v):+,}" if k == "change" else f"{int(v):,}" for k, v in row.items()]
        table.add_row(str(tier), *cells)
    console.print(table)
    console.print(
        f"{comparison.moved_up:,} members move up, {comparison.moved_down:,} move down, "
        f"{comparison.unchanged:,} stay."
    )


@app.command()
def generate(
    members: Annotated[
        int, typer.Option("--members", metavar="N", min=1, help="Number of members.")
    ],
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Folder to write the dataset into.")
    ],
    seed: Annotated[
        int, typer.Option("--seed", metavar="N", help="Random seed; same seed, same files.")
    ] = 0,
    sessions_per_member: Annotated[
        float,
        typer.Option(
            "--sessions-per-member", metavar="N", min=0.0, help="Average sessions per member."
        ),
    ] = 10.0,
    adapt: Annotated[
        list[str] | None,
        typer.Option(
            "--adapt",
            metavar="NAME",
            help="Fraud that adapts to detection: slow, aged, recruited, padded, or all; "
            "repeat to combine.",
        ),
    ] = None,
    honest_cohorts: Annotated[
        int | None,
        typer.Option(
            "--honest-cohorts",
            metavar="N",
            min=0,
            help="Cohorts of four honest friends joining together (default: none, or as many "
            "as of each fraud kind with --adapt).",
        ),
    ] = None,
) -> None:
    """Generate a realistic time bank with planted fraud (truth in truth.json)."""
    from graph.generate import ADAPTATIONS, GeneratorParams, write_dataset
    from graph.generate import generate as make

    # "all" stands for every adaptation; GeneratorParams names any unknown one.
    names = tuple(a for name in adapt or [] for a in (ADAPTATIONS if name == "all" else (name,)))
    try:
        params = GeneratorParams(
            members=members,
            seed=seed,
            sessions_per_member=sessions_per_member,
            adaptations=names,  # type: ignore[arg-type]
            honest_cohorts=honest_cohorts,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    started = time.perf_counter()
    paths = write_dataset(make(params), out)
    console.print(
        f"Wrote {', '.join(sorted(p.name for p in paths.values()))} to {out} "
        f"in {time.perf_counter() - started:.1f} s",
        markup=False,
    )


neo4j_app = _group("neo4j", "The local Neo4j 5.26 + GDS server, assembled from Maven Central.")


@contextmanager
def _phases(topic: str) -> Iterator[Callable[[str], None]]:
    """Show what a long step is doing: on a terminal, a spinner with the current phase and the
    time taken; in a pipe or a log, one line per phase."""
    if not console.is_terminal:
        yield lambda phase: console.print(f"{topic}: {phase}", markup=False, highlight=False)
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Column

    # The phase takes the width left by the spinner and the time, cut short at the edge.
    phase_column = Column(ratio=1, no_wrap=True, overflow="ellipsis")
    with Progress(
        SpinnerColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", table_column=phase_column),
        console=console,
        transient=True,
        expand=True,
    ) as bar:
        task = bar.add_task(topic, total=None)
        yield lambda phase: bar.update(task, description=escape(f"{topic}: {phase}"))


@neo4j_app.command("start")
def neo4j_start(
    bolt_port: Annotated[
        int | None,
        typer.Option("--bolt-port", metavar="PORT", help="Bolt port on 127.0.0.1 (default 7687)."),
    ] = None,
    http_port: Annotated[
        int | None,
        typer.Option(
            "--http-port",
            metavar="PORT",
            help="Serve Neo4j Browser on this port (off by default).",
        ),
    ] = None,
    heap: Annotated[
        str, typer.Option("--heap", metavar="SIZE", help="JVM heap, e.g. 4g.")
    ] = neo4j_server.DEFAULT_HEAP,
) -> None:
    """Fetch (once) and start the local server; safe to call when it already runs. Says on
    stderr what it is doing: fetching the jars with Maven, starting, waiting for Bolt."""
    with _errors_as_exit(), _phases("neo4j") as progress:
        info = neo4j_server.start(
            bolt_port=bolt_port, http_port=http_port, heap=heap, progress=progress
        )
    typer.echo(f"Neo4j is running at {info.uri} (pid {info.pid}); use --store neo4j")


@neo4j_app.command("stop")
def neo4j_stop() -> None:
    """Stop the local server cleanly; safe to call when it is not running."""
    with _errors_as_exit():
        stopped = neo4j_server.stop()
    typer.echo("Neo4j stopped" if stopped else "Neo4j was not running")


@neo4j_app.command("status")
def neo4j_status() -> None:
    """Say whether the local server runs, where, and how much memory it holds."""
    state = neo4j_server.status()
    if not state.running:
        typer.echo(f"Neo4j is not running (home {state.home})")
        raise typer.Exit(1)
    memory = f", {state.rss_bytes / 1024**2:,.0f} MiB" if state.rss_bytes else ""
    typer.echo(f"Neo4j is running at {state.uri} (pid {state.pid}{memory}; home {state.home})")


rings_app = _group(
    "rings", "The fraud-ring review queue: list rings, show one's evidence, record decisions."
)

RingIdArgument = Annotated[
    str,
    typer.Argument(metavar="RING_ID", help="The ring's id, as `timebank rings list` shows it."),
]


@rings_app.command("list")
def rings_list(
    store: StoreOption,
    status: Annotated[
        RingStatus | None, typer.Option("--status", help="Only rings with this status.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the stored fraud rings, most suspicious first."""
    from rich.table import Column, Table

    from graph.rings import ring_as_dict

    with _open(store) as opened, _errors_as_exit():
        rings = opened.rings(status=status)
    if as_json:
        typer.echo(json.dumps([ring_as_dict(ring) for ring in rings], ensure_ascii=False))
        return
    # Fits 80 columns with the longest kind's ids (the id starts with the kind; --json and
    # `rings show` give everything), so ids and statuses are never cut short.
    widest = max((len(ring.ring_id) for ring in rings), default=4)
    table = Table(
        Column("ring", no_wrap=True, min_width=widest),
        Column("status", no_wrap=True, min_width=9),
        *("score", "members", "hours"),
        Column("until", no_wrap=True, min_width=10),
    )
    for ring in rings:
        table.add_row(
            ring.ring_id,
            ring.status,
            f"{ring.score:.2f}",
            f"{len(ring.members):,}",
            f"{ring.hours:,.1f}",
            f"{ring.last_at:%Y-%m-%d}",
        )
    stdout.print(table)
    console.print(f"{len(rings):,} rings")


@rings_app.command("show")
def rings_show(ring_id: RingIdArgument, store: StoreOption, as_json: JsonOption = False) -> None:
    """Show a ring's evidence (members, sessions, reasons) and its audit trail, one line each."""
    from graph.errors import RingNotFoundError
    from graph.rings import review_as_dict, ring_as_dict

    with _open(store) as opened, _errors_as_exit():
        ring = opened.ring(ring_id)
        if ring is None:
            raise RingNotFoundError(ring_id, location=opened.location)
        reviews = opened.ring_reviews(ring_id)
    if as_json:
        shown = {**ring_as_dict(ring), "reviews": [review_as_dict(r) for r in reviews]}
        typer.echo(json.dumps(shown, ensure_ascii=False))
        return
    shown_id = escape(ring.ring_id)
    stdout.print(
        f"[bold]{shown_id}[/bold]: {ring.kind}, {ring.status}, score {ring.score:.2f}",
        highlight=False,
    )
    for line in (
        f"members ({len(ring.members):,}): {', '.join(ring.members)}",
        f"sessions ({len(ring.session_ids):,}): {', '.join(ring.session_ids)}",
        f"from {ring.first_at.isoformat()} to {ring.last_at.isoformat()}: "
        f"{ring.hours:,.1f} hours, {ring.credits:,.1f} credits",
        *(f"  - {reason}" for reason in ring.reasons),
        # Lines, not a table: a note (up to 2,000 characters) is never cut or folded.
        f"audit trail ({len(reviews):,}):" if reviews else "audit trail: no decisions yet",
        *(f"  {r.reviewed_at.isoformat()} {r.status} by {r.reviewer}: {r.note}" for r in reviews),
    ):
        stdout.print(line, markup=False, highlight=False)


def _login_name() -> str:
    """The reviewer when --reviewer is not given: $LOGNAME, $USER, $LNAME or $USERNAME, else the
    name of the account running the command."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no such variable and no passwd entry (OSError from 3.13)
        _fail(
            "no login name to record as the reviewer (no $USER, no account name): pass --reviewer"
        )


@rings_app.command("review")
def rings_review(
    ring_id: RingIdArgument,
    store: StoreOption,
    status: Annotated[
        RingStatus,
        typer.Option("--status", help="confirmed or dismissed: the decision; open: reopen it."),
    ],
    note: Annotated[
        str, typer.Option("--note", metavar="TEXT", help="Why: kept in the ring's audit trail.")
    ],
    reviewer: Annotated[
        str | None,
        typer.Option(
            "--reviewer",
            metavar="NAME",
            help="Who decides (default: your login name: $LOGNAME, $USER, $LNAME or $USERNAME, "
            "else the account's name).",
        ),
    ] = None,
) -> None:
    """Confirm, dismiss or reopen a ring, recording who, why and when in its audit trail."""
    who = _login_name() if reviewer is None else reviewer
    with _open(store) as opened, _errors_as_exit():
        entry = opened.review_ring(ring_id, status, reviewer=who, note=note)
    typer.echo(f"{ring_id}: {entry.status} by {entry.reviewer} at {entry.reviewed_at.isoformat()}")


@app.command()
def serve(
    store: StoreOption,
    host: Annotated[
        str, typer.Option("--host", metavar="HOST", help="Interface to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", min=1, max=65535, help="TCP port.")
    ] = 8000,
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            metavar="FILE",
            help="API keys file (`timebank keys add`); default: TIMEBANK_API_KEYS_FILE "
            "and TIMEBANK_API_KEYS.",
        ),
    ] = None,
    policy: PolicyOption = None,
    ledger: LedgerOption = LedgerKind.minting,
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level", metavar="LEVEL", help="debug, info (every request), warning, error."
        ),
    ] = "info",
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) and the dashboards (/dashboards/, log in with
    an API key) over an existing store; analyses it on start."""
    import logging

    import uvicorn

    from graph.api.main import create_app
    from graph.api.service import ApiService
    from graph.config import ApiSettings
    from graph.policy import load_policy

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with _errors_as_exit():
        settings = ApiSettings() if keys is None else ApiSettings(keys_file=keys)
        keys_allowed = settings.all_keys()
        service = ApiService(
            store,
            policy=load_policy(policy),
            ledger=ledger.value,
            ring_cache_seconds=settings.ring_cache_seconds,
        )
    console.print(
        f"Serving {store} on http://{host}:{port} (docs at /docs, dashboards at /dashboards/)",
        markup=False,
    )
    uvicorn.run(
        create_app(service, settings, keys=keys_allowed),
        host=host,
        port=port,
        access_log=False,
        log_level=log_level,
        log_config=None,
    )


keys_app = _group("keys", "API keys for `timebank serve`.")


@keys_app.command("add")
def keys_add(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="Who holds the key; recorded in audit trails.")
    ],
    role: Annotated[Role, typer.Option("--role", help="viewer, reviewer or admin.")],
    file: Annotated[
        Path, typer.Option("--file", metavar="FILE", help="The keys file (created if absent).")
    ],
) -> None:
    """Create an API key, store its SHA-256 digest in the keys file and print the key once."""
    from graph.config import add_key

    with _errors_as_exit():
        key = add_key(file, name=name, role=role.value)
    console.print(
        f"Added {role.value} key for {name} to {file}. The key (shown only now):", markup=False
    )
    typer.echo(key)


def _write_report(store: GraphStore, out: Path, *, policy: Path | None, ledger: Ledger) -> Path:
    """Analyse ``store`` (storing nothing) and write the static report of its views."""
    from dashboards.report import DRAWN_RINGS, write_report
    from graph.analyze import analyze_store
    from graph.policy import load_policy
    from graph.views import AnalyticsView

    with _errors_as_exit():
        tier_policy = load_policy(policy)
        done = analyze_store(store, policy=tier_policy, ledger=ledger, write_back=False)
        stored = store.rings()
        trails = {ring.ring_id: store.ring_reviews(ring.ring_id) for ring in stored[:DRAWN_RINGS]}
    view = AnalyticsView.of(done.snapshot, done.analysis, policy=tier_policy, ledger=ledger)
    return write_report(view, out, rings=stored or None, trails=trails)


@app.command()
def report(
    store: StoreOption,
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Folder for the HTML bundle.")
    ] = Path("report"),
    policy: PolicyOption = None,
    ledger: LedgerOption = LedgerKind.minting,
) -> None:
    """Write the dashboards' views (growth, referrals, tiers, fraud review, trust) as a static
    HTML bundle that opens offline; the store is read, not changed."""
    with _open(store) as opened:
        page = _write_report(opened, out, policy=policy, ledger=ledger.value)
    typer.echo(f"Report: {page.resolve()}")


@app.command()
def demo(
    out: Annotated[
        Path,
        typer.Option("--out", metavar="DIR", help="Folder for the demo's data, store and report."),
    ] = Path("demo"),
    members: Annotated[
        int, typer.Option("--members", metavar="N", min=100, help="Size of the demo network.")
    ] = 5000,
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Random seed.")] = 7,
) -> None:
    """Generate a small network into DIR/data (its planted fraud in DIR/truth.json), ingest it
    into DIR/timebank.db, analyse it into DIR/analysis and write an HTML report to DIR/report."""
    from graph.analyze import analyze as run_analyze
    from graph.generate import GeneratorParams, write_dataset
    from graph.generate import generate as make

    data_dir = out / "data"
    console.print(f"Generating {members:,} members into {data_dir}", markup=False)
    written = write_dataset(make(GeneratorParams(members=members, seed=seed)), data_dir)
    # The answer key is not data: beside the folder the demo ingests, not among its files.
    written["truth"].replace(out / "truth.json")
    raw = _read(data_dir, InputFormat.dataset, encoding="utf-8")
    with _open(str(out / "timebank.db"), create=True) as store:
        report = _ingest_with_progress(raw, store)
        _print_report(report, None)
        with _errors_as_exit():
            run_analyze(store, out / "analysis")
        page = _write_report(store, out / "report", policy=None, ledger="minting")
    typer.echo(f"Report: {page.resolve()}")


if __name__ == "__main__":
    app()
