"""The one owner of the dask ``Client``: H2O's ``init``/``connect``/``shutdown``/``cluster`` on Dask.

``init()`` with no address starts an embedded ``LocalCluster`` sized to the machine (the default),
connects to a running scheduler when given ``url`` or ``ip``/``port``, or adopts a ``Client`` the
user already made. H2O's JVM-only arguments are accepted so H2O scripts run unchanged; those
that have a Dask meaning are mapped onto the cluster (see ``docs/cluster.md``).
"""
from __future__ import annotations

import logging
import os
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import dask
import distributed

__all__ = ["init", "connect", "shutdown", "cluster", "get_client", "H2OCluster", "H2OConnectionError"]

# The embedded default is one worker in this process with a thread per core: the numba kernels
# and pyarrow's CSV reader release the GIL, parsing measured as fast as one process per core
# with a third less memory (docs/benchmarks.md, "embedded cluster: threads vs processes"), and
# algorithms read the chunks without copies and skip the scheduler round trip per tree level.
DEFAULT_PROCESSES = False
DASK_DEFAULT_PORT = 8786
H2O_DEFAULT_PORT = 54321



class H2OConnectionError(ConnectionError):
    """Raised when no Dask scheduler answers at the address given to ``init``/``connect``."""


@dataclass
class _Session:
    client: distributed.Client
    local_cluster: distributed.LocalCluster | None  # set only when init() started it
    owned_client: bool  # False when init() adopted the user's client


_session: _Session | None = None


