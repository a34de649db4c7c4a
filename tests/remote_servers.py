"""Test servers on 127.0.0.1 for remote imports: a small WebHDFS server backed by a
temp directory, a moto S3 server that can enforce credentials, and their pytest fixtures."""
import contextlib
import json
import logging
import os
import shutil
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


# ---------------------------------------------------------------- WebHDFS

class _WebHDFSHandler(BaseHTTPRequestHandler):
    """The WebHDFS REST calls fsspec's WebHDFS client makes, on a local directory.
    OPEN and CREATE/APPEND answer with a 307 to a /datanode/ URL like a real NameNode."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    # -- helpers
    def _split(self):
        url = urllib.parse.urlsplit(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        return url.path, q

    def _local(self, hdfs_path):
        root = self.server.root
        p = (root / hdfs_path.lstrip("/")).resolve()
        if root != p and root not in p.parents:
            raise PermissionError(hdfs_path)
        return p

    def _send(self, code, body=b"", ctype="application/json", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, code, exception, message):
        self._send(code, {"RemoteException": {"exception": exception, "javaClassName": exception,
                                              "message": message}})

    def _status(self, p, suffix):
        st = p.stat()
        return {"pathSuffix": suffix, "type": "DIRECTORY" if p.is_dir() else "FILE",
                "length": 0 if p.is_dir() else st.st_size, "modificationTime": int(st.st_mtime * 1000),
                "accessTime": int(st.st_atime * 1000), "blockSize": 134217728, "replication": 1,
                "owner": "test", "group": "test", "permission": "755"}

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _authorized(self, q):
        user = self.server.require_user
        if user is not None and q.get("user.name") != user:
            self._error(403, "AccessControlException", f"Permission denied: user={q.get('user.name')}")
            return False
        return True

    # -- dispatch
    def _handle(self, method):
        path, q = self._split()
        body = self._read_body() if method in ("PUT", "POST") else b""
        if path.startswith("/datanode/"):
            return self._datanode(method, path[len("/datanode"):], q, body)
        if not path.startswith("/webhdfs/v1"):
            return self._error(404, "FileNotFoundException", f"no such endpoint {path}")
        if not self._authorized(q):
            return None
        hpath = urllib.parse.unquote(path[len("/webhdfs/v1"):]) or "/"
        try:
            p = self._local(hpath)
        except PermissionError:
            return self._error(403, "AccessControlException", f"outside the root: {hpath}")
        op = q.get("op", "").upper()
        handler = getattr(self, f"_op_{op.lower()}", None)
        if handler is None:
            return self._error(400, "UnsupportedOperationException", f"op {op} is not supported")
        return handler(hpath, p, q)

    def do_GET(self):
        self._handle("GET")

    def do_PUT(self):
        self._handle("PUT")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    def _missing(self, hpath):
        self._error(404, "FileNotFoundException", f"File does not exist: {hpath}")

    # -- read operations
    def _op_getfilestatus(self, hpath, p, q):
        if not p.exists():
            return self._missing(hpath)
        return self._send(200, {"FileStatus": self._status(p, "")})

    def _op_liststatus(self, hpath, p, q):
        if not p.exists():
            return self._missing(hpath)
        items = [self._status(c, c.name) for c in sorted(p.iterdir())] if p.is_dir() else [self._status(p, "")]
        return self._send(200, {"FileStatuses": {"FileStatus": items}})

    def _op_open(self, hpath, p, q):
        if not p.is_file():
            return self._missing(hpath)
        qs = urllib.parse.urlencode({k: v for k, v in q.items() if k in ("offset", "length")})
        host, port = self.server.server_address[:2]
        return self._send(307, b"", headers={"Location": f"http://{host}:{port}/datanode{hpath}?{qs}"})

    def _op_getfilechecksum(self, hpath, p, q):
        if not p.is_file():
            return self._missing(hpath)
        st = p.stat()
        return self._send(200, {"FileChecksum": {"algorithm": "MD5-of-0MD5-of-512CRC32C",
                                                 "bytes": f"{st.st_size:08x}{st.st_mtime_ns:016x}",
                                                 "length": 28}})

    def _op_gethomedirectory(self, hpath, p, q):
        return self._send(200, {"Path": "/user/test"})

    # -- write operations (CREATE/APPEND go through the "datanode" like HDFS)
    def _op_mkdirs(self, hpath, p, q):
        p.mkdir(parents=True, exist_ok=True)
        return self._send(200, {"boolean": True})

    def _redirect_write(self, hpath, op):
        host, port = self.server.server_address[:2]
        return self._send(307, b"", headers={"Location": f"http://{host}:{port}/datanode{hpath}?op={op}"})

    def _op_create(self, hpath, p, q):
        return self._redirect_write(hpath, "CREATE")

    def _op_append(self, hpath, p, q):
        if not p.is_file():
            return self._missing(hpath)
        return self._redirect_write(hpath, "APPEND")

    def _op_rename(self, hpath, p, q):
        dst = self._local(q["destination"])
        if not p.exists() or dst.exists():
            return self._send(200, {"boolean": False})
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(p, dst)
        return self._send(200, {"boolean": True})

    def _op_delete(self, hpath, p, q):
        if not p.exists():
            return self._send(200, {"boolean": False})
        if p.is_dir():
            if q.get("recursive") != "true" and any(p.iterdir()):
                return self._error(403, "PathIsNotEmptyDirectoryException", f"{hpath} is non empty")
            shutil.rmtree(p)
        else:
            p.unlink()
        return self._send(200, {"boolean": True})

    def _datanode(self, method, hpath, q, body):
        p = self._local(urllib.parse.unquote(hpath))
        if method == "GET":
            data = p.read_bytes()
            off = int(q.get("offset", 0))
            n = int(q["length"]) if "length" in q else len(data) - off
            return self._send(200, data[off:off + n], ctype="application/octet-stream")
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "ab" if q.get("op") == "APPEND" else "wb") as f:
            f.write(body)
        return self._send(201 if method == "PUT" else 200, b"")


class WebHDFSServer:
    """`with WebHDFSServer(root) as s:` serves root at webhdfs://127.0.0.1:<s.port>/."""

    def __init__(self, root, require_user=None):
        self.root = Path(root).resolve()
        self.require_user = require_user
        self._httpd = None

    def start(self):
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _WebHDFSHandler)
        self._httpd.daemon_threads = True
        self._httpd.root = self.root
        self._httpd.require_user = self.require_user
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    @property
    def port(self):
        return self._httpd.server_address[1]

    def url(self, path=""):
        return f"webhdfs://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------- S3 (moto)

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """A moto S3 server on 127.0.0.1 with an IAM user whose access key (`self.key`,
    `self.secret`) is the only one accepted inside `enforce_auth()`."""

    def __init__(self):
        from moto.server import ThreadedMotoServer
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self):
        import boto3
        import requests
        self._server.start()
        for _ in range(100):
            try:
                requests.get(self.endpoint, timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        session = boto3.session.Session(aws_access_key_id="setup", aws_secret_access_key="setup",
                                        region_name="us-east-1")
        iam = session.client("iam", endpoint_url=self.endpoint)
        # moto keeps its state per process, shared by every server of a test run: one user each
        user = f"tester-{self.port}"
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="all-s3", PolicyDocument=json.dumps(
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        self.key, self.secret = key["AccessKeyId"], key["SecretAccessKey"]
        self.client = boto3.session.Session(aws_access_key_id=self.key, aws_secret_access_key=self.secret,
                                            region_name="us-east-1").client("s3", endpoint_url=self.endpoint)
        return self

    @contextlib.contextmanager
    def enforce_auth(self):
        """Inside the block only requests signed by (key, secret) are accepted. Not on by
        default: moto's signature check rejects valid listings whose query holds '/'."""
        import requests
        requests.post(f"{self.endpoint}/moto-api/reset-auth", data=b"0", timeout=5)
        try:
            yield
        finally:
            requests.post(f"{self.endpoint}/moto-api/reset-auth", data=b"inf", timeout=5)

    def storage_options(self, **extra):
        return {"key": self.key, "secret": self.secret, "endpoint_url": self.endpoint, **extra}

    def stop(self):
        self._server.stop()


@pytest.fixture(scope="module")
def s3_server():
    """A running S3Server; fake AWS credentials in the environment only while it runs,
    so nothing falls back to a real account."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE",
                                            "AWS_DEFAULT_REGION", "AWS_SHARED_CREDENTIALS_FILE",
                                            "AWS_CONFIG_FILE", "BOTO_CONFIG")}
    os.environ.update(AWS_ACCESS_KEY_ID="foobar_key", AWS_SECRET_ACCESS_KEY="foobar_secret",
                      AWS_DEFAULT_REGION="us-east-1", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                      AWS_CONFIG_FILE="/dev/null", BOTO_CONFIG="/dev/null")
    os.environ.pop("AWS_PROFILE", None)
    server = S3Server().start()
    try:
        yield server
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def webhdfs_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("hdfs-root")
    with WebHDFSServer(root) as server:
        yield server
