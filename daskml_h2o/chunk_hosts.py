"""Per-worker chunk hosts: the executor for clusters of worker processes.

Running every per-chunk step as a scheduler task costs a scheduler round trip per step (map,
reduce, gather: 10-40 ms), which dominated GBM fits on more than one process: a tree level
is a few milliseconds of work. Here every worker that holds training chunks gets one
``ChunkHost`` (a dask actor) keeping those chunks and every per-chunk value computed from
them. The driver records per-chunk steps lazily and ships them, together with the request
for the values it needs next, in one direct call per host: one round trip (~1-2 ms) per
tree level. Values come back per chunk and the driver adds them in the fixed partition
order ``LocalExecutor`` uses, so the model is bit-identical to the in-process one.

Where the driver and a host share a machine (a LocalCluster of worker processes), the call goes
over a private channel instead of the actor's RPC: a Unix socket the host serves from a thread
of its own, authenticated with a per-fit key (``multiprocessing.connection``). An actor call
hops through both event loops (driver thread -> client loop -> worker loop and back), ~4 ms a
tree level on 2 loaded cores; the channel is one blocking send/receive per side. Hosts on other
machines keep the actor path (dask's comms and their TLS settings).

A lost worker is survived as dask survives it, by lineage: every handle remembers the step
that made it, back to a source that is a dask future (recomputed by the scheduler): the
partitions of a persisted frame the hosts built the chunks from, or chunks built as tasks.
The sources of a lost host are adopted by a new host and the values the driver still holds
are recomputed there by replaying their steps; then the interrupted call is repeated. Steps
are pure functions of their inputs, so repeating one gives the same value.
"""
from __future__ import annotations

import copyreg
import io
import itertools
import logging
import os
import pickle
import select
import socket
import struct
import tempfile
import threading
import time
import uuid
import weakref
from collections import defaultdict, namedtuple
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Client as _ChannelClient
from multiprocessing.connection import Listener as _ChannelListener

import cloudpickle
import distributed
import numpy as np

from daskml_h2o.parallel import ChunkSet, PartitionError, _on_partition, _token, map_chunks, reduce_in_order

__all__ = ["ChunkHost", "HostExecutor", "release_idle_hosts"]

_keys = itertools.count()
logger = logging.getLogger(__name__)
# how long a recovery waits for the scheduler to notice a lost worker / for any worker at all
LOST_WORKER_WAIT_S = 30
HOST_START_TIMEOUT_S = 120
# hosts with at most this many rows run a level's steps on the worker's event loop
INLINE_MAX_ROWS = 2_000_000
# calls to hosts on the driver's machine go over a direct channel (False: always the actor)
DIRECT_CHANNELS = True
RECOVERY_TIMEOUT_S = 300
# arrays at least this large travel out of band over a channel (see _Channel)
OUT_OF_BAND_BYTES = 64 << 10