def parse_mem_size(value, what: str = "max_mem_size") -> int | None:
    """H2O memory strings ("8G", "512m", "1T", 4 = 4 GB, a byte count >= 1 MB) -> bytes."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a size like '8G' or a number of gigabytes, got {value!r}")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError(f"{what} must be positive, got {value!r}")
        # H2O reads small integers as gigabytes and large ones as bytes.
        return int(value * 2**30) if value < 2**20 else int(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)[bB]?\s*", str(value))
    if not match:
        raise ValueError(f"{what}={value!r} is not a memory size; use e.g. '8G', '512M' or 4 (GB)")
    number, unit = float(match.group(1)), match.group(2).lower()
    scale = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[unit]
    return int(number * scale)


def _scheduler_address(url, ip, port, https) -> str | None:
    if url is not None:
        address = str(url)
        if address.startswith(("http://", "https://")):
            raise ValueError(
                f"init(url={url!r}): daskml_h2o connects to a Dask scheduler, not an H2O REST endpoint; "
                "pass its address such as 'tcp://host:8786'"
            )
        return address if "://" in address else f"tcp://{address}"
    if ip is None and port is None:
        return None
    host = ip or "127.0.0.1"
    if port is None or int(port) == H2O_DEFAULT_PORT:
        port = DASK_DEFAULT_PORT  # H2O's default REST port means "the default server" here
    scheme = "tls" if https else "tcp"
    return f"{scheme}://{host}:{int(port)}"


def _check_unsupported(https, insecure, username, password):
    if username is not None or password is not None:
        raise ValueError(
            "init(username=..., password=...) is not supported yet: secure the Dask scheduler with "
            "TLS (distributed.Security) and pass a connected Client instead"
        )
    if https and insecure:
        raise ValueError("init(insecure=True) is not supported yet: TLS certificates are always verified")


def _start_local(nthreads, max_mem_size, min_mem_size, ice_root, processes, n_workers) -> distributed.LocalCluster:
    cores = os.cpu_count() or 1
    threads_total = cores if nthreads in (None, -1, 0) else int(nthreads)
    if threads_total < 1:
        raise ValueError(f"nthreads must be -1 (all cores) or a positive number, got {nthreads!r}")
    processes = DEFAULT_PROCESSES if processes is None else bool(processes)
    if n_workers is None:
        n_workers = threads_total if processes else 1
    n_workers = max(1, min(int(n_workers), threads_total))
    threads_per_worker = max(1, threads_total // n_workers)
    total_memory = parse_mem_size(max_mem_size)
    minimum = parse_mem_size(min_mem_size, "min_mem_size")
    if total_memory is not None and minimum is not None and minimum > total_memory:
        raise ValueError(f"min_mem_size={min_mem_size!r} is larger than max_mem_size={max_mem_size!r}")
    memory_limit = "auto" if total_memory is None else total_memory // n_workers
    kwargs = {}
    if ice_root is not None:
        kwargs["local_directory"] = str(ice_root)
    with _worker_process_environ():
        return distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=processes,
            memory_limit=memory_limit,
            dashboard_address=":0",
            **kwargs,
        )


_TRIM_KEY = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
_TRIM_VAR = "MALLOC_TRIM_THRESHOLD_"
_DASK_DEFAULT_TRIM = 65536


@contextmanager
def _worker_process_environ():
    """The embedded cluster's worker processes start without dask's MALLOC_TRIM_THRESHOLD_=65536,
    which also fixes glibc's mmap threshold at 128 KiB: every array above that is a fresh
    mapping whose pages fault in on first touch. A GBM tree level allocates a few such arrays
    per chunk, so its kernel ran 1.5x slower in a worker process than in the driver (flights:
    2.6 vs 1.7 ms a level); without the variable glibc keeps its adaptive threshold and reuses
    freed memory, as in any Python process. Dask's nannies also leave the variable in this
    process's environment (which spawned workers inherit), so dask's value is taken out of both
    while the workers start and put back after. A value the user chose is kept."""
    if dask.config.get(_TRIM_KEY, None) != _DASK_DEFAULT_TRIM or \
            os.environ.get(_TRIM_VAR, str(_DASK_DEFAULT_TRIM)) != str(_DASK_DEFAULT_TRIM):
        yield
        return
    leaked = os.environ.pop(_TRIM_VAR, None)
    try:
        with dask.config.set({_TRIM_KEY: None}):
            yield
    finally:
        if leaked is not None:
            os.environ[_TRIM_VAR] = leaked


def init(url=None, ip=None, port=None, name=None, https=None, insecure=None, username=None, password=None,
         cookies=None, proxy=None, start_h2o=True, nthreads=-1, ice_root=None, log_dir=None, log_level=None,
         max_log_file_size=None, enable_assertions=True, max_mem_size=None, min_mem_size=None,
         strict_version_check=None, ignore_config=False, extra_classpath=None, jvm_custom_args=None,
         bind_to_localhost=True, verbose=True, telemetry=None, processes=None, n_workers=None, pin_workers=None,
         **kwargs):
    """Start or connect to the Dask cluster every frame and model uses (H2O's ``h2o.init``).

    With no address: adopt an existing ``distributed`` client, else start an embedded
    ``LocalCluster`` with ``nthreads`` threads in all (-1 = every core) and ``max_mem_size`` memory
    in all. With ``url``/``ip``/``port``: connect to that Dask scheduler. Calling it again while
    connected does nothing. ``processes``/``n_workers`` (not H2O arguments) choose the embedded
    cluster's layout; ``pin_workers`` (not H2O's either) keeps each embedded worker process on
    cores of its own: None (default) when the workers' threads take every core this process may
    run on, True whenever they fit, False never (see ``_pin_workers_to_cores``).
    """
    global _session
    unknown = set(kwargs) - {"port_offset", "cluster_id", "timeout"}
    if unknown:
        raise TypeError(f"init() got unexpected keyword argument(s): {sorted(unknown)}")
    _check_unsupported(https, insecure, username, password)
    if log_level is not None:
        logging.getLogger("distributed").setLevel(_log_level(log_level))
    _warn_jvm_only(name=name, enable_assertions=None if enable_assertions else False, log_dir=log_dir,
                   max_log_file_size=max_log_file_size, strict_version_check=strict_version_check,
                   ignore_config=ignore_config or None, extra_classpath=extra_classpath,
                   jvm_custom_args=jvm_custom_args, bind_to_localhost=None if bind_to_localhost else False,
                   telemetry=telemetry, cookies=cookies, proxy=proxy)
    address = _scheduler_address(url, ip, port, https)
    if _session is not None and _session.client.status == "running":
        if address is None or _session.client.scheduler.address == address:
            if verbose:
                _print_status(_session)
            return None
        shutdown()
    if address is not None:
        try:
            client = distributed.Client(address, timeout=kwargs.get("timeout", 10), set_as_default=True)
        except (OSError, TimeoutError) as exc:
            raise H2OConnectionError(
                f"could not connect to a Dask scheduler at {address}: {exc}. Start one (`dask scheduler`) "
                "or call init() without url/ip/port to run an embedded local cluster"
            ) from exc
        _session = _Session(client, None, owned_client=True)
    else:
        try:
            existing = distributed.default_client()
        except ValueError:
            existing = None
        if existing is not None and existing.status == "running":
            _session = _Session(existing, None, owned_client=False)
        elif not start_h2o:
            raise H2OConnectionError("connect() found no running cluster: call init() to start one")
        else:
            if pin_workers not in (None, True, False):
                raise ValueError(f"pin_workers must be None, True or False, got {pin_workers!r}")
            local = _start_local(nthreads, max_mem_size, min_mem_size, ice_root, processes, n_workers)
            client = distributed.Client(local, set_as_default=True)
            _session = _Session(client, local, owned_client=True)
            try:
                _pin_workers_to_cores(client, pin_workers)
            except Exception:
                shutdown()
                raise
            _warm_numba(client)
    if verbose:
        _print_status(_session)
    return None


class _PinToCores(distributed.WorkerPlugin):
    """Puts each embedded worker process on its own cores; a worker the nanny restarts (same
    name) is put back on them."""

    name = "daskml-h2o-pin-to-cores"

    def __init__(self, cores_by_name: dict):
        self.cores_by_name = cores_by_name

    def setup(self, worker):
        cores = self.cores_by_name.get(str(worker.name))
        if cores:
            try:
                os.sched_setaffinity(0, cores)
            except OSError as exc:  # not allowed here: the worker runs unpinned, as without the plugin
                logging.getLogger(__name__).warning("could not pin worker %s to cores %s: %s",
                                                    worker.name, cores, exc)


def _pin_workers_to_cores(client, pin_workers) -> None:
    """Give every worker process of the embedded cluster cores of its own (``init``'s
    ``pin_workers``). When the workers' threads take every core, the OS otherwise often wakes a
    worker on the core another worker is busy on and leaves it waiting there for a time slice:
    one of two workers got a GBM tree level's request 1-5 ms late in a fifth of the levels, which
    made a fit on 2 worker processes ~10 % slower (docs/cluster.md)."""
    if pin_workers is False or not hasattr(os, "sched_setaffinity"):
        return
    info = client.scheduler_info().get("workers", {})
    if len(info) < 2 or any(a.startswith("inproc://") for a in info):
        return
    workers = list(info.values())
    allowed = sorted(os.sched_getaffinity(0))
    threads = sum(w["nthreads"] for w in workers)
    if threads > len(allowed) or (pin_workers is None and threads != len(allowed)):
        if pin_workers:
            raise ValueError(f"pin_workers=True: the workers' {threads} threads need {threads} cores, but this "
                             f"process may run on {len(allowed)}; lower nthreads or pass pin_workers=False")
        return
    cores, start = {}, 0
    for w in sorted(workers, key=lambda w: str(w["name"])):
        cores[str(w["name"])] = allowed[start:start + w["nthreads"]]
        start += w["nthreads"]
    client.register_plugin(_PinToCores(cores))


def _warm_numba(client) -> None:
    """numba's runtime built in the background on the driver and the embedded worker processes
    (``_numba_warmup``); in-process workers share the driver's."""
    from daskml_h2o import _numba_warmup
    _numba_warmup.start()
    if any(not addr.startswith("inproc://") for addr in client.scheduler_info().get("workers", {})):
        client.run(_numba_warmup.start)


