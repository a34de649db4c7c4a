"""Remote imports/exports against real servers on 127.0.0.1: S3 (moto), WebHDFS (an
in-repo server), plain HTTP; credentials and unreachable servers fail early and clearly."""
import gzip
import io
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import dask
import numpy as np
import pandas as pd
import pytest
import s3fs

from daskml_h2o.io import export_csv, read_csv_to_dask
from tests.remote_servers import s3_server, webhdfs_server  # noqa: F401  (fixtures)

CSV = b"id,k,v\n" + b"".join(f"{i},{'pq'[i % 2]},{i / 4}\n".encode() for i in range(40))


@pytest.fixture(autouse=True)
def _sync_scheduler():
    with dask.config.set(scheduler="sync"):
        yield


def check_frame(ddf, types, n=40):
    df = ddf.compute().reset_index(drop=True)
    assert types == {"id": "int", "k": "enum", "v": "real"}
    assert list(df["k"].cat.categories) == ["p", "q"]
    assert df["id"].tolist() == list(map(float, range(n)))
    np.testing.assert_allclose(df["v"].to_numpy(), np.arange(n) / 4)


# ---------------------------------------------------------------- S3

@pytest.fixture(scope="module")
def bucket(s3_server):
    c = s3_server.client
    c.create_bucket(Bucket="h2o-data")
    c.put_object(Bucket="h2o-data", Key="plain/data.csv", Body=CSV)
    c.put_object(Bucket="h2o-data", Key="plain/data.csv.gz", Body=gzip.compress(CSV))
    lines = CSV.splitlines(keepends=True)
    c.put_object(Bucket="h2o-data", Key="dir/part-00000.csv", Body=b"".join(lines[:21]))
    c.put_object(Bucket="h2o-data", Key="dir/part-00001.csv", Body=lines[0] + b"".join(lines[21:]))
    c.put_object(Bucket="h2o-data", Key="dir/_SUCCESS", Body=b"")
    buf = io.BytesIO()
    pd.DataFrame({"id": np.arange(40), "k": ["pq"[i % 2] for i in range(40)],
                  "v": np.arange(40) / 4}).to_parquet(buf)
    c.put_object(Bucket="h2o-data", Key="pq/data.parquet", Body=buf.getvalue())
    s3fs.S3FileSystem.clear_instance_cache()
    return "h2o-data"


@pytest.mark.parametrize("url", ["s3://h2o-data/plain/data.csv", "s3a://h2o-data/plain/data.csv",
                                 "s3://h2o-data/plain/data.csv.gz", "s3://h2o-data/dir",
                                 "s3://h2o-data/dir/", "s3://h2o-data/dir/part-*.csv",
                                 "s3://h2o-data/pq/data.parquet"])
def test_s3_imports(s3_server, bucket, url):
    ddf, types = read_csv_to_dask(url, storage_options=s3_server.storage_options(), blocksize=300)
    check_frame(ddf, types)


def test_s3_bad_credentials_fail_before_reading(s3_server, bucket):
    with s3_server.enforce_auth():
        so = dict(s3_server.storage_options(), key="AKIAWRONGWRONGWRONG0", secret="nope")
        with pytest.raises(PermissionError, match="s3://h2o-data/plain/data.csv.*credentials"):
            read_csv_to_dask("s3://h2o-data/plain/data.csv", storage_options=so)
        # the right key still works while credentials are enforced
        ddf, types = read_csv_to_dask("s3://h2o-data/plain/data.csv", storage_options=s3_server.storage_options())
        check_frame(ddf, types)


def test_s3_missing_bucket_and_key(s3_server, bucket):
    so = s3_server.storage_options()
    with pytest.raises(FileNotFoundError, match="no-such-bucket"):
        read_csv_to_dask("s3://no-such-bucket/x.csv", storage_options=so)
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        read_csv_to_dask("s3://h2o-data/plain/missing.csv", storage_options=so)


def test_s3_unreachable_endpoint(s3_server):
    from tests.remote_servers import free_port
    so = dict(s3_server.storage_options(), endpoint_url=f"http://127.0.0.1:{free_port()}",
              config_kwargs={"retries": {"max_attempts": 1}})
    with pytest.raises(ValueError, match="endpoint_url"):
        read_csv_to_dask("s3://h2o-data/plain/data.csv", storage_options=so)


