"""A local Neo4j 5.26 Community server with Graph Data Science, assembled from Maven Central.

The project's machines reach Maven Central but not neo4j.com, so the server is not the official
tarball: ``neo4j/pom.xml`` (repository root) resolves the artifacts that tarball is built from
(``org.neo4j.assembly:neo4j-community-standalone``) plus the open edition of GDS
(``org.neo4j.gds:*``), and lays them out as a server home::

    home/
      conf/neo4j.conf     written by :func:`start` (loopback only, auth on, GDS unrestricted)
      lib/                the Community server's jars          } written by :func:`install`
      plugins/            GDS's jars + the OpenGDS extension   }
      data/ logs/ import/
      run/neo4j.pid       written by Neo4j's own bootloader
      credentials.json    uri, user, password, database (mode 0600)

The server is started with Neo4j's own bootloader (``org.neo4j.server.startup.Neo4jBoot
start``), exactly as ``bin/neo4j start`` would, so it runs detached from the calling process.

The home is ``$TIMEBANK_NEO4J_HOME`` when set, else ``.neo4j/`` in the repository root.
Nothing here prints or logs the password; it lives only in ``credentials.json``. Nothing here
prints at all: :func:`install` and :func:`start` log each phase (fetching, starting, waiting for
Bolt) and pass it to a ``progress`` callback, which the command line shows.

Examples
--------
>>> import tempfile
>>> state = status(tempfile.mkdtemp())
>>> state.running, state.pid
(False, None)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from graph.errors import TimebankError

__all__ = [
    "DEFAULT_BOLT_PORT",
    "DEFAULT_HEAP",
    "DEFAULT_PAGECACHE",
    "Neo4jServerError",
    "Progress",
    "ServerInfo",
    "ServerStatus",
    "connection",
    "default_home",
    "install",
    "kill",
    "recipe_versions",
    "start",
    "status",
    "stop",
]

log = logging.getLogger(__name__)

DEFAULT_BOLT_PORT = 7687
#: JVM heap, initial = max (Neo4j's size syntax: digits and k/m/g). Ingest is bound by garbage
#: collection below 2 GB: 1M sessions wrote at 35k-39k/s with 1 GB and 46k-51k/s with 2 GB
#: (10 000-row batches, measured).
DEFAULT_HEAP = "2g"
#: Page cache for the store files; small, since the test and dev graphs are small.
DEFAULT_PAGECACHE = "1g"

_USER = "neo4j"
_DATABASE = "neo4j"
_DEFAULT_PASSWORD = "neo4j"  # the password every new Neo4j DBMS starts with (change required)
_MAIN_CLASS = "org.neo4j.server.CommunityEntryPoint"
_BOOT_CLASS = "org.neo4j.server.startup.Neo4jBoot"
_RECIPE_DIR = Path(__file__).resolve().parent.parent / "neo4j"
_MARKER = ".install.json"
_SIZE = re.compile(r"^[1-9][0-9]*[kmg]$")

# The JVM options of the official neo4j.conf that matter on Java 17 (module opens for Netty and
# the page cache, G1, stack traces kept). AlwaysPreTouch is left out: it would make the whole
# heap resident at start, which a small local server does not want.
_JVM_ADDITIONAL = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
)


#: Told, in a few words, what :func:`install` or :func:`start` does next, as each phase begins.
Progress = Callable[[str], None]


class Neo4jServerError(TimebankError):
    """The local Neo4j server cannot be installed, started, reached or stopped."""


@dataclass(frozen=True)
class ServerInfo:
    """How to reach a running local server.

    Attributes
    ----------
    uri : str
        Bolt URI, ``bolt://127.0.0.1:<port>``.
    user, password : str
        Credentials (the password is left out of ``repr``).
    database : str
        The default database.
    pid : int
        Process id of the server JVM.
    """

    uri: str
    user: str
    password: str = field(repr=False)
    database: str
    pid: int


@dataclass(frozen=True)
class ServerStatus:
    """What :func:`status` sees in a home.

    Attributes
    ----------
    home : Path
        The server home.
    running : bool
        Whether the server JVM of this home is alive (it may still be starting up).
    pid : int or None
        Its process id when running.
    uri : str or None
        The Bolt URI it was configured with, when the home has been started once.
    rss_bytes : int or None
        Resident memory of the JVM in bytes when running (Linux only).
    """

    home: Path
    running: bool
    pid: int | None
    uri: str | None
    rss_bytes: int | None = None


def default_home() -> Path:
    """The server home: ``$TIMEBANK_NEO4J_HOME``, else ``.neo4j/`` in the repository root."""
    configured = os.environ.get("TIMEBANK_NEO4J_HOME")
    if configured:
        return Path(configured).expanduser().resolve()
    return (_RECIPE_DIR.parent / ".neo4j").resolve()


def recipe_versions() -> dict[str, str]:
    """The Neo4j and GDS versions ``neo4j/pom.xml`` pins.

    Returns
    -------
    dict
        ``{"neo4j": "5.26.x", "gds": "2.13.x"}``.
    """
    root = ET.parse(_pom()).getroot()
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    found = {}
    for key in ("neo4j", "gds"):
        node = root.find(f"m:properties/m:{key}.version", ns)
        if node is None or not node.text:
            raise Neo4jServerError(f"{_pom()}: no <{key}.version> property")
        found[key] = node.text.strip()
    return found


def install(
    home: Path | str | None = None, *, force: bool = False, progress: Progress | None = None
) -> Path:
    """Lay out the server's jars in ``home`` with one Maven call; a no-op when already done.

    Jars are fetched from Maven Central once and cached in ``~/.m2``; ``lib/`` and ``plugins/``
    belong to this function and are rebuilt whenever ``neo4j/pom.xml`` or ``neo4j/src/`` changes.

    Parameters
    ----------
    home : path, optional
        The server home; :func:`default_home` when omitted.
    force : bool
        Rebuild even when the home is up to date.
    progress : callable, optional
        Told when Maven starts fetching (see :data:`Progress`).

    Returns
    -------
    Path
        The (absolute) home.

    Raises
    ------
    Neo4jServerError
        When Maven or Java is missing or the build fails.
    """
    home = _resolve(home)
    recipe = _recipe_digest()
    if not force and _installed(home, recipe):
        return home
    mvn = shutil.which("mvn")
    if mvn is None:
        raise Neo4jServerError("Maven (mvn) is not on PATH; it fetches the server's jars")
    _java()
    with _lock(home):
        if not force and _installed(home, recipe):  # another process got there first
            return home
        marker = home / _MARKER
        running = _running_pid(home)
        if running is not None:
            raise Neo4jServerError(f"stop the server (pid {running}) before reinstalling {home}")
        # Stale jars of another version would end up on the class path next to the new ones.
        for managed in ("lib", "plugins", ".build"):
            shutil.rmtree(home / managed, ignore_errors=True)
        marker.unlink(missing_ok=True)
        command = [mvn, "-B", "-q", "-f", str(_pom()), "package", f"-Dneo4j.home={home}"]
        versions = recipe_versions()
        _phase(
            progress,
            f"fetching Neo4j {versions['neo4j']} and GDS {versions['gds']} with Maven into "
            f"{home} (once; the jars are cached in ~/.m2)",
        )
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = _tail(done.stdout + done.stderr, 30)
            raise Neo4jServerError(f"Maven could not assemble the server:\n{tail}")
        if not any((home / "lib").glob("neo4j-*.jar")):
            raise Neo4jServerError(f"Maven finished but {home / 'lib'} holds no Neo4j jar")
        marker.write_text(json.dumps({"recipe": recipe, **versions}, indent=2) + "\n")
    return home


def start(
    home: Path | str | None = None,
    *,
    bolt_port: int | None = None,
    http_port: int | None = None,
    heap: str = DEFAULT_HEAP,
    pagecache: str = DEFAULT_PAGECACHE,
    settings: Mapping[str, str] | None = None,
    timeout: float = 180.0,
    progress: Progress | None = None,
) -> ServerInfo:
    """Start the server in the background and wait until Bolt accepts its credentials.

    Installs first if needed. Safe to call again: a running server is left alone and the same
    :class:`ServerInfo` is returned (its ports are the ones it was started with).

    Parameters
    ----------
    home : path, optional
        The server home; :func:`default_home` when omitted.
    bolt_port : int, optional
        Bolt port on 127.0.0.1; when omitted, the port this home last used, else 7687.
    http_port : int, optional
        HTTP port on 127.0.0.1 (Neo4j Browser, HTTP API); HTTP is disabled when omitted.
    heap, pagecache : str
        JVM heap (initial = max) and page cache sizes, e.g. ``"1g"``, ``"256m"``.
    settings : mapping, optional
        Extra ``neo4j.conf`` settings, written after (so overriding) the generated ones.
    timeout : float
        Seconds to wait for Bolt to answer.
    progress : callable, optional
        Told as each phase begins: fetching the jars (first time only), starting the server,
        waiting for Bolt (see :data:`Progress`).

    Returns
    -------
    ServerInfo
        URI, credentials, database and pid.

    Raises
    ------
    Neo4jServerError
        When the server does not start or does not answer in time (the message carries the
        end of ``logs/neo4j.log``), or the stored credentials do not open its database.
    """
    for name, size in (("heap", heap), ("pagecache", pagecache)):
        if not _SIZE.match(size):
            raise Neo4jServerError(f"{name}={size!r}: expected digits and k, m or g, like '1g'")
    home = install(home, progress=progress)
    deadline = time.monotonic() + timeout
    with _lock(home):
        pid = _running_pid(home)
        if pid is not None:
            credentials = _read_credentials(home)
            if credentials is None:
                raise Neo4jServerError(
                    f"a server runs from {home} (pid {pid}) but credentials.json is missing"
                )
            if bolt_port is not None and _port_of(credentials["uri"]) != bolt_port:
                log.warning(
                    "Neo4j already runs on %s; bolt_port=%d ignored", credentials["uri"], bolt_port
                )
            _phase(
                progress, f"already running (pid {pid}); waiting for Bolt at {credentials['uri']}"
            )
            _wait_for_bolt(home, credentials, pid, deadline)
            return _info(credentials, pid)

        (home / "run" / "neo4j.pid").unlink(missing_ok=True)  # stale after a crash or kill
        for folder in ("conf", "data", "logs", "run", "import"):
            (home / folder).mkdir(parents=True, exist_ok=True)
        fresh = not (home / "data" / "databases" / "system").exists()
        credentials = _read_credentials(home)
        if bolt_port is None:
            bolt_port = _port_of(credentials["uri"]) if credentials else DEFAULT_BOLT_PORT
        _write_conf(home, bolt_port, http_port, heap, pagecache, settings or {})
        uri = f"bolt://127.0.0.1:{bolt_port}"
        if credentials is None:
            credentials = {
                "uri": uri,
                "user": _USER,
                "password": secrets.token_urlsafe(24),
                "database": _DATABASE,
            }
        credentials["uri"] = uri
        # Written before the first start, so an interrupted first start can still finish
        # setting the password next time (see _wait_for_bolt).
        _write_credentials(home, credentials)

        _phase(progress, f"starting Neo4j from {home} on {uri} (heap {heap})")
        try:
            boot = subprocess.run(
                [_java(), "-Xmx128m", "-cp", str(home / "lib" / "*"), _BOOT_CLASS, "start"],
                env={**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(home / "conf")},
                capture_output=True,
                text=True,
                check=False,
                timeout=max(deadline - time.monotonic(), 1.0),
            )
            output, code = boot.stdout + boot.stderr, boot.returncode
        except subprocess.TimeoutExpired:
            output, code = "(the bootloader did not return in time)", None
        pid = _running_pid(home)
        try:
            if code != 0 or pid is None:
                raise Neo4jServerError(
                    f"Neo4j did not start (bootloader exit {code}):\n"
                    f"{_tail(output, 10)}\n{_log_tail(home)}"
                )
            _phase(progress, f"waiting for Bolt at {uri} (pid {pid})")
            _wait_for_bolt(home, credentials, pid, deadline, fresh=fresh)
        except BaseException:
            # A failed start leaves nothing running behind it.
            if pid is not None:
                _terminate(home, pid, timeout=30.0)
            raise
        return _info(credentials, pid)


def stop(home: Path | str | None = None, *, timeout: float = 60.0) -> bool:
    """Stop the server cleanly: SIGTERM, wait, and SIGKILL only after ``timeout`` seconds.

    Parameters
    ----------
    home : path, optional
        The server home; :func:`default_home` when omitted.
    timeout : float
        Seconds to wait for a clean shutdown.

    Returns
    -------
    bool
        True when a server was running and is now stopped; False when none was running.
    """
    home = _resolve(home)
    with _lock(home):
        pid = _running_pid(home)
        if pid is None:
            (home / "run" / "neo4j.pid").unlink(missing_ok=True)
            return False
        _terminate(home, pid, timeout)
        return True


def kill(home: Path | str | None = None) -> bool:
    """Kill the server at once (SIGKILL), as a crash would; for fault tests.

    The pid file is left behind, as after a real crash; :func:`start` copes with it.

    Returns
    -------
    bool
        True when a server was running; False when none was.
    """
    home = _resolve(home)
    pid = _running_pid(home)
    if pid is None:
        return False
    _signal(pid, signal.SIGKILL)
    if not _wait_gone(pid, home, 30.0):
        raise Neo4jServerError(f"Neo4j (pid {pid}) survived SIGKILL")
    return True


def status(home: Path | str | None = None) -> ServerStatus:
    """Whether the server of ``home`` runs, with its pid, Bolt URI and resident memory.

    Parameters
    ----------
    home : path, optional
        The server home; :func:`default_home` when omitted.

    Returns
    -------
    ServerStatus
    """
    home = _resolve(home)
    pid = _running_pid(home)
    credentials = _read_credentials(home)
    uri = credentials["uri"] if credentials else None
    return ServerStatus(home=home, running=pid is not None, pid=pid, uri=uri, rss_bytes=_rss(pid))


def connection(home: Path | str | None = None) -> ServerInfo:
    """How to reach the running server of ``home``.

    Raises
    ------
    Neo4jServerError
        When it is not running (start it with ``timebank neo4j start``).
    """
    home = _resolve(home)
    pid = _running_pid(home)
    credentials = _read_credentials(home)
    if pid is None or credentials is None:
        raise Neo4jServerError(
            f"no Neo4j server is running from {home}: run `timebank neo4j start`, "
            "or set NEO4J_URI (and NEO4J_PASSWORD) to use another server"
        )
    return _info(credentials, pid)


# --- helpers -------------------------------------------------------------------------------------


def _phase(progress: Progress | None, phase: str) -> None:
    """Log a phase and tell the caller, who may show it."""
    log.info("%s", phase)
    if progress is not None:
        progress(phase)


def _info(credentials: Mapping[str, str], pid: int) -> ServerInfo:
    return ServerInfo(
        uri=credentials["uri"],
        user=credentials["user"],
        password=credentials["password"],
        database=credentials["database"],
        pid=pid,
    )


def _port_of(uri: str) -> int:
    try:
        return int(uri.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return DEFAULT_BOLT_PORT


def _resolve(home: Path | str | None) -> Path:
    return default_home() if home is None else Path(home).expanduser().resolve()


def _pom() -> Path:
    pom = _RECIPE_DIR / "pom.xml"
    if not pom.is_file():
        raise Neo4jServerError(
            f"{pom} not found: install timebank-graph from a repository checkout"
        )
    return pom


def _installed(home: Path, recipe: str) -> bool:
    try:
        return bool(json.loads((home / _MARKER).read_text()).get("recipe") == recipe)
    except (OSError, ValueError, AttributeError):
        return False


def _recipe_digest() -> str:
    """A hash of what the build reads (the pom and the extension's sources), not of the docs."""
    digest = hashlib.sha256()
    inputs = [_pom(), *(p for p in (_RECIPE_DIR / "src").rglob("*") if p.is_file())]
    for path in sorted(inputs):
        digest.update(str(path.relative_to(_RECIPE_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if java is None or not Path(java).is_file():
        raise Neo4jServerError("Java 17+ is not on PATH (nor in $JAVA_HOME); Neo4j 5 needs it")
    return java


@contextlib.contextmanager
def _lock(home: Path) -> Iterator[None]:
    """Serialise install/start/stop on one home, across processes."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_conf(
    home: Path,
    bolt_port: int,
    http_port: int | None,
    heap: str,
    pagecache: str,
    settings: Mapping[str, str],
) -> None:
    lines = [
        "# Written by graph.neo4j_server.start(); edits are overwritten at the next start.",
        "server.default_listen_address=127.0.0.1",
        "server.default_advertised_address=127.0.0.1",
        f"server.bolt.listen_address=127.0.0.1:{bolt_port}",
        "server.bolt.tls_level=DISABLED",
        f"server.http.enabled={'true' if http_port is not None else 'false'}",
        "server.https.enabled=false",
        "server.directories.import=import",
        "dbms.security.auth_enabled=true",
        "dbms.security.procedures.unrestricted=gds.*",
        "dbms.usage_report.enabled=false",
        f"server.memory.heap.initial_size={heap}",
        f"server.memory.heap.max_size={heap}",
        f"server.memory.pagecache.size={pagecache}",
        # Preallocating transaction logs fails harmlessly on some filesystems; small logs here.
        "db.tx_log.preallocate=false",
        # Transaction logs only for recovery, not history: ingests would fill the disk.
        "db.tx_log.rotation.retention_policy=2 files",
        # Bolt waits 5 s twice on shutdown for connections that are already gone.
        "internal.server.bolt.thread_pool_shutdown_wait_time=1s",
        "internal.server.bolt.connection_shutdown_wait_time=1s",
    ]
    if http_port is not None:
        lines.append(f"server.http.listen_address=127.0.0.1:{http_port}")
    lines += [f"server.jvm.additional={option}" for option in _JVM_ADDITIONAL]
    lines += [f"{key}={value}" for key, value in settings.items()]
    (home / "conf" / "neo4j.conf").write_text("\n".join(lines) + "\n")


def _read_credentials(home: Path) -> dict[str, str] | None:
    path = home / "credentials.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    keys = ("uri", "user", "password", "database")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in keys):
        return None
    return {k: data[k] for k in keys}


def _write_credentials(home: Path, credentials: Mapping[str, str]) -> None:
    path = home / "credentials.json"
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(dict(credentials), handle, indent=2)
        handle.write("\n")
    os.replace(temporary, path)


def _wait_for_bolt(
    home: Path, credentials: Mapping[str, str], pid: int, deadline: float, *, fresh: bool = False
) -> None:
    """Wait until Bolt accepts ``credentials``.

    A new DBMS (``fresh``) starts with user neo4j/neo4j, password change required: that is
    replaced by the generated password first. An older one whose first start was interrupted
    before that may still have it, so the default is also tried once when the stored password
    is refused.
    """
    # Imported here: the rest of this module (and `status`) works without the driver.
    from graph.store.neo4j import bolt_state, set_initial_password

    uri, user, password = credentials["uri"], credentials["user"], credentials["password"]
    replace_default, tried_default = fresh, False
    while True:
        if not _alive(pid, home):
            raise Neo4jServerError(f"Neo4j (pid {pid}) exited while starting:\n{_log_tail(home)}")
        state = (
            set_initial_password(uri, user, _DEFAULT_PASSWORD, password)
            if replace_default
            else bolt_state(uri, user, password)
        )
        if replace_default and state != "starting":
            if state == "refused":
                raise _credentials_mismatch()
            log.info("set a generated password for user %r (stored in credentials.json)", user)
            replace_default, tried_default = False, True
            continue
        if state == "up":
            return
        if state == "refused":
            if tried_default:
                raise _credentials_mismatch()
            replace_default = True
            continue
        if time.monotonic() > deadline:
            raise Neo4jServerError(f"Bolt at {uri} did not answer in time:\n{_log_tail(home)}")
        time.sleep(0.25)


def _credentials_mismatch() -> Neo4jServerError:
    return Neo4jServerError(
        "credentials.json does not open this server's database (nor does the default "
        "password): restore the file, or delete data/ to start a new database"
    )


def _running_pid(home: Path) -> int | None:
    try:
        pid = int((home / "run" / "neo4j.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid, home) else None


def _alive(pid: int, home: Path) -> bool:
    """Whether ``pid`` is a live (not zombie) server JVM of ``home``; guards against pid reuse."""
    proc = Path("/proc") / str(pid)
    if Path("/proc/self").exists():
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            arguments = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            return False
        home_argument = f"--home-dir={home}".encode()
        return (
            state not in ("Z", "X")
            and _MAIN_CLASS.encode() in arguments
            and (home_argument in arguments)
        )
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _terminate(home: Path, pid: int, timeout: float) -> None:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; removes the pid file."""
    log.info("stopping Neo4j (pid %d)", pid)
    _signal(pid, signal.SIGTERM)
    if not _wait_gone(pid, home, timeout):
        log.warning("Neo4j (pid %d) ignored SIGTERM for %.0f s; killing it", pid, timeout)
        _signal(pid, signal.SIGKILL)
        if not _wait_gone(pid, home, 30.0):
            raise Neo4jServerError(f"Neo4j (pid {pid}) survived SIGKILL")
    (home / "run" / "neo4j.pid").unlink(missing_ok=True)


def _wait_gone(pid: int, home: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid, home):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _rss(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _log_tail(home: Path, lines: int = 25) -> str:
    path = home / "logs" / "neo4j.log"
    try:
        return f"--- end of {path} ---\n" + _tail(path.read_text(errors="replace"), lines)
    except OSError:
        return f"({path} is missing)"