def connect(server=None, url=None, ip=None, port=None, https=None, verify_ssl_certificates=None,
            auth=None, proxy=None, cookies=None, verbose=True, config=None, strict_version_check=None):
    """Connect to a running Dask scheduler without starting one (H2O's ``h2o.connect``)."""
    if server is not None:
        raise ValueError("connect(server=...) takes an H2O local server object; pass url= or ip=/port= instead")
    if auth is not None:
        raise ValueError("connect(auth=...) is not supported yet: pass a connected distributed.Client instead")
    init(url=url, ip=ip, port=port, https=https, start_h2o=False, verbose=verbose, proxy=proxy, cookies=cookies)
    return cluster()


def get_client() -> distributed.Client:
    """The session's client; starts the embedded cluster quietly if ``init`` was never called."""
    if _session is None or _session.client.status != "running":
        init(verbose=False)
    return _session.client


def is_running() -> bool:
    return _session is not None and _session.client.status == "running"


def shutdown(prompt=False):
    """Close what ``init`` started; an adopted client is only forgotten (H2O's ``h2o.shutdown``)."""
    global _session
    session, _session = _session, None
    if session is None:
        return
    from daskml_h2o.chunk_hosts import release_idle_hosts
    release_idle_hosts(session.client)
    if session.owned_client:
        session.client.close()
    if session.local_cluster is not None:
        session.local_cluster.close()