class ChunkHost:
    """The actor on one worker: values by key, and the steps that compute new ones."""

    def __init__(self, n_threads: int):
        self.values = {}
        self.n_threads = max(1, int(n_threads))
        self._pool = ThreadPoolExecutor(self.n_threads, thread_name_prefix="daskml-h2o-host") \
            if self.n_threads > 1 else None

    def put(self, key, value) -> None:
        self.values[key] = value

    def open_channel(self, authkey: bytes, probe_path: str, probe_token: bytes, name=None):
        """Listen on a new Unix socket for the driver's direct calls (see the module docstring)
        when the driver is on this machine -- it wrote ``probe_token`` to ``probe_path`` -- and
        return the socket's path and the CPUs this worker may run on; else None. One connection
        is served, by a thread of its own, until the driver sends None or goes away. A request
        is ``{name: (batches, collect, drops, puts)}`` for every host the driver calls at once
        (one encoding for all of them); this host runs the entry under ``name`` (``run``)."""
        try:
            with open(probe_path, "rb") as fh:
                if fh.read() != probe_token:
                    return None
        except OSError:
            return None
        path = os.path.join(tempfile.gettempdir(), f"daskml-h2o-host-{uuid.uuid4().hex[:16]}.sock")
        listener = _ChannelListener(path, family="AF_UNIX", authkey=authkey)
        threading.Thread(target=self._serve_channel, args=(listener, path, name), name="daskml-h2o-host-channel",
                         daemon=True).start()
        return path, _cpus()

    def abandon_channel(self, path: str) -> None:
        """Wake a channel's thread still waiting for the driver (which could not connect)."""
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(path)  # accepted, then refused by the key check: the thread ends
        except OSError:
            pass

    def _serve_channel(self, listener, path, name) -> None:
        try:
            conn = listener.accept()
        except Exception:  # the driver could not connect (another machine) or failed the key check
            return
        finally:
            listener.close()  # also removes the socket file: the connection lives on
            _remove_quietly(path)
        with _Channel(conn) as channel:
            while True:
                try:
                    request = channel.receive()
                except (EOFError, OSError):
                    return
                if request is None:
                    return
                try:
                    reply = ("ok", self.run(*request[name]))
                except Exception as exc:  # the driver decides: a partition's error or a recovery
                    reply = ("error", exc)
                if not _send_reply(channel, reply):
                    return

    def run(self, batches, collect, drops, puts=None):
        """Store ``puts`` ({key: constant}), run ``batches`` in order (each one step over this
        host's chunks, chunks in parallel), return ``[combine(value) for each (key, combine) in
        collect]``, then forget ``drops`` (None: every value, the executor is done with this host
        and may hand it to the next one)."""
        if puts:
            self.values.update(puts)
        for fn, args, items in batches:
            self._run_batch(fn, args, items)
        out = []
        for key, combine in collect:
            value = self.values[key]
            out.append(value if combine is None else combine(value))
        if drops is None:
            self.values.clear()
        for key in drops or ():
            self.values.pop(key, None)
        return out

    def _resolve(self, ref):
        kind, value = ref
        # "key": a per-chunk value, "shared": a constant sent once; both are stored here
        return value if kind == "value" else self.values[value]

    def _run_batch(self, fn, args, items):
        args = tuple(self._resolve(a) for a in args)

        def one(item):
            _, partition, out_key, refs = item
            self.values[out_key] = _on_partition(fn, partition, *(self._resolve(r) for r in refs), *args)

        if self._pool is None or len(items) == 1:
            for item in items:
                one(item)
        else:
            for job in [self._pool.submit(one, item) for item in items]:
                job.result()


def _send_reply(channel, reply) -> bool:
    """Send a host's reply, or an error naming why it cannot be pickled; False once the driver
    is gone. send pickles the whole reply before writing any of it."""
    try:
        try:
            channel.send(reply)
        except (EOFError, OSError):
            raise
        except Exception as exc:  # an unpicklable value or exception
            channel.send(("error", RuntimeError(f"chunk host could not send its reply: {exc!r}")))
    except (EOFError, OSError):
        return False
    return True


def _small_array(data, dtype, shape):
    # over a bytearray: writable (numba compiles read-only arrays as another type) and aligned
    return np.frombuffer(bytearray(data), dtype).reshape(shape)


def _reduce_array(array):
    """Small plain arrays as (bytes, dtype string, shape): numpy's own reduction pickles the
    dtype object and a state tuple, ~2.5 us an array, and a level's plan holds about 15."""
    if array.nbytes >= OUT_OF_BAND_BYTES or array.dtype.fields is not None or array.dtype.hasobject \
            or not array.flags.c_contiguous:
        return array.__reduce_ex__(5)
    return _small_array, (array.tobytes(), array.dtype.str, array.shape)


class _ChannelPickler(pickle.Pickler):
    dispatch_table = {**copyreg.dispatch_table, np.ndarray: _reduce_array}


def _dumps(value, buffer_callback=None) -> bytes:
    """Channel framing: plain pickle where it can stand for cloudpickle (a few times faster on a
    level's request of many small objects), cloudpickle for what only it carries: lambdas, local
    functions, and classes or functions of ``__main__`` (pickled by name, a host could not
    import them). With ``buffer_callback`` arrays' memory goes out of band (pickle protocol 5)."""
    buffers = []

    def keep(buffer):
        # pickle keeps a buffer in band when this returns True: small arrays ride in the payload
        if buffer.raw().nbytes < OUT_OF_BAND_BYTES:
            return True
        buffers.append(buffer)
        return False

    callback = None if buffer_callback is None else keep
    try:
        out = io.BytesIO()
        _ChannelPickler(out, protocol=5, buffer_callback=callback).dump(value)
        payload = out.getvalue()
    except Exception:  # a lambda or a local object
        payload = None
    if payload is None or b"__main__" in payload:
        buffers.clear()
        payload = cloudpickle.dumps(value, protocol=5, buffer_callback=callback)
    for buffer in buffers:
        buffer_callback(buffer)
    return payload


