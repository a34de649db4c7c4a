"""Import and export of frames: URL/path resolution over fsspec (file, s3/s3a, webhdfs,
hdfs, http), CSV (plain or compressed) and Parquet reading into a dask DataFrame with
H2O's type rules (parse.py), and atomic single-file CSV / Parquet export.

Import loads the data, as H2O's import_file does: a preview of the first file
guesses separator, header and types; then every block is parsed exactly once, on the
cluster, and the parsed blocks stay there (persisted; dask spills them to disk when
memory is short). While parsing, each block reports its enum levels and whether its
numbers are whole; once all blocks are in, the sorted enum domains are known and each
block is recoded onto them in memory. The returned frame's graph starts from those
persisted partitions, so describe, training and every later step never re-read or
re-parse the files. Without a running cluster, import starts the embedded one (as
``h2o.init()`` would); a local dask scheduler set in ``dask.config`` is used instead.

Parsing is typed: numeric columns whose preview holds only numbers are parsed by the
CSV reader straight to float64 and enum columns to dictionary-encoded strings. A
block whose float column meets a token the reader rejects (H2O reads non-numeric
tokens there as NA) or takes for NaN/Inf is re-read with that column as text and
converted by H2O's token rules.
"""
import io as _io
import posixpath
import re
import uuid

import dask
import dask.dataframe as dd
import distributed
import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem
from fsspec.utils import read_block

from . import parse
from .parse import ColumnPlan, typed_from_text  # noqa: F401  (H2OFrame(python_obj) parses through io)

_NO_STRING_CONVERSION = {"dataframe.convert-string": False}

_EXT_COMPRESSION = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2", ".zip": "zip",
                    ".xz": "xz", ".lzma": "xz", ".zst": "zstd", ".zstd": "zstd"}
