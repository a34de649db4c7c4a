"""Import benchmark: daskml_h2o vs real H2O vs plain dask on one mixed-type CSV (and its gz).

    python3 bench/import.py --rows 2000000 --out /tmp/import-table.md

Generates the seeded data once (cached in bench/data/), then, in one run and pinned to the
same cores, times for each file:

1. ``daskml_h2o``: ``h2o.init(); fr = h2o.import_file(path); fr.nrow; fr.describe()``
2. real H2O (its own JVM, same number of threads): ``h2o.import_file(path); fr.describe()``
3. plain dask: ``dd.read_csv(path).describe().compute()``

Each runs in a fresh process; "seconds" is the import + describe work (cluster or JVM
start excluded; "of which import" is the part until ``import_file`` returned and, for
daskml_h2o, ``nrow`` was known; near zero where the import is lazy), "peak RSS" the largest memory of the whole process tree (dask workers,
the JVM included) over the run. Prints a markdown table and writes it to ``--out``.
"""
import argparse
import contextlib
import io
import os
import sys
import time

# run as a script from anywhere: the package under test is the checkout this file is in
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _common import (emit, fmt_gb, fmt_seconds, machine_note, markdown_table, mixed_data,
                     own_h2o, run_measured)

SYSTEMS = ("daskml_h2o", "h2o", "dask")


def bench_daskml_h2o(path, cores, h2o_mem):
    """daskml_h2o's import written as an H2O user writes it."""
    import daskml_h2o as h2o
    if not hasattr(h2o, "import_file"):
        return {"skipped": "daskml_h2o.import_file is not available yet"}
    h2o.init()
    try:
        start = time.perf_counter()
        fr = h2o.import_file(path)
        rows = fr.nrow
        imported = time.perf_counter() - start
        with contextlib.redirect_stdout(io.StringIO()):
            fr.describe()
        return {"seconds": time.perf_counter() - start, "import_seconds": imported, "rows": rows}
    finally:
        with contextlib.suppress(Exception):
            h2o.shutdown()


def bench_h2o(path, cores, h2o_mem):
    """Real H2O: parse into the JVM and summarise every column."""
    with own_h2o(nthreads=cores, max_mem_size=h2o_mem) as h2o:
        h2o.no_progress()
        start = time.perf_counter()
        fr = h2o.import_file(path)
        imported = time.perf_counter() - start
        with contextlib.redirect_stdout(io.StringIO()):
            fr.describe()
        return {"seconds": time.perf_counter() - start, "import_seconds": imported,
                "rows": fr.nrow}


def bench_dask(path, cores, h2o_mem):
    """Plain dask.dataframe with the threaded scheduler on the same cores."""
    import dask
    import dask.dataframe as dd
    dask.config.set(scheduler="threads", num_workers=cores)
    gz = path.endswith(".gz")
    start = time.perf_counter()
    # a gzip stream cannot be split: dask reads it as one partition; integer columns
    # with NA cells beyond dask's type-guessing sample need assume_missing
    ddf = dd.read_csv(path, compression="gzip" if gz else None, blocksize=None if gz else "64MB",
                      assume_missing=True)
    imported = time.perf_counter() - start
    desc = ddf.describe().compute()
    return {"seconds": time.perf_counter() - start, "import_seconds": imported,
            "rows": int(desc.loc["count", "id"])}


_BENCH = {"daskml_h2o": bench_daskml_h2o, "h2o": bench_h2o, "dask": bench_dask}


def _row(label, system, res):
    value = res.get("value") or {}
    if not res["ok"]:
        note = res["error"].strip().splitlines()[-1][:120]
    else:
        note = value.get("skipped", "")
    return {"file": label, "system": system,
            "seconds": value.get("seconds"), "import_seconds": value.get("import_seconds"),
            "peak_rss": res["peak_rss"] if res["ok"] else None,
            "rows": value.get("rows", ""), "note": note, "ok": res["ok"] and "skipped" not in value}


def _with_ratios(rows):
    """Format numbers and add time / memory relative to real H2O on the same file."""
    ref = {r["file"]: r for r in rows if r["system"] == "h2o" and r["ok"]}
    out = []
    for r in rows:
        base = ref.get(r["file"])
        ratio = lambda key: (f"{r[key] / base[key]:.2f}x"
                             if r["ok"] and base and base[key] else "n/a")
        out.append({"file": r["file"], "system": r["system"],
                    "seconds": fmt_seconds(r["seconds"]) if r["ok"] else "n/a",
                    "of which import": fmt_seconds(r["import_seconds"]) if r["ok"] else "n/a",
                    "peak RSS (GB)": fmt_gb(r["peak_rss"]) if r["ok"] else "n/a",
                    "time vs H2O": ratio("seconds"), "memory vs H2O": ratio("peak_rss"),
                    "rows": r["rows"], "note": r["note"]})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=15_000_000,
                    help="rows of generated data (default 15M, about 1.1 GB of CSV)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--h2o-mem", default="8G", help="H2O JVM max heap (default 8G)")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--formats", default="csv,gz")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per measured run")
    ap.add_argument("--out", help="also write the markdown table to this file")
    args = ap.parse_args(argv)

    systems = [s for s in args.systems.split(",") if s]
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        ap.error(f"unknown systems {sorted(unknown)}; choose from {list(SYSTEMS)}")
    csv, gz = mixed_data(args.rows, args.seed)
    files = {"csv": csv, "gz": gz}
    rows = []
    for fmt in [f for f in args.formats.split(",") if f]:
        path = files[fmt]
        label = f"{os.path.basename(path)} ({os.path.getsize(path) / (1 << 20):.0f} MB)"
        for system in systems:
            res = run_measured(_BENCH[system], path, args.cores, args.h2o_mem,
                               cores=args.cores, timeout=args.timeout)
            rows.append(_row(label, system, res))
            print(f"{label} {system}: ok={rows[-1]['ok']} {fmt_seconds(rows[-1]['seconds'])} s "
                  f"{fmt_gb(rows[-1]['peak_rss'])} GB {rows[-1]['note']}", flush=True)
    columns = ["file", "system", "seconds", "of which import", "peak RSS (GB)", "time vs H2O", "memory vs H2O",
               "rows", "note"]
    table = (f"Import + describe, {args.rows:,} rows, {machine_note(args.cores)}, "
             f"H2O heap {args.h2o_mem}.\n\n" + markdown_table(_with_ratios(rows), columns))
    emit(table + "\n", args.out)


if __name__ == "__main__":
    main()