class _Channel:
    """One authenticated Unix-socket connection (``multiprocessing.connection``) carrying pickled
    messages whose arrays travel out of band: written from the arrays' own memory and read
    straight into the buffers the unpickled arrays then use, one copy end to end. Through the
    connection's own framing a level's histograms were copied four times and trickled through
    the default 208 KiB socket buffer (~0.8 ms for 0.4 MB)."""

    BUFFER_BYTES = 4 << 20
    _HEAD = struct.Struct("!QI")  # payload bytes, number of out-of-band buffers

    def __init__(self, conn):
        self.conn = conn
        self.sock = socket.socket(fileno=os.dup(conn.fileno()))
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, option, self.BUFFER_BYTES)
            except OSError:  # the system's limit stays
                pass

    def send(self, value) -> None:
        self.send_encoded(self.encode(value))

    @classmethod
    def encode(cls, value):
        """``value`` as this framing's pieces: once for any number of channels."""
        buffers = []
        payload = _dumps(value, buffers.append)
        raws = [b.raw() for b in buffers]
        sizes = struct.pack(f"!{len(raws)}Q", *(r.nbytes for r in raws))
        return cls._HEAD.pack(len(payload), len(raws)) + sizes + payload, raws

    def send_encoded(self, encoded) -> None:
        head, raws = encoded
        self.sock.sendall(head)
        for raw in raws:
            self.sock.sendall(raw)

    def receive(self):
        n_payload, n_buffers = self._HEAD.unpack(self._exactly(self._HEAD.size))
        sizes = struct.unpack(f"!{n_buffers}Q", self._exactly(8 * n_buffers))
        payload = self._exactly(n_payload)
        return pickle.loads(payload, buffers=[self._exactly(n) for n in sizes])

    def _exactly(self, n):
        # large buffers uninitialised: bytearray zero-fills, a pass over a level's histograms
        buf = bytearray(n) if n < OUT_OF_BAND_BYTES else np.empty(n, dtype=np.uint8)
        view, got = memoryview(buf).cast("B"), 0
        while got < n:
            k = self.sock.recv_into(view[got:], n - got)
            if k == 0:
                raise EOFError("the chunk host channel was closed")
            got += k
        return buf

    def idle(self) -> bool:
        """True when nothing is waiting to be read: a host between calls sends nothing, so a
        readable socket is a closed one (its worker died)."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def close(self) -> None:
        try:
            self.sock.close()
            self.conn.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _cpus():
    """The CPUs this process may run on (None where the system does not say)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def _current_cpu_reader():
    try:
        import ctypes
        reader = ctypes.CDLL(None).sched_getcpu
        reader.restype = ctypes.c_int
        reader()
        return reader
    except (OSError, AttributeError, TypeError):  # not Linux/glibc
        return lambda: -1


_current_cpu = _current_cpu_reader()