_MAGIC = [(b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"PK\x03\x04", "zip"),
          (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd")]
_PARQUET_EXT = (".parquet", ".parq", ".pq")
_PREVIEW_BYTES = 1 << 20


# ---------------------------------------------------------------- filesystems and paths

def _filesystem(url, storage_options):
    """(fs, path without protocol) for a URL, mapping s3a -> s3."""
    opts = dict(storage_options or {})
    if re.match(r"^s3a://", url):
        url = "s3://" + url[len("s3a://"):]
    if url.startswith("hdfs://"):
        try:
            fs, path = fsspec.core.url_to_fs(url, **opts)
        except (ImportError, OSError, RuntimeError) as e:
            raise ValueError(
                f"cannot open {url!r}: the native HDFS client (libhdfs with JAVA_HOME/CLASSPATH) is not "
                f"available on this machine ({e}); use webhdfs://<namenode>:<port>/path instead") from e
        return fs, path
    try:
        return fsspec.core.url_to_fs(url, **opts)
    except ImportError as e:
        raise ValueError(f"cannot open {url!r}: {e}") from e


def _visible(relpath):
    """Data files only: no part of the path may start with '_' or '.' (_SUCCESS, .crc)."""
    return not any(p.startswith(("_", ".")) for p in relpath.strip("/").split("/") if p)


def _remote_error(url, e):
    """Turn a filesystem failure while listing into a clear error."""
    text = f"{type(e).__name__}: {e}"
    if isinstance(e, FileNotFoundError):
        return FileNotFoundError(f"{url!r} does not exist (no such file, directory or bucket): {e}")
    if isinstance(e, PermissionError) or re.search(r"AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|"
                                                   r"Forbidden|403", text):
        return PermissionError(f"access to {url!r} was refused ({text}); check the credentials "
                               "(storage_options key/secret/token, or anon=True for public data)")
    if re.search(r"connect|Connection|resolve|Endpoint|timed out|Max retries", text, re.I):
        return ValueError(f"cannot reach the server for {url!r} ({text}); check the address/port or "
                          "storage_options['endpoint_url']")
    return ValueError(f"cannot list {url!r}: {text}")


def resolve_paths(path, pattern=None, storage_options=None):
    """(fs, sorted list of files) for a file, list, glob or directory; checks now that
    everything exists and is readable, before any long work."""
    urls = [path] if isinstance(path, (str, bytes)) or hasattr(path, "__fspath__") else list(path)
    if not urls:
        raise ValueError("no path given; pass a file, a list of files, a glob or a directory")
    fs, files = None, []
    for url in urls:
        url = str(url)
        if url.startswith("~"):
            raise ValueError(f"{url!r}: '~' paths are not supported; give an absolute or relative path")
        ufs, p = _filesystem(url, storage_options)
        if fs is None:
            fs = ufs
        elif type(ufs) is not type(fs):
            raise ValueError(f"{url!r}: all paths of one import must be on the same filesystem")
        files.extend(_expand(ufs, url, p))
    if pattern is not None:
        rx = re.compile(pattern)
        files = [f for f in files if rx.search(posixpath.basename(f))]
        if not files:
            raise FileNotFoundError(f"no file in {path!r} matches pattern {pattern!r}")
    return fs, files


class _NoData(FileNotFoundError):
    """The path exists but names no data file."""


def _expand(fs, url, p):
    try:
        if any(ch in p for ch in "*?["):
            found = sorted(f for f in fs.glob(p) if fs.isfile(f))
            if not found:
                raise _NoData(f"no file matches {url!r}")
            return [f for f in found if _visible(posixpath.basename(f))] or found
        info = fs.info(p)
        if info["type"] == "directory":
            found = sorted(f for f in fs.find(p) if _visible(f[len(p.rstrip("/")):]))
            if not found:
                raise _NoData(f"directory {url!r} holds no data file "
                                        "(names starting with '_' or '.' are skipped)")
            return found
        return [p]
    except _NoData:
        raise
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{url!r} does not exist: {e}") from None
    except Exception as e:  # noqa: BLE001 - any backend failure becomes a clear error
        raise _remote_error(url, e) from e


def _by_extension(path):
    """'parquet', a compression name, 'csv', or None when the name does not tell."""
    low = path.lower()
    if low.endswith(_PARQUET_EXT):
        return "parquet"
    for ext, comp in _EXT_COMPRESSION.items():
        if low.endswith(ext):
            return comp
    return "csv" if low.endswith((".csv", ".tsv")) else None


def _by_magic(head):
    if head.startswith(b"PAR1"):
        return "parquet"
    for magic, comp in _MAGIC:
        if head.startswith(magic):
            return comp
    return "csv"


def _file_kinds(fs, files):
    """Per file 'parquet', 'csv' or a compression name; names without a telling
    extension are recognised by their first bytes, fetched in one batch."""
    kinds = [_by_extension(f) for f in files]
    unknown = [i for i, k in enumerate(kinds) if k is None]
    if unknown:
        paths = [files[i] for i in unknown]
        heads = fs.cat_ranges(paths, [0] * len(paths), [8] * len(paths))
        for i, head in zip(unknown, heads):
            if isinstance(head, Exception):
                raise _remote_error(files[i], head)
            kinds[i] = _by_magic(head)
    return kinds


# ---------------------------------------------------------------- CSV options

class _CsvFormat:
    """What the preview decided: separator, quoting, header tokens, column count."""

    def __init__(self, sep, quotechar, escapechar, ncols, header_tokens):
        self.sep, self.quotechar, self.escapechar = sep, quotechar, escapechar
        self.ncols, self.header_tokens = ncols, header_tokens

    def read(self, data, where, lines_before=None, types=None, include=None):
        """Bytes of whole lines -> one pyarrow (chunked) array per column of ``include``
        (default all), typed as ``types`` says (default all strings, "" kept as a token).
        A typed column whose token the reader cannot convert raises _TypedColumnFailed."""
        include = list(range(self.ncols)) if include is None else list(include)
        if not _NOT_BLANK.search(data):
            return [pa.chunked_array([], pa.string()) for _ in include]
        if self.sep == " ":
            # runs of spaces are one separator; leading/trailing spaces are no field
            data = _SPACE_RUN.sub(b" ", _EDGE_SPACES.sub(b"", data))
        bad = []

        def on_bad(row):
            bad.append(row)
            return "skip"

        names = [f"f{i}" for i in range(self.ncols)]
        if types is None:
            convert = pacsv.ConvertOptions(
                column_types={names[i]: pa.string() for i in include}, null_values=[],
                strings_can_be_null=False, quoted_strings_can_be_null=False,
                include_columns=[names[i] for i in include])
        else:
            convert = pacsv.ConvertOptions(
                column_types={names[i]: t for i, t in zip(include, types)}, null_values=[""],
                strings_can_be_null=True, quoted_strings_can_be_null=True,
                include_columns=[names[i] for i in include])
        try:
            table = pacsv.read_csv(
                _io.BytesIO(data),
                read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
                parse_options=pacsv.ParseOptions(
                    delimiter=self.sep,
                    quote_char=self.quotechar or False, escape_char=self.escapechar or False,
                    invalid_row_handler=on_bad),
                convert_options=convert)
        except pa.ArrowInvalid as e:
            failed = _CONVERSION_ERROR.match(str(e))
            if failed and types is not None:
                raise _TypedColumnFailed(include.index(int(failed.group(1)))) from None
            raise ValueError(f"cannot parse {where}: {e}") from None
        if bad:
            row = bad[0]
            line = _line_of(data, row.text)
            line = (lines_before() if lines_before else 0) + line if line else f"row {row.number}"
            raise ValueError(
                f"malformed CSV line in {where}: line {line} has {row.actual_columns} fields, expected "
                f"{row.expected_columns} (text: {row.text[:200]!r}); fix the line or check sep/quotechar")
        return [table.column(i) for i in range(len(include))]


class _TypedColumnFailed(Exception):
    """A typed column of a block held a token the CSV reader could not convert."""

    def __init__(self, position):
        super().__init__(position)
        self.position = position


_NOT_BLANK = re.compile(rb"\S")
_SPACE_RUN = re.compile(rb" +")
_EDGE_SPACES = re.compile(rb"(?m)^ +| +$")
_CONVERSION_ERROR = re.compile(r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error")


def _line_of(data, text):
    target = text.encode("utf-8", "replace")
    for i, ln in enumerate(data.split(b"\n"), start=1):
        if ln.rstrip(b"\r") == target:
            return i
    return None


def _decode_lines(raw, limit):
    if len(raw) >= _PREVIEW_BYTES and b"\n" in raw:
        raw = raw[: raw.rfind(b"\n") + 1]
    text = raw.decode("utf-8", errors="replace")
    lines = [ln.rstrip("\r") for ln in text.split("\n")]
    lines = [ln for ln in lines if ln.strip() != ""]
    return lines[:limit], raw


def _preview(fs, path, comp):
    with fs.open(path, "rb", compression=comp) as f:
        raw = f.read(_PREVIEW_BYTES)
    return _decode_lines(raw, parse.PREVIEW_ROWS + 1)


# ---------------------------------------------------------------- per-block work

class _CsvBlocks:
    """Reads one block (path, offset, length, compression) of a CSV and parses it.
    Picklable: the filesystem (with its storage options) travels inside the graph.
    ``floats[j]``: kept column j may be parsed by the reader as float64. A compressed
    file is one block, streamed and parsed in pieces of about ``blocksize`` bytes of
    text, each its own partition."""

    def __init__(self, fs, fmt, keep, plans, floats, blocksize):
        self.fs, self.fmt, self.keep, self.plans, self.floats = fs, fmt, keep, plans, floats
        self.blocksize = blocksize

    def _pieces(self, block):
        """-> iterator of (bytes of whole lines, lines of the file before them or a
        callable counting them)."""
        path, offset, length, comp = block
        if comp is None and length is not None:
            with self.fs.open(path, "rb") as f:
                data = read_block(f, offset, length, b"\n")
            yield data, (lambda: self._lines_before(block)) if offset else 0
            return
        with self.fs.open(path, "rb", compression=comp) as f:
            if self.blocksize is None:
                yield f.read(), 0
                return
            lines, rest = 0, b""
            while True:
                buf = f.read(self.blocksize)
                data = rest + buf
                if not buf:
                    if data or not lines:
                        yield data, lines
                    return
                cut = data.rfind(b"\n") + 1
                if cut:
                    data, rest = data[:cut], data[cut:]
                    yield data, lines
                    lines += data.count(b"\n")
                else:
                    rest = data

    def _lines_before(self, block):
        path, offset, _, _ = block
        with self.fs.open(path, "rb") as f:
            return read_block(f, 0, offset, b"\n").count(b"\n")

    def _without_header(self, data, where):
        """A file's first line is dropped when it is the header (every file of a
        multi-file import may repeat it). -> (data, lines dropped)."""
        header = self.fmt.header_tokens
        if header is None:
            return data, 0
        end = data.find(b"\n") + 1 or len(data)
        try:
            first = self.fmt.read(data[:end], where)
        except ValueError:
            return data, 0
        if first and len(first[0]) > 0 and [c[0].as_py() for c in first] == header:
            return data[end:], 1
        return data, 0

    def _arrow_type(self, j, as_text):
        plan = self.plans[j]
        if plan.kind == "enum":
            return pa.dictionary(pa.int32(), pa.string())
        if plan.kind == "numeric" and self.floats[j] and j not in as_text:
            return pa.float64()
        return pa.string()

    def load(self, block):
        """One block -> list of pandas DataFrames of contract dtypes, enum columns
        categorical over the piece's own levels (recoded onto the frame domain by
        _finish)."""
        where = f"file {block[0]!r}" + (f" (block at byte {block[1]})" if block[1] else "")
        frames = []
        for data, before in self._pieces(block):
            dropped = 0
            if block[1] == 0 and not frames:
                data, dropped = self._without_header(data, where)
            frames.append(self._parse(data, where, before, dropped))
        return frames

    def _parse(self, data, where, before, dropped):
        def lines_before():
            return (before() if callable(before) else before) + dropped

        as_text = set()
        while True:
            types = [self._arrow_type(j, as_text) for j in range(len(self.plans))]
            try:
                cols = self.fmt.read(data, where, lines_before, types=types, include=self.keep)
            except _TypedColumnFailed as e:
                as_text.add(e.position)
                continue
            out = {}
            for j, (col, plan) in enumerate(zip(cols, self.plans)):
                s = parse.typed_column(col, plan)
                if s is None:
                    as_text.add(j)
                    break
                out[plan.name] = s
            else:
                return pd.DataFrame(out, copy=False)  # no consolidation copy


def _block_facts(frames, plans):
    facts = [[parse.column_facts(df[p.name], p.kind) for p in plans] for df in frames]
    return _combine_all(facts, parse.merge_facts)


def _finish(frames, k, plans):
    """Piece k of a loaded block, its enum columns recoded onto the sorted domains."""
    df = frames[k].copy(deep=False)
    for p in plans:
        if p.kind == "enum":
            df[p.name] = parse.with_categories(df[p.name], p.categories)
    return df


def _tree_reduce(items, combine, split_every=8):
    while len(items) > 1:
        items = [dask.delayed(_combine_all)(items[i:i + split_every], combine)
                 for i in range(0, len(items), split_every)]
    return items[0]


def _combine_all(parts, combine):
    out = parts[0]
    for p in parts[1:]:
        out = combine(out, p)
    return out


def _ensure_scheduler():
    """import_file loads onto the cluster: start the embedded one unless a scheduler
    (a client, or a local scheduler set in dask.config) is already chosen."""
    if dask.config.get("scheduler", None) is None:
        from .cluster import get_client
        get_client()


def _load(load, items, plans, label):
    """Parse every item once (``load(item)`` -> list of frames), keep the parsed pieces
    on the cluster, collect the enum domains and int-ness from them -> (dask DataFrame
    of the recoded pieces, types); the caller persists it (_loaded)."""
    _ensure_scheduler()
    token = uuid.uuid4().hex[:12]
    parts = dask.persist(*[dask.delayed(load, pure=False)(it, dask_key_name=f"{label}-load-{i}-{token}")
                           for i, it in enumerate(items)])
    facts, sizes = dask.compute(_tree_reduce([dask.delayed(_block_facts)(p, plans) for p in parts],
                                             parse.merge_facts), [dask.delayed(len)(p) for p in parts])
    types = parse.finalize(None, plans, facts)
    shared = dask.delayed(plans, traverse=False)  # the domains travel once, not per partition
    with dask.config.set(_NO_STRING_CONVERSION):
        ddf = dd.from_delayed([dask.delayed(_finish)(p, k, shared) for p, n in zip(parts, sizes) for k in range(n)],
                              meta=_meta(plans), verify_meta=False, prefix=label)
    return ddf, types


def _loaded(ddf):
    """Persist the frame and wait until every partition is in cluster memory."""
    ddf = dask.persist(ddf)[0]
    futures = distributed.futures_of(ddf)
    if futures:
        distributed.wait(futures)
        for f in futures:
            if f.status == "error":
                f.result()
    return ddf


def _meta(plans):
    cols = {}
    for p in plans:
        if p.kind == "enum":
            cols[p.name] = pd.Series(pd.Categorical([], categories=p.categories))
        elif p.kind in ("string", "uuid"):
            cols[p.name] = pd.Series([], dtype=object)
        else:
            cols[p.name] = pd.Series([], dtype=np.float64)
    return pd.DataFrame(cols)


# ---------------------------------------------------------------- CSV import

def _column_names(header_tokens, ncols, col_names):
    if header_tokens is not None:
        names = [t.strip() or f"C{i + 1}" for i, t in enumerate(header_tokens)]
    else:
        names = [f"C{i + 1}" for i in range(ncols)]
    seen = {}
    for i, n in enumerate(names):
        if n in seen:
            names[i] = f"{n}{seen[n]}"
        seen[n] = seen.get(n, 0) + 1
    if col_names is not None:
        if len(col_names) != ncols:
            raise ValueError(f"col_names has {len(col_names)} names for {ncols} columns")
        names = [str(n) for n in col_names]
    return names


def _aligned(spec, names, keep, what):
    """col_types / na_strings given for all columns or only the kept ones -> kept."""
    if spec is None or isinstance(spec, (dict, str)):
        return spec
    spec = list(spec)
    if what == "na_strings" and all(isinstance(v, str) for v in spec):
        return spec
    if len(spec) == len(names) and len(keep) != len(names):
        return [spec[i] for i in keep]
    return spec


def _csv_blocks(fs, files, comps, blocksize):
    blocks = []
    for path, comp in zip(files, comps):
        size = fs.size(path) if comp is None else None
        if comp is not None or not size or blocksize is None:
            blocks.append((path, 0, None, comp))
            continue
        blocks.extend((path, off, blocksize, None) for off in range(0, size, blocksize))
    return blocks


def _parse_blocksize(blocksize):
    if blocksize is None:
        return None
    if isinstance(blocksize, str):
        from dask.utils import parse_bytes
        return parse_bytes(blocksize)
    return int(blocksize)


def read_csv_to_dask(path, header=0, sep=None, col_names=None, col_types=None, na_strings=None,
                     skipped_columns=None, pattern=None, storage_options=None, blocksize="64MB",
                     quotechar=None, escapechar=None):
    """Import CSV (plain or gz/bz2/zip/xz/zst) or Parquet files -> (dask DataFrame, types)
    with H2O's parse rules (spec frame_and_api §2)."""
    if header not in (-1, 0, 1):
        raise ValueError(f"header={header!r}: use -1 (no header), 0 (guess) or 1 (first line is header)")
    if quotechar not in (None, '"', "'"):
        raise ValueError(f"quotechar={quotechar!r}: use '\"' or \"'\"")
    fs, files = resolve_paths(path, pattern, storage_options)
    kinds = _file_kinds(fs, files)
    if "parquet" in kinds:
        if set(kinds) != {"parquet"}:
            raise ValueError(f"{path!r} mixes Parquet and text files; import them separately")
        return _read_parquet(fs, files, col_names, col_types, na_strings, skipped_columns,
                             _parse_blocksize(blocksize))
    comps = [None if k == "csv" else k for k in kinds]
    fmt, keep, plans, floats = _csv_setup(fs, files[0], comps[0], header, sep, quotechar or '"', escapechar,
                                          col_names, col_types, na_strings, skipped_columns)
    blocksize = _parse_blocksize(blocksize)
    blocks = _csv_blocks(fs, files, comps, blocksize)
    ddf, types = _load(_CsvBlocks(fs, fmt, keep, plans, floats, blocksize).load, blocks, plans, "h2o-read-csv")
    return _loaded(ddf), types


def _csv_setup(fs, first_file, comp, header, sep, quote, escapechar, col_names, col_types,
               na_strings, skipped_columns):
    """From a preview of the first file: the format, kept column indices, the
    per-column plans (guessed types, NA strings) and which numeric columns the reader
    may parse as float64 (their preview holds numbers only)."""
    lines, raw = _preview(fs, first_file, comp)
    if not lines:
        raise ValueError(f"{first_file!r} is empty; nothing to import")
    sep = parse.guess_separator(lines, quote) if sep is None else sep
    if len(sep) != 1:
        raise ValueError(f"sep={sep!r}: the separator must be one character")
    if escapechar is not None and len(escapechar) != 1:
        raise ValueError(f"escapechar={escapechar!r}: give one character")
    fmt = _CsvFormat(sep, quote, escapechar, len(parse.split_line(lines[0], sep, quote)), None)
    preview = [c.combine_chunks()[: parse.PREVIEW_ROWS + 1] for c in fmt.read(raw, f"file {first_file!r}")]
    first = [c[0].as_py() for c in preview]
    second = [c[1].as_py() for c in preview] if len(preview[0]) > 1 else None
    has_header = header == 1 or (header == 0 and parse.guess_header(first, second))
    fmt.header_tokens = first if has_header else None
    names = _column_names(fmt.header_tokens, fmt.ncols, col_names)
    keep = _kept(skipped_columns, fmt.ncols)
    data = [preview[i][1:] if has_header else preview[i] for i in keep]
    plans = parse.guess_plans(data, [names[i] for i in keep], _aligned(col_types, names, keep, "col_types"),
                              _aligned(na_strings, names, keep, "na_strings"))
    floats = [p.kind == "numeric" and parse.numbers_only(col, p.na) for col, p in zip(data, plans)]
    return fmt, keep, plans, floats


def _kept(skipped_columns, ncols):
    skipped = set(skipped_columns or [])
    bad = [i for i in skipped if not isinstance(i, (int, np.integer)) or not 0 <= i < ncols]
    if bad:
        raise ValueError(f"skipped_columns {bad} are not 0-based column indices below {ncols}")
    keep = [i for i in range(ncols) if i not in skipped]
    if not keep:
        raise ValueError("skipped_columns removes every column")
    return keep


# ---------------------------------------------------------------- Parquet import

class _ParquetPieces:
    """Reads one piece (path, row groups) of a Parquet file and converts it (enum
    columns over the piece's own levels, as _CsvBlocks.load)."""

    def __init__(self, fs, columns, plans, native):
        self.fs, self.columns, self.plans, self.native = fs, columns, plans, native

    def table(self, piece):
        path, groups = piece
        with self.fs.open(path, "rb") as f:
            pf = pq.ParquetFile(f)
            return pf.read_row_groups(groups, columns=self.columns) if groups else \
                pf.schema_arrow.empty_table().select(self.columns)

    def load(self, piece):
        t = self.table(piece)
        return [pd.DataFrame({p.name: _convert_arrow(t.column(c), p, nat)
                              for c, p, nat in zip(self.columns, self.plans, self.native)})]



def _native_kind(t):
    """H2O kind a Parquet/Arrow type maps to without parsing text (None = via text)."""
    if pa.types.is_dictionary(t):
        return "enum"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "time"
    return None


def _convert_arrow(col, plan, native):
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if native and plan.kind == "numeric":
        return pd.Series(np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64),
                         name=plan.name)
    if native and plan.kind == "time":
        if pa.types.is_timestamp(col.type) and col.type.tz is not None:
            col = col.cast(pa.timestamp(col.type.unit))
        v = col.cast(pa.timestamp("ms"), safe=False).cast(pa.int64()).to_numpy(zero_copy_only=False)
        return pd.Series(np.asarray(v, dtype=np.float64), name=plan.name)
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    return parse.convert_tokens(parse.as_string_array(col), plan)


def _parquet_pieces(fs, files, blocksize):
    pieces = []
    for path in files:
        with fs.open(path, "rb") as f:
            md = pq.ParquetFile(f).metadata
        group, size = [], 0
        for g in range(md.num_row_groups):
            group.append(g)
            size += md.row_group(g).total_byte_size
            if blocksize and size >= blocksize:
                pieces.append((path, group))
                group, size = [], 0
        if group or not pieces or pieces[-1][0] != path:
            pieces.append((path, group))
    return pieces


def _read_parquet(fs, files, col_names, col_types, na_strings, skipped_columns, blocksize):
    with fs.open(files[0], "rb") as f:
        pf = pq.ParquetFile(f)
        schema = pf.schema_arrow
        preview = pf.read_row_group(0) if pf.metadata.num_row_groups else schema.empty_table()
    ncols = len(schema.names)
    names = list(schema.names) if col_names is None else _column_names(None, ncols, col_names)
    keep = _kept(skipped_columns, ncols)
    kept_names = [names[i] for i in keep]
    nas = parse.resolve_na_strings(_aligned(na_strings, names, keep, "na_strings"), kept_names)
    forced = parse.resolve_per_column(_aligned(col_types, names, keep, "col_types"), kept_names, "col_types")
    plans, native = [], []
    for i, name, na, force in zip(keep, kept_names, nas, forced):
        nat = _native_kind(schema.field(i).type)
        col = preview.column(i).slice(0, parse.PREVIEW_ROWS)
        if force is not None:
            kind = parse.canonical_type(force, name)
            plans.append(ColumnPlan(name, kind, na))
            native.append(nat == kind and kind in ("numeric", "time") and not na)
        elif nat in ("numeric", "time") and not na:
            plans.append(ColumnPlan(name, nat, na))
            native.append(True)
        else:
            if pa.types.is_dictionary(col.type):
                col = col.cast(col.type.value_type)
            # text columns of a typed format are factors unless almost all values differ
            kind, _ = parse.guess_kind(parse.token_counts(parse.as_string_array(col), na))
            kind = "string" if kind == "string" and nat != "enum" else "enum"
            plans.append(ColumnPlan(name, kind, na))
            native.append(False)
    columns = [schema.names[i] for i in keep]
    pieces = _parquet_pieces(fs, files, blocksize)
    ddf, types = _load(_ParquetPieces(fs, columns, plans, native).load, pieces, plans, "h2o-read-parquet")
    return _loaded(ddf), types


# ---------------------------------------------------------------- export

def _text_partition(pdf, types):
    """Contract dtypes -> what H2O writes: enum levels, whole numbers without '.0'."""
    out = {}
    for name, t in types.items():
        s = pdf[name]
        if t in ("int", "time"):
            out[name] = s.astype("Int64") if not (s.abs() > 2 ** 62).any() else s
        elif t == "enum":
            out[name] = s.astype(object).where(s.notna(), None)
        else:
            out[name] = s
    return pd.DataFrame(out, index=pdf.index)


def _write_part(pdf, fs, path, sep, header, types):
    with fs.open(path, "wb") as f:
        _text_partition(pdf, types).to_csv(f, sep=sep, header=header, index=False, na_rep="",
                                           lineterminator="\n")
    return path


def _check_target(url, force, storage_options):
    fs, path = _filesystem(url, storage_options)
    try:
        exists = fs.exists(path)
    except Exception as e:  # noqa: BLE001
        raise _remote_error(url, e) from e
    if exists and not force:
        raise FileExistsError(f"{url!r} already exists; pass force=True to overwrite it")
    parent = posixpath.dirname(path.rstrip("/"))
    if isinstance(fs, LocalFileSystem):
        if parent and not fs.isdir(parent):
            raise FileNotFoundError(f"cannot write {url!r}: directory {parent!r} does not exist")
    return fs, path, parent


def export_csv(ddf, types, path, force=False, sep=",", header=True, storage_options=None):
    """Write the frame as ONE CSV file (enum as levels, NA empty). Partitions are written
    in parallel beside the target, then joined into a temporary file that is renamed
    onto path; a failure leaves nothing behind."""
    missing = [c for c in ddf.columns if c not in types]
    if missing:
        raise ValueError(f"export_csv: no type given for columns {missing}; pass types for every column")
    fs, target, parent = _check_target(path, force, storage_options)
    token = uuid.uuid4().hex[:12]
    base = posixpath.basename(target)
    tmpdir = posixpath.join(parent, f".{base}.parts-{token}")
    tmpfile = posixpath.join(parent, f".{base}.tmp-{token}")
    types = {c: types[c] for c in ddf.columns}
    try:
        fs.makedirs(tmpdir, exist_ok=True)
        parts = [posixpath.join(tmpdir, f"part-{i:05d}.csv") for i in range(ddf.npartitions)]
        writes = [dask.delayed(_write_part)(part, fs, p, sep, header and i == 0, types,
                                            dask_key_name=f"h2o-export-csv-{i}-{token}")
                  for i, (part, p) in enumerate(zip(ddf.to_delayed(), parts))]
        dask.compute(*writes)
        with fs.open(tmpfile, "wb") as out:
            for p in parts:
                with fs.open(p, "rb") as f:
                    while True:
                        buf = f.read(1 << 22)
                        if not buf:
                            break
                        out.write(buf)
        # a rename onto the target: atomic on local disks; HDFS refuses to rename onto an
        # existing file and object stores copy, so there the old file goes first
        if force and not isinstance(fs, LocalFileSystem) and fs.exists(target):
            fs.rm(target)
        fs.mv(tmpfile, target)
    finally:
        for p in (tmpdir, tmpfile):
            try:
                if fs.exists(p):
                    fs.rm(p, recursive=True)
            except OSError:
                pass
    return path


def _arrow_schema(ddf, types):
    arrow = {"enum": pa.dictionary(pa.int32(), pa.string()), "string": pa.string(), "uuid": pa.string()}
    return pa.schema([(c, arrow.get(types[c], pa.float64())) for c in ddf.columns])


def export_parquet(ddf, types, path, force=False, storage_options=None):
    """Write the frame as a Parquet directory (enum as dictionary strings); written
    under a temporary name, then moved onto path."""
    fs, target, parent = _check_target(path, force, storage_options)
    tmpdir = posixpath.join(parent, f".{posixpath.basename(target)}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        ddf.to_parquet(fs.unstrip_protocol(tmpdir), storage_options=storage_options,
                       write_index=False, schema=_arrow_schema(ddf, types))
        if force and fs.exists(target):
            fs.rm(target, recursive=True)
        fs.mv(tmpdir, target, recursive=True)
    finally:
        if fs.exists(tmpdir):
            fs.rm(tmpdir, recursive=True)
    return path