def test_s3_export_round_trip(s3_server, bucket):
    so = s3_server.storage_options()
    ddf, types = read_csv_to_dask("s3://h2o-data/dir", storage_options=so)
    export_csv(ddf, types, "s3://h2o-data/out/copy.csv", storage_options=so)
    body = s3_server.client.get_object(Bucket="h2o-data", Key="out/copy.csv")["Body"].read()
    assert body.splitlines()[:2] == [b"id,k,v", b"0,p,0.0"]
    with pytest.raises(FileExistsError):
        export_csv(ddf, types, "s3://h2o-data/out/copy.csv", storage_options=so)
    listed = s3_server.client.list_objects_v2(Bucket="h2o-data", Prefix="out")["Contents"]
    assert [o["Key"] for o in listed] == ["out/copy.csv"]


@pytest.mark.processes
def test_s3_credentials_travel_to_worker_processes(s3_server, bucket):
    """Spawned workers get the endpoint and keys from the graph, not from the env."""
    from distributed import Client, LocalCluster
    with s3_server.enforce_auth(), \
            LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster), dask.config.set(scheduler=None):
        ddf, types = read_csv_to_dask("s3://h2o-data/plain/data.csv", storage_options=s3_server.storage_options(),
                                      blocksize=200)
        assert ddf.npartitions > 1
        check_frame(ddf, types)


# ---------------------------------------------------------------- WebHDFS

@pytest.fixture(scope="module")
def hdfs_files(webhdfs_server):
    root = webhdfs_server.root
    (root / "data" / "dir").mkdir(parents=True)
    (root / "data" / "data.csv").write_bytes(CSV)
    lines = CSV.splitlines(keepends=True)
    (root / "data" / "dir" / "a.csv").write_bytes(b"".join(lines[:11]))
    (root / "data" / "dir" / "b.csv").write_bytes(lines[0] + b"".join(lines[11:]))
    (root / "data" / "dir" / "_SUCCESS").write_bytes(b"")
    (root / "data" / "data.csv.gz").write_bytes(gzip.compress(CSV))
    return webhdfs_server


@pytest.mark.parametrize("path", ["/data/data.csv", "/data/dir", "/data/dir/*.csv", "/data/data.csv.gz"])
def test_webhdfs_imports(hdfs_files, path):
    ddf, types = read_csv_to_dask(hdfs_files.url(path), blocksize=128)
    check_frame(ddf, types)


def test_webhdfs_blocks_use_ranged_reads(hdfs_files):
    ddf, _ = read_csv_to_dask(hdfs_files.url("/data/data.csv"), blocksize=100)
    assert ddf.npartitions == -(-len(CSV) // 100)


def test_webhdfs_missing_file(hdfs_files):
    with pytest.raises(FileNotFoundError, match="nothing.csv"):
        read_csv_to_dask(hdfs_files.url("/data/nothing.csv"))


def test_webhdfs_permission_denied(tmp_path):
    from tests.remote_servers import WebHDFSServer
    (tmp_path / "x.csv").write_bytes(CSV)
    with WebHDFSServer(tmp_path, require_user="alice") as server:
        with pytest.raises(PermissionError, match="x.csv"):
            read_csv_to_dask(server.url("/x.csv"), storage_options={"user": "mallory"})
        ddf, types = read_csv_to_dask(server.url("/x.csv"), storage_options={"user": "alice"})
        check_frame(ddf, types)


def test_webhdfs_export_round_trip(hdfs_files):
    ddf, types = read_csv_to_dask(hdfs_files.url("/data/dir"))
    export_csv(ddf, types, hdfs_files.url("/out/copy.csv"))
    assert (hdfs_files.root / "out" / "copy.csv").read_bytes() == CSV
    assert [p.name for p in (hdfs_files.root / "out").iterdir()] == ["copy.csv"]
    with pytest.raises(FileExistsError):
        export_csv(ddf, types, hdfs_files.url("/out/copy.csv"))
    export_csv(ddf[["id"]], {"id": "int"}, hdfs_files.url("/out/copy.csv"), force=True)
    assert (hdfs_files.root / "out" / "copy.csv").read_bytes().splitlines()[:2] == [b"id", b"0"]


def test_unreachable_webhdfs():
    from tests.remote_servers import free_port
    with pytest.raises(ValueError, match="cannot reach"):
        read_csv_to_dask(f"webhdfs://127.0.0.1:{free_port()}/x.csv")


# ---------------------------------------------------------------- HTTP

def test_http_import(tmp_path):
    (tmp_path / "data.csv").write_bytes(CSV)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(tmp_path)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/data.csv"
        ddf, types = read_csv_to_dask(url)
        check_frame(ddf, types)
        with pytest.raises(FileNotFoundError):
            read_csv_to_dask(url.replace("data.csv", "none.csv"))
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