def _status_rows(session: _Session) -> list[tuple[str, str]]:
    info = session.client.scheduler_info()
    workers = info.get("workers", {})
    threads = sum(w.get("nthreads", 0) for w in workers.values())
    memory = sum(w.get("memory_limit", 0) or 0 for w in workers.values())
    kind = "embedded LocalCluster" if session.local_cluster is not None else (
        "adopted Client" if not session.owned_client else "remote scheduler")
    return [
        ("Dask cluster:", kind),
        ("Scheduler address:", str(info.get("address", ""))),
        ("Dashboard:", str(session.client.dashboard_link or "")),
        ("Workers:", str(len(workers))),
        ("Total threads:", str(threads)),
        ("Total memory:", f"{memory / 2**30:.2f} GiB"),
        ("daskml_h2o version:", _version()),
    ]


def _version() -> str:
    from daskml_h2o import __version__
    return __version__


def _print_status(session: _Session) -> None:
    rows = _status_rows(session)
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))


class H2OCluster:
    """What ``h2o.cluster()`` returns: status and shutdown of the session's Dask cluster."""

    def show_status(self, detailed=False):
        if not is_running():
            print("No cluster is running: call h2o.init()")
            return
        _print_status(_session)
        if detailed:
            for address, w in _session.client.scheduler_info()["workers"].items():
                print(f"  {address}: {w.get('nthreads')} threads, {(w.get('memory_limit') or 0) / 2**30:.2f} GiB")

    def shutdown(self, prompt=False):
        shutdown(prompt=prompt)

    def is_running(self) -> bool:
        return is_running()

    @property
    def cloud_size(self) -> int:
        return len(get_client().scheduler_info()["workers"]) if is_running() else 0

    @property
    def nodes(self) -> list[dict]:
        return list(get_client().scheduler_info()["workers"].values()) if is_running() else []

    @property
    def timezone(self) -> str:
        return "UTC"

    @property
    def client(self) -> distributed.Client:
        return get_client()

    def __repr__(self):
        if not is_running():
            return "<H2OCluster: not running>"
        return "\n".join(f"{k} {v}" for k, v in _status_rows(_session))


def cluster() -> H2OCluster | None:
    """The current cluster object (``None`` before ``init``, as in H2O)."""
    return H2OCluster() if is_running() else None


_H2O_LOG_LEVELS = {"TRACE": "DEBUG", "DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARNING", "ERRR": "ERROR",
                   "FATAL": "CRITICAL"}


def _log_level(level) -> str:
    name = str(level).upper()
    if name not in _H2O_LOG_LEVELS:
        raise ValueError(f"log_level={level!r}: use one of {sorted(_H2O_LOG_LEVELS)}")
    return _H2O_LOG_LEVELS[name]


def _warn_jvm_only(**given):
    set_args = [k for k, v in given.items() if v is not None]
    if set_args:
        warnings.warn(f"init(): {set_args} configure H2O's JVM and have no effect on a Dask cluster", stacklevel=3)