def _remove_quietly(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _local_host(host_key):
    from distributed import get_worker
    host = get_worker().state.actors.get(host_key)
    if host is None:
        # the host's worker was lost and this task was rerun elsewhere: the executor recovers
        raise RuntimeError(f"chunk host {host_key} is not on this worker (its worker was lost)")
    return host


def _adopt(host_key, key, chunk):
    """Task on the worker holding ``chunk``: hand the (already local) object to the host."""
    _local_host(host_key).put(key, chunk)
    return True


class _Step:
    """Lineage: how one chunk's value was computed (inputs are _Step, _Source or literals)."""

    __slots__ = ("key", "chunk", "partition", "fn", "inputs", "args")

    def __init__(self, key, chunk, partition, fn, inputs, args):
        self.key, self.chunk, self.partition = key, chunk, partition
        self.fn, self.inputs, self.args = fn, inputs, args


class _Source:
    """A chunk of a persisted ChunkSet (a dask future: recomputable by the scheduler). Its key
    is also the chunk's id: every value computed from it lives on the same host."""

    __slots__ = ("key", "chunk", "partition", "future", "rows")

    def __init__(self, key, partition, future, rows):
        self.key, self.chunk, self.partition, self.future, self.rows = key, key, partition, future, rows


class Handle:
    """A per-chunk value living on a host; the value is forgotten when the handle is."""

    __slots__ = ("node", "__weakref__")

    def __init__(self, node):
        self.node = node

    @property
    def key(self):
        return self.node.key

    @property
    def chunk(self):
        return self.node.chunk


class _Shared:
    """A constant argument sent to every host once (the histogram strategy, say)."""

    __slots__ = ("key", "value", "__weakref__")

    def __init__(self, key, value):
        self.key, self.value = key, value


class HostExecutor:
    """Algorithms' per-chunk steps on chunk hosts (see the module docstring); the same
    interface as ``parallel.LocalExecutor`` and ``parallel.DaskExecutor``."""

    local = False
    adopts_partitions = True

    def __init__(self, client):
        self.client = client
        self.hosts = {}            # worker address -> actor proxy
        self.chunk_host = {}       # chunk id -> worker address
        self.sources = []          # handles of every adopted _Source: the chunks stay for the fit
        self.live = weakref.WeakValueDictionary()   # key -> Handle
        self.pending = []          # (fn, args, [(chunk id, partition, key, refs)])
        self.drops = defaultdict(list)
        self.shared = {}           # key -> _Shared, sent to hosts that lack them
        self.shared_on = defaultdict(set)
        self.recoveries = 0
        self.host_rows = defaultdict(int)   # rows of the chunks each host holds
        self.channels = {}         # worker address -> _Channel, for hosts on this machine
        self.unanswered = set()    # hosts called whose reply has not been read
        self.host_cpu = {}         # worker address -> the one CPU a channel host is pinned to
        self._authkey = os.urandom(32)

    # ---------------------------------------------------------- the executor interface

    def chunks(self, chunk_set: ChunkSet) -> list:
        rows = list(chunk_set.nrows) or [0] * len(chunk_set.futures)
        sources = [_Source(next(_keys), i, f, int(n)) for i, (f, n) in enumerate(zip(chunk_set.futures, rows))]
        handles = [self._handle(s) for s in sources]
        self.sources.extend(handles)
        self._adopt(sources)
        return handles

    def durable(self, fn, chunk_set: ChunkSet, args=(), name: str = "prepare") -> list:
        """A one-off step whose results are kept for the whole fit (binned chunks). Over chunks
        the hosts built (``parallel.persist_chunks``) it is a step like any other: a lost host's
        values are replayed from the frame's partitions. Over dask futures it runs as tasks, so
        the results are futures the scheduler can recompute, then the hosts adopt them."""
        if not chunk_set.on_scheduler:
            return self.map(fn, chunk_set.futures, args=args, name=name)
        futures = map_chunks(fn, chunk_set, args=args, name=name, client=self.client)
        return self.chunks(ChunkSet(futures, list(chunk_set.nrows)))

    def share(self, value):
        shared = _Shared(next(_keys), value)
        self.shared[shared.key] = shared
        return shared

    def map(self, fn, *per_chunk, args=(), name: str) -> list:
        lists = [list(p) for p in per_chunk]
        n = len(lists[0])
        if any(len(lst) != n for lst in lists):
            raise ValueError("map: every per-chunk list must have one entry per chunk")
        items, out = [], []
        for i in range(n):
            inputs = [lst[i].node if isinstance(lst[i], Handle) else lst[i] for lst in lists]
            chunks = {v.chunk for v in inputs if isinstance(v, (_Step, _Source))}
            if len(chunks) != 1:
                raise ValueError("map: every chunk's inputs must include values of that one chunk")
            step = _Step(next(_keys), chunks.pop(), i, fn, inputs, tuple(args))
            items.append((step.chunk, i, step.key, [self._ref(v) for v in inputs]))
            out.append(self._handle(step))
        self.pending.append((fn, tuple(self._arg_ref(a) for a in args), items))
        return out

    def reduce(self, combine, items: list, name: str, split_every: int = 8):
        if not items:
            raise ValueError("reduce needs at least one input")
        return reduce_in_order(combine, self._fetch(items, combine), split_every)

    def gather(self, items):
        if isinstance(items, list) and items and all(isinstance(h, Handle) for h in items):
            return self._fetch(items, None)
        return items

    def wait(self, items) -> None:
        self._call_hosts({})

    def retrying(self, fn):
        """``fn()``, repeated once the hosts are recovered when a worker was lost during it."""
        while True:
            recoveries = self.recoveries
            try:
                return fn()
            except PartitionError:
                raise
            except Exception as exc:
                logger.info("a step failed (%s: %s); checking for lost workers", type(exc).__name__, exc)
                # a recovery during fn (by a call to the hosts) also explains the failure
                if self.recoveries == recoveries and not self._recover(list(self.hosts),
                                                                       wait_s=LOST_WORKER_WAIT_S):
                    raise

    def close(self) -> None:
        """Empty the hosts and keep them, with their channels, for the client's next executor
        (``release_idle_hosts`` ends them). A host still owing a reply (a call cut short by an
        error) or failing to empty is ended instead."""
        idle = {}
        for address in list(self.hosts):
            if address not in self.unanswered:
                try:
                    self._empty(address)
                    idle[address] = _IdleHost(self.hosts[address], self.channels.pop(address, None),
                                              self.host_cpu.get(address), DIRECT_CHANNELS)
                    continue
                except Exception as exc:  # its worker is going: nothing to keep
                    logger.debug("chunk host on %s not kept: %s", address, exc)
            _retire(self.hosts[address], self.channels.pop(address, None))
        _keep_idle(self.client, idle)
        self.channels.clear()
        self.hosts.clear()
        self.live.clear()
        self.sources = []
        self.shared.clear()

    # ---------------------------------------------------------- handles and references

    def _handle(self, node) -> Handle:
        handle = Handle(node)
        self.live[node.key] = handle
        weakref.finalize(handle, self._forget, node.key, node.chunk)
        return handle

    def _forget(self, key, chunk) -> None:
        self.drops[chunk].append(key)

    def _ref(self, value):
        if isinstance(value, (_Step, _Source)):
            return ("key", value.key)
        return ("value", value)

    def _arg_ref(self, value):
        if isinstance(value, _Shared):
            return ("shared", value.key)
        return ("value", value)

    # ---------------------------------------------------------- calls to the hosts

    def _fetch(self, items, combine) -> list:
        got = self._call_hosts({h.key: (h.chunk, combine) for h in items})
        return [got[h.key] for h in items]

    def _call_hosts(self, collect: dict) -> dict:
        """Ship the pending steps and forgotten keys and fetch ``collect`` ({key: (chunk,
        combine)}): one call per host, all hosts at once. A host lost on the way is recovered
        (its chunks' values replayed elsewhere) and what it owed is asked again."""
        out = {}
        while True:
            got, failed, error = self._call_hosts_once({k: v for k, v in collect.items() if k not in out})
            out.update(got)
            if not failed:
                return out
            if not self._recover(failed):
                raise error

    def _call_hosts_once(self, collect: dict):
        batches, self.pending = self.pending, []
        drops, self.drops = self.drops, defaultdict(list)
        per_host = defaultdict(lambda: ([], [], [], {}))
        for fn, args, items in batches:
            by_host = defaultdict(list)
            for item in items:
                by_host[self.chunk_host[item[0]]].append(item)
            for address, host_items in by_host.items():
                per_host[address][0].append((fn, args, host_items))
                self._add_shared(address, args, per_host[address][3])
        for key, (chunk, combine) in collect.items():
            per_host[self.chunk_host[chunk]][1].append((key, combine))
        for chunk, keys in drops.items():
            if chunk in self.chunk_host:
                per_host[self.chunk_host[chunk]][2].extend(keys)
        calls, out, failed, error = {}, {}, [], None
        # one encoding for every channel host (the level's plan is most of it): each runs its entry
        channel_request = {a: r for a, r in per_host.items() if a in self.channels}
        encoded = _Channel.encode(channel_request) if channel_request else None
        for address, (host_batches, want, forget, puts) in self._call_order(per_host):
            try:
                if address in self.channels:
                    self._channel_send(address, encoded)
                    calls[address] = (None, want)
                    self.shared_on[address].update(puts)
                    continue
                # short steps run on the worker's event loop (no hop to the actor thread, ~0.5 ms a
                # call); long ones (much data, a replay) on the actor thread, so the loop stays free
                inline = len(host_batches) <= 3 and self.host_rows.get(address, 0) <= INLINE_MAX_ROWS
                calls[address] = (self.hosts[address].run(host_batches, want, forget, puts,
                                                          separate_thread=not inline), want)
                self.shared_on[address].update(puts)
            except PartitionError:
                raise
            except Exception as exc:
                failed.append(address)
                error = exc
        self.unanswered.update(calls)
        for address, (future, want) in calls.items():
            try:
                values = self._channel_receive(address) if future is None else future.result()
            except PartitionError:
                self.unanswered.discard(address)
                raise
            except Exception as exc:
                failed.append(address)
                error = exc
                continue
            self.unanswered.discard(address)
            out.update({key: value for (key, _), value in zip(want, values)})
        return out, failed, error

    def _call_order(self, per_host: dict) -> list:
        """Hosts in the order to call them: a host pinned to the CPU the driver runs on comes
        last. Waking it (the write of its request) lets it take the driver's CPU at once, and
        the requests not yet written would wait for that CPU: 1-5 ms in a tenth of the levels
        on 2 cores."""
        cpu = _current_cpu() if self.host_cpu else -1
        return sorted(per_host.items(), key=lambda item: self.host_cpu.get(item[0]) == cpu)

    # ---------------------------------------------------------- direct channels (same machine)

    def _open_channel(self, address) -> None:
        """A direct channel to the new host on ``address`` if it runs on this machine (it can
        read a token file the driver writes); else calls keep going through the actor."""
        if not DIRECT_CHANNELS:
            return
        token = os.urandom(16)
        probe = os.path.join(tempfile.gettempdir(), f"daskml-h2o-probe-{uuid.uuid4().hex[:16]}")
        try:
            with open(probe, "wb") as fh:
                fh.write(token)
            opened = self.hosts[address].open_channel(self._authkey, probe, token, address).result()
        except Exception as exc:
            logger.debug("no direct channel to %s: %s", address, exc)
            return
        finally:
            _remove_quietly(probe)
        if opened is None:
            return
        path, cpus = opened
        if cpus is not None and len(cpus) == 1:
            self.host_cpu[address] = cpus[0]
        try:
            self.channels[address] = _Channel(_ChannelClient(path, family="AF_UNIX", authkey=self._authkey))
        except Exception as exc:
            logger.debug("could not connect the channel to %s: %s", address, exc)
            try:
                self.hosts[address].abandon_channel(path).result()
            except Exception:
                pass

    def _empty(self, address) -> None:
        """Make the host forget every value (a call whose ``drops`` is None)."""
        if address in self.channels:
            self._channel_send(address, _Channel.encode({address: ((), (), None, None)}))
            self._channel_receive(address)
        else:
            self.hosts[address].run((), (), None, None, separate_thread=False).result(timeout=LOST_WORKER_WAIT_S)

    def _channel_send(self, address, encoded) -> None:
        try:
            self.channels[address].send_encoded(encoded)
        except (EOFError, OSError):
            self._close_channel(address)
            raise

    def _channel_receive(self, address):
        try:
            status, value = self.channels[address].receive()
        except (EOFError, OSError):
            self._close_channel(address)  # the host's worker went away: recovery moves its chunks
            raise
        if status == "error":
            raise value
        return value

    def _close_channel(self, address) -> None:
        conn = self.channels.pop(address, None)
        if conn is not None:
            conn.close()

    def _add_shared(self, address, args, puts) -> None:
        """The shared constants ``args`` name that the host lacks go into its call's ``puts``:
        each is sent to a host once, with the first call that needs it (``_call_hosts_once``
        notes it sent once the call is under way)."""
        for kind, key in args:
            if kind == "shared" and key not in self.shared_on[address]:
                puts[key] = self.shared[key].value

    # ---------------------------------------------------------- placement and recovery

    def _host_key(self, address):
        return self.hosts[address].key

    def _workers(self) -> dict:
        return self.client.scheduler_info().get("workers", {})

    def _start_hosts(self, addresses, workers) -> None:
        """A host on every address that has none yet: one the client's last executor left there,
        else a new one; new ones all started at once."""
        for address, idle in _take_idle(self.client, [a for a in addresses if a not in self.hosts], workers).items():
            self.hosts[address] = idle.actor
            if idle.channel is not None:
                self.channels[address] = idle.channel
            if idle.cpu is not None:
                self.host_cpu[address] = idle.cpu
        new = [a for a in addresses if a not in self.hosts]
        futures = [self.client.submit(ChunkHost, workers.get(a, {}).get("nthreads", 1), workers=[a],
                                      allow_other_workers=False, actor=True, key=f"chunk-host-{_token()}")
                   for a in new]
        deadline = time.monotonic() + HOST_START_TIMEOUT_S
        with self.client.as_current():
            for address, future in zip(new, futures):
                # a host pinned to a worker that has just died would wait for it forever
                while future.status == "pending":
                    try:
                        distributed.wait([future], timeout=0.5)
                    except (TimeoutError, distributed.TimeoutError):
                        pass
                    if future.status == "pending" and (address not in self._workers()
                                                       or time.monotonic() > deadline):
                        for f in futures:
                            f.cancel()
                        raise RuntimeError(f"could not start a chunk host on worker {address}")
                # the proxy binds to the current client: make it ours, not whichever is the default
                self.hosts[address] = future.result()
        for address in new:
            self._open_channel(address)

    def _adopt(self, sources) -> None:
        """Give each source's chunk to the host on the worker holding it, moving chunks so no
        worker holds more than its share (co-located afterwards). A worker lost meanwhile is
        left out of a new placement."""
        # placed once computed: a chunk still being built has no place yet, and a blind placement
        # copied it to another worker (its first copy stayed too, as the durable future's)
        with self.client.as_current():
            distributed.wait([s.future for s in sources])
        while True:
            workers = self._workers()
            located = self.client.who_has([s.future for s in sources])
            plan = _balanced_placement([next(iter(located.get(s.future.key, ())), None) for s in sources],
                                       sorted(workers))
            try:
                self._adopt_as(sources, plan, workers)
                return
            except PartitionError:
                raise
            except Exception:
                lost = self._wait_for_loss(set(plan), LOST_WORKER_WAIT_S)
                if not lost:
                    raise
                self._forget_hosts(lost)

    def _adopt_as(self, sources, plan, workers) -> None:
        self._start_hosts(sorted(set(plan)), workers)
        token = _token()
        acks = [self.client.submit(_adopt, self._host_key(address), s.key, s.future, workers=[address],
                                   allow_other_workers=True, pure=False, key=f"host-adopt-{s.chunk}-{token}")
                for s, address in zip(sources, plan)]
        self.client.gather(acks)
        for s, address in zip(sources, plan):
            self.chunk_host[s.chunk] = address
        self.host_rows = defaultdict(int)
        for handle in self.sources:
            self.host_rows[self.chunk_host.get(handle.chunk)] += handle.node.rows

    def _wait_for_loss(self, suspects, wait_s) -> list:
        """The suspect workers the scheduler no longer lists, waiting up to ``wait_s`` for one
        to go (it notices a dead worker within moments; a live one means another failure)."""
        deadline = time.monotonic() + wait_s
        while True:
            workers = self._workers()
            lost = [a for a in suspects if a not in workers]
            if lost or time.monotonic() > deadline:
                return lost
            time.sleep(0.1)

    def _forget_hosts(self, addresses) -> None:
        for address in addresses:
            self.unanswered.discard(address)
            self._close_channel(address)
            self.hosts.pop(address, None)
            self.host_cpu.pop(address, None)
            self.shared_on.pop(address, None)

    def _recover(self, suspects, wait_s=RECOVERY_TIMEOUT_S) -> bool:
        """After a failed call: once the scheduler has seen a suspect host's worker leave,
        move its chunks to live workers and recompute the values still referenced there.
        False when every suspect is still alive after ``wait_s`` (the failure was something
        else)."""
        lost = self._wait_for_loss([a for a in suspects if a in self.hosts], wait_s)
        if not lost:
            return False
        deadline = time.monotonic() + RECOVERY_TIMEOUT_S
        while not self._workers() and time.monotonic() < deadline:
            time.sleep(0.2)
        self._forget_hosts(lost)
        moved = sorted(c for c, a in self.chunk_host.items() if a in lost)
        logger.warning("worker(s) %s lost: moving %d chunk(s) to other workers and recomputing their values",
                       lost, len(moved))
        self._adopt([h.node for h in self.sources if h.chunk in moved])
        self._replay(set(moved))
        self.recoveries += 1
        return True

    def _replay(self, chunks: set) -> None:
        """Recompute, on their new hosts, the live values of ``chunks`` from their lineage."""
        order, seen = [], set()
        for key, handle in list(self.live.items()):
            if handle.chunk in chunks:
                _topological(handle.node, order, seen)
        batches = [(s.fn, tuple(self._arg_ref(a) for a in s.args),
                    [(s.chunk, s.partition, s.key, [self._ref(v) for v in s.inputs])]) for s in order]
        self.pending = batches + self.pending
        live_keys = set(self.live.keys())
        for s in order:
            if s.key not in live_keys:
                self.drops[s.chunk].append(s.key)


# Hosts an executor is done with, kept per client (by id) and worker address for the client's
# next executor: starting a host and opening its channel cost ~20 ms of a fit's setup on 2 cores.
# Emptied, a kept host holds no values, only its idle threads (channel, pool).
# ``direct``: DIRECT_CHANNELS when it was started (a host is only reused under the same setting)
_IdleHost = namedtuple("_IdleHost", ["actor", "channel", "cpu", "direct"])
_idle_hosts = {}   # client id -> {worker address: _IdleHost}
_idle_lock = threading.Lock()


def release_idle_hosts(client=None) -> None:
    """End the hosts kept for ``client``'s next fit (every client's when None)."""
    with _idle_lock:
        pools = [_idle_hosts.pop(i, {}) for i in (list(_idle_hosts) if client is None else [client.id])]
    for pool in pools:
        for idle in pool.values():
            _retire(idle.actor, idle.channel)


def _keep_idle(client, idle: dict) -> None:
    with _idle_lock:
        pool = _idle_hosts.setdefault(client.id, {})
        replaced = [pool[a] for a in idle if a in pool]
        pool.update(idle)
    for old in replaced:
        _retire(old.actor, old.channel)


def _take_idle(client, addresses, workers) -> dict:
    """The kept hosts on ``addresses`` that are still alive (their worker listed, their channel
    not closed), taken out of the pool; the others are ended."""
    with _idle_lock:
        pool = _idle_hosts.get(client.id, {})
        taken = {a: pool.pop(a) for a in addresses if a in pool}
    alive = {}
    for address, idle in taken.items():
        ok = address in workers and idle.direct == DIRECT_CHANNELS and idle.actor._future.status == "finished" \
            and (idle.channel is None or idle.channel.idle())
        if ok:
            alive[address] = idle
        else:
            _retire(idle.actor, idle.channel)
    return alive


def _retire(actor, channel) -> None:
    """End a host: its channel's thread (farewell), then the actor (released)."""
    if channel is not None:
        try:
            channel.send(None)
        except Exception:  # its host is gone
            pass
        channel.close()
    try:
        actor._future.release()
    except Exception:  # a host lost with its worker has nothing left to release
        pass


def _topological(node, order, seen) -> None:
    """Steps needed for ``node`` (sources are already adopted), inputs first."""
    stack = [(node, False)]
    while stack:
        current, expanded = stack.pop()
        if not isinstance(current, _Step) or current.key in seen:
            continue
        if expanded:
            seen.add(current.key)
            order.append(current)
            continue
        stack.append((current, True))
        for value in current.inputs:
            if isinstance(value, _Step) and value.key not in seen:
                stack.append((value, False))


def _balanced_placement(current: list, workers: list) -> list:
    """Keep each chunk where it is unless that worker already has its share (ceil(P/W));
    chunks without a place or over a share go to the least-loaded workers."""
    share = -(-len(current) // max(1, len(workers)))
    load = {w: 0 for w in workers}
    plan = [None] * len(current)
    for i, w in enumerate(current):
        if w in load and load[w] < share:
            plan[i] = w
            load[w] += 1
    for i in range(len(current)):
        if plan[i] is None:
            w = min(workers, key=lambda a: (load[a], a))
            plan[i] = w
            load[w] += 1
    return plan
