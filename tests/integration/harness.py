"""Integration-test harness for fastwsd.

Starts the real daemon on a free loopback port with a per-test config
(PROTOCOL.md section 5), and talks to it over raw sockets: an HTTP/1.1
request/response reader (keep-alive, pipelining) and a WebSocket client that
builds every frame byte by byte, so tests control every byte on the wire.

Only the standard library is used here. The binary is $FASTWSD (default
build/fastwsd, relative to the repository root), so the same suite runs
against an ASan build.
"""

import base64
import datetime
import email.utils
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

TIMEOUT = 5.0            # every socket operation is bounded by this
START_TIMEOUT = 5.0      # the daemon must accept connections within this
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MISSING = object()

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
TS_SLACK = 5.0           # seconds a timestamp may differ from our clock

# Substrings in the daemon's stderr that mean it crashed or misbehaved in a
# way a sanitizer noticed.
CRASH_MARKERS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                 "runtime error:", "Segmentation fault", "core dumped",
                 "ThreadSanitizer", "MemorySanitizer")


def fastwsd_path():
    p = os.environ.get("FASTWSD", "build/fastwsd")
    if not os.path.isabs(p):
        p = os.path.join(REPO, p)
    return p


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(cond, timeout=3.0, interval=0.02, msg="condition"):
    """Polls cond() until it returns a true value; returns it or fails."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = cond()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)"
                                 % (timeout, msg, last))
        time.sleep(interval)


# --------------------------------------------------------------------------
# Config and server process
# --------------------------------------------------------------------------

DEFAULT_STATIC_FILES = {
    "index.html": b"<!doctype html>\n<html><head><title>fastwsd test</title></head>"
                  b"<body><p>integration index</p></body></html>\n",
}


def render_config(sections):
    """sections: {section: {key: value}} -> INI text (insertion order kept)."""
    out = []
    for sec, kv in sections.items():
        out.append("[%s]" % sec)
        for k, v in kv.items():
            out.append("%s = %s" % (k, v))
        out.append("")
    return "\n".join(out)


def merge_config(*layers):
    merged = {}
    for layer in layers:
        for sec, kv in (layer or {}).items():
            merged.setdefault(sec, {}).update(kv)
    return merged


class Server:
    """One fastwsd process with its own temp dir, config, static dir and log.

    Layout of the temp dir:
      fastws.conf   the config
      static/       static_dir (unless static_dir is overridden)
      fastwsd.log   the daemon's stderr (and stdout)
    """

    def __init__(self, config=None, static_files=None, setup_static=None):
        self.tmp = tempfile.mkdtemp(prefix="fastwsd-it-")
        self.port = free_port()
        self.static_dir = os.path.join(self.tmp, "static")
        os.mkdir(self.static_dir)
        files = DEFAULT_STATIC_FILES if static_files is None else static_files
        for rel, data in files.items():
            path = os.path.join(self.static_dir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        if setup_static:
            setup_static(self.tmp, self.static_dir)
        base = {
            "server": {
                "listen": "127.0.0.1:%d" % self.port,
                "static_dir": self.static_dir,
                "log_level": os.environ.get("FASTWSD_LOG_LEVEL", "info"),
                "shutdown_timeout": "2",
            },
        }
        self.config = merge_config(base, config)
        # "{tmp}" in a value stands for this server's temp dir
        for kv in self.config.values():
            for k, v in kv.items():
                if isinstance(v, str) and "{tmp}" in v:
                    kv[k] = v.replace("{tmp}", self.tmp)
        self.shutdown_timeout = float(self.config["server"].get("shutdown_timeout", 5))
        self.conf_path = os.path.join(self.tmp, "fastws.conf")
        with open(self.conf_path, "w") as f:
            f.write(render_config(self.config))
        self.log_path = os.path.join(self.tmp, "fastwsd.log")
        self.proc = None
        self._log = None
        self.stopped = False

    # -- process control ---------------------------------------------------

    def start(self):
        binary = fastwsd_path()
        if not os.path.exists(binary):
            raise AssertionError("fastwsd binary not found: %s (build it with make, or set FASTWSD)"
                                 % binary)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, "-c", self.conf_path],
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log, cwd=self.tmp)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            rc = self.proc.poll()
            if rc is not None:
                log = self.log_text()
                self._cleanup()
                raise AssertionError("fastwsd exited during start-up with %s\n--- log ---\n%s"
                                     % (rc, log))
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
                s.close()
                return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                log = self.log_text()
                self._cleanup()
                raise AssertionError("fastwsd did not accept connections on port %d within %.0fs"
                                     "\n--- log ---\n%s" % (self.port, START_TIMEOUT, log))
            time.sleep(0.02)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        if not self.alive():
            raise AssertionError("fastwsd is not running any more (exit %s)\n--- log ---\n%s"
                                 % (self.proc.returncode if self.proc else None, self.log_tail()))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        """Waits for the process to end; returns (rc, seconds) or fails."""
        t0 = time.monotonic()
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("fastwsd did not exit within %.1fs\n--- log ---\n%s"
                                 % (timeout, self.log_tail()))
        return rc, time.monotonic() - t0

    def crash_markers(self):
        text = self.log_text()
        return [m for m in CRASH_MARKERS if m in text]

    def stop(self, check=True):
        """SIGTERM, wait (bounded), then check: exit code 0 and no crash."""
        if self.stopped:
            return
        self.stopped = True
        problems = []
        try:
            if self.proc is None:
                return
            if self.proc.poll() is not None:
                problems.append("fastwsd had already exited (code %s) before SIGTERM"
                                % self.proc.returncode)
            else:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=self.shutdown_timeout + 3)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    problems.append("fastwsd did not exit within shutdown_timeout+3s after SIGTERM")
            rc = self.proc.returncode
            if rc != 0 and not problems:
                if rc < 0:
                    problems.append("fastwsd died from signal %d" % -rc)
                else:
                    problems.append("fastwsd exited with code %d after SIGTERM (expected 0)" % rc)
            markers = self.crash_markers()
            if markers:
                problems.append("sanitizer/crash output in log: %s" % ", ".join(markers))
            if problems and check:
                raise AssertionError("; ".join(problems) + "\n--- log ---\n" + self.log_tail())
        finally:
            self._cleanup()

    def _cleanup(self):
        if self._log:
            self._log.close()
            self._log = None
        if os.environ.get("FASTWSD_KEEP_TMP"):
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        lines = self.log_text().splitlines()
        return "\n".join(lines[-n:])

    # -- convenience -------------------------------------------------------

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

class Response:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers      # list of (name, value), in order
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def media_type(self):
        ct = self.header("Content-Type")
        return None if ct is None else ct.split(";")[0].strip().lower()

    def __repr__(self):
        return "<Response %s %r headers=%r body=%r>" % (self.status, self.reason, self.headers,
                                                         self.body[:200])


class PeerClosed(Exception):
    pass


def build_request(method, path, headers=None, body=b"", version="HTTP/1.1", host=MISSING):
    """headers: list of (name, value). Host is added unless given or host=None."""
    headers = list(headers or [])
    names = {k.lower() for k, _ in headers}
    if "host" not in names and host is not None:
        headers.insert(0, ("Host", "127.0.0.1" if host is MISSING else host))
    if body and "content-length" not in names:
        headers.append(("Content-Length", str(len(body))))
    lines = ["%s %s %s" % (method, path, version)]
    lines += ["%s: %s" % (k, v) for k, v in headers]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if isinstance(body, str):
        body = body.encode()
    return data + body


class Conn:
    """A buffered TCP connection to the daemon."""

    def __init__(self, port, timeout=TIMEOUT, rcvbuf=None, source=None, host="127.0.0.1"):
        self.port = port
        self.addr = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if rcvbuf:
                # before connect, so the advertised window stays small
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            if source:
                self.sock.bind((source, 0))
            self.sock.settimeout(timeout)
            self.sock.connect((host, port))
        except OSError:
            self.sock.close()
            raise
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.closed = False

    @property
    def host(self):
        if ":" in self.addr:
            return "[%s]:%d" % (self.addr, self.port)
        return "%s:%d" % (self.addr, self.port)

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        self.sock.sendall(data)

    def send_bytewise(self, data, delay=0.0):
        for i in range(len(data)):
            self.sock.sendall(data[i:i + 1])
            if delay:
                time.sleep(delay)

    def _fill(self):
        if self.eof:
            raise PeerClosed("connection closed by server")
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            self.eof = True
            raise PeerClosed("connection reset by server")
        if not chunk:
            self.eof = True
            raise PeerClosed("connection closed by server")
        self.buf += chunk

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_until(self, delim, limit=1 << 20):
        while True:
            i = self.buf.find(delim)
            if i >= 0:
                out = bytes(self.buf[:i + len(delim)])
                del self.buf[:i + len(delim)]
                return out
            if len(self.buf) > limit:
                raise AssertionError("no %r within %d bytes" % (delim, limit))
            self._fill()

    def read_all_until_eof(self, timeout=TIMEOUT):
        """Reads until the server closes; returns what came. Fails on timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                try:
                    self._fill()
                except PeerClosed:
                    break
        except socket.timeout:
            raise AssertionError("server did not close the connection within %.1fs (got %r)"
                                 % (timeout, bytes(self.buf[:300])))
        finally:
            try:
                self.sock.settimeout(TIMEOUT)
            except OSError:
                pass
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def expect_eof(self, timeout=TIMEOUT):
        """Asserts that the server closes the connection (EOF or RST) within timeout.
        Returns any bytes that arrived before the close. Then closes our side
        too, as a real client would."""
        rest = self.read_all_until_eof(timeout)
        self.close()
        return rest

    def read_response(self, method="GET"):
        head = self.read_until(b"\r\n\r\n", limit=64 * 1024)
        text = head.decode("latin-1")
        lines = text[:-4].split("\r\n")
        status_line = lines[0]
        m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", status_line)
        if not m:
            raise AssertionError("bad status line %r" % status_line)
        headers = []
        for line in lines[1:]:
            if ":" not in line:
                raise AssertionError("bad header line %r in %r" % (line, text))
            k, v = line.split(":", 1)
            if k != k.strip() or not k:
                raise AssertionError("bad header name %r" % k)
            headers.append((k, v.strip(" \t")))
        status = int(m.group(2))
        resp = Response(m.group(1), status, m.group(3) or "", headers, b"", head)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return resp
        te = resp.header("Transfer-Encoding")
        cl = resp.header("Content-Length")
        if te and "chunked" in te.lower():
            body = bytearray()
            while True:
                size_line = self.read_until(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    # trailers
                    while self.read_until(b"\r\n") != b"\r\n":
                        pass
                    break
                body += self.read_exact(size)
                self.read_exact(2)
            resp.body = bytes(body)
        elif cl is not None:
            if len(resp.header_all("Content-Length")) != 1:
                raise AssertionError("several Content-Length headers: %r" % headers)
            resp.body = self.read_exact(int(cl))
        else:
            resp.body = self.read_all_until_eof()
        return resp

    def request(self, method, path, headers=None, body=b"", version="HTTP/1.1", host=MISSING):
        if host is MISSING:
            host = self.host
        self.send(build_request(method, path, headers, body, version, host))
        return self.read_response(method)

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def reset(self):
        """Abortive close: the kernel sends RST."""
        if not self.closed:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close()


# --------------------------------------------------------------------------
# WebSocket
# --------------------------------------------------------------------------

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def make_key():
    return base64.b64encode(os.urandom(16)).decode()


def accept_for(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def mask_bytes(data, key):
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big") if n else b""


def build_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, mask_key=None,
                length_mode=None, length=None):
    """A client frame, byte by byte.

    rsv: 3-bit value (4 = RSV1, 2 = RSV2, 1 = RSV3).
    length_mode: None (minimal), 7, 16 or 64: the length encoding to use,
    even when not minimal. length: the value written in the length field
    (defaults to len(payload)).
    """
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    n = len(payload) if length is None else length
    if length_mode is None:
        length_mode = 7 if n < 126 else 16 if n < 65536 else 64
    mbit = 0x80 if mask else 0
    if length_mode == 7:
        head = bytes([b0, mbit | n])
    elif length_mode == 16:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    elif length_mode == 64:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    else:
        raise ValueError(length_mode)
    if mask:
        key = os.urandom(4) if mask_key is None else mask_key
        return head + key + mask_bytes(payload, key)
    return head + payload


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack("!H", code) + reason


class Frame:
    def __init__(self, fin, rsv, opcode, payload):
        self.fin = fin
        self.rsv = rsv
        self.opcode = opcode
        self.payload = payload

    @property
    def close_code(self):
        if len(self.payload) >= 2:
            return struct.unpack("!H", self.payload[:2])[0]
        return None

    @property
    def close_reason(self):
        return self.payload[2:].decode("utf-8")

    def __repr__(self):
        return "<Frame fin=%d rsv=%d op=%d len=%d %r>" % (self.fin, self.rsv, self.opcode,
                                                         len(self.payload), self.payload[:120])


class Envelope:
    """A server message: raw text and its parsed object."""

    def __init__(self, raw, obj):
        self.raw = raw
        self.obj = obj

    def __getitem__(self, k):
        return self.obj[k]

    def get(self, k, d=None):
        return self.obj.get(k, d)

    @property
    def type(self):
        return self.obj.get("type")

    @property
    def data(self):
        return self.obj.get("data")

    def __repr__(self):
        return "<Envelope %s>" % self.raw[:300]


def _no_dup_hook(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise AssertionError("duplicate key %r in server JSON" % k)
        d[k] = v
    return d


def check_timestamp(ts, slack=TS_SLACK):
    if not isinstance(ts, str) or not TS_RE.match(ts):
        raise AssertionError("bad timestamp %r (want YYYY-MM-DDTHH:MM:SS.ffffff+00:00)" % (ts,))
    t = datetime.datetime.fromisoformat(ts)
    now = datetime.datetime.now(datetime.timezone.utc)
    if abs((now - t).total_seconds()) > slack:
        raise AssertionError("timestamp %s is %.1fs away from now %s"
                             % (ts, (now - t).total_seconds(), now.isoformat()))
    return t


def parse_envelope(raw, type=MISSING, data=MISSING, client_id=MISSING, room=MISSING):
    """Parses and checks a server envelope: keys exactly type,data,client_id
    [,room],timestamp in this order, a valid recent timestamp, and the given
    field values. Returns an Envelope."""
    try:
        obj = json.loads(raw, object_pairs_hook=_no_dup_hook)
    except ValueError as e:
        raise AssertionError("server sent invalid JSON %r: %s" % (raw[:300], e))
    if not isinstance(obj, dict):
        raise AssertionError("server message is not an object: %r" % raw[:300])
    keys = list(obj.keys())
    if "room" in obj:
        want = ["type", "data", "client_id", "room", "timestamp"]
    else:
        want = ["type", "data", "client_id", "timestamp"]
    if keys != want:
        raise AssertionError("envelope keys %r, want exactly %r: %s" % (keys, want, raw[:300]))
    if not isinstance(obj["type"], str):
        raise AssertionError("type is not a string: %s" % raw[:300])
    if obj["client_id"] is not None and not isinstance(obj["client_id"], str):
        raise AssertionError("client_id is neither null nor a string: %s" % raw[:300])
    check_timestamp(obj["timestamp"])
    env = Envelope(raw, obj)
    for name, want_v in (("type", type), ("data", data), ("client_id", client_id),
                         ("room", room)):
        if want_v is not MISSING and obj.get(name, MISSING) != want_v:
            raise AssertionError("envelope %s = %r, want %r: %s"
                                 % (name, obj.get(name, "<absent>"), want_v, raw[:300]))
    return env


PRESENCE = ("user_joined", "user_left")


class WSClosed(Exception):
    def __init__(self, code, reason):
        super().__init__("server sent close %s %r" % (code, reason))
        self.code = code
        self.reason = reason


class WS(Conn):
    """A raw WebSocket client. Frames are built byte by byte, masked by default."""

    def __init__(self, port, path="/ws/test", headers=None, handshake=True,
                 timeout=TIMEOUT, auto_pong=True, **conn_kw):
        super().__init__(port, timeout, **conn_kw)
        self.path = path
        self.key = make_key()
        self.auto_pong = auto_pong
        self.response = None
        self.close_frame = None
        if handshake:
            self.handshake(headers)

    def upgrade_request(self, headers=None, key=MISSING):
        hs = [("Host", self.host), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
              ("Sec-WebSocket-Key", self.key if key is MISSING else key),
              ("Sec-WebSocket-Version", "13")]
        return hs + list(headers or [])

    def handshake(self, headers=None):
        self.send(build_request("GET", self.path, self.upgrade_request(headers), host=None))
        r = self.read_response()
        self.response = r
        if r.status != 101:
            raise AssertionError("upgrade of %s failed: %r" % (self.path, r))
        accept = r.header("Sec-WebSocket-Accept")
        if accept != accept_for(self.key):
            raise AssertionError("bad Sec-WebSocket-Accept %r, want %r" % (accept, accept_for(self.key)))
        return r

    # -- sending -----------------------------------------------------------

    def send_frame(self, opcode, payload=b"", bytewise=False, delay=0.0, **kw):
        data = build_frame(opcode, payload, **kw)
        if bytewise:
            self.send_bytewise(data, delay)
        else:
            self.send(data)

    def send_text(self, text, **kw):
        self.send_frame(OP_TEXT, text.encode("utf-8") if isinstance(text, str) else text, **kw)

    def send_json(self, obj, **kw):
        self.send_text(json.dumps(obj, separators=(",", ":"), ensure_ascii=False), **kw)

    def chat(self, data):
        self.send_json({"type": "chat", "data": data})

    def send_close(self, code=1000, reason=b"", **kw):
        self.send_frame(OP_CLOSE, close_payload(code, reason), **kw)

    # -- receiving ---------------------------------------------------------

    def recv_frame(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            b0, b1 = self.read_exact(2)
            if b1 & 0x80:
                raise AssertionError("server sent a masked frame (RFC 6455 5.1)")
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self.read_exact(2))[0]
                if n < 126:
                    raise AssertionError("server used a non-minimal 16-bit length %d" % n)
            elif n == 127:
                n = struct.unpack("!Q", self.read_exact(8))[0]
                if n >> 63:
                    raise AssertionError("server set the top bit of a 64-bit length")
                if n < 65536:
                    raise AssertionError("server used a non-minimal 64-bit length %d" % n)
            payload = self.read_exact(n)
        finally:
            if timeout is not None:
                self.sock.settimeout(TIMEOUT)
        f = Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload)
        if f.opcode >= 8 and (not f.fin or len(payload) > 125):
            raise AssertionError("server sent a bad control frame %r" % f)
        if f.opcode not in (0, 1, 2, 8, 9, 10):
            raise AssertionError("server sent reserved opcode %r" % f)
        return f

    def recv_message(self, timeout=None):
        """Next data message as (opcode, payload). Answers pings; a close frame
        raises WSClosed (and is kept in self.close_frame)."""
        op = None
        parts = []
        while True:
            f = self.recv_frame(timeout)
            if f.opcode == OP_PING:
                if self.auto_pong:
                    self.send_frame(OP_PONG, f.payload)
                continue
            if f.opcode == OP_PONG:
                continue
            if f.opcode == OP_CLOSE:
                self.close_frame = f
                raise WSClosed(f.close_code, f.payload[2:])
            if f.rsv:
                raise AssertionError("server set RSV bits without an extension: %r" % f)
            if op is None:
                if f.opcode == OP_CONT:
                    raise AssertionError("server sent a continuation without a start")
                op = f.opcode
            elif f.opcode != OP_CONT:
                raise AssertionError("server started a new message inside a fragmented one")
            parts.append(f.payload)
            if f.fin:
                return op, b"".join(parts)

    def recv_text(self, timeout=None):
        op, payload = self.recv_message(timeout)
        if op != OP_TEXT:
            raise AssertionError("expected a text message, got opcode %d %r" % (op, payload[:100]))
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            raise AssertionError("server sent invalid UTF-8 in a text frame: %r" % payload[:100])

    def recv_env(self, timeout=None, **expect):
        return parse_envelope(self.recv_text(timeout), **expect)

    def recv_until(self, type, skip=PRESENCE, timeout=None, **expect):
        """Next envelope of the given type, skipping presence events (only)."""
        while True:
            env = self.recv_env(timeout)
            if env.type == type:
                return parse_envelope(env.raw, type=type, **expect)
            if env.type not in skip:
                raise AssertionError("expected %r, got %r" % (type, env.raw[:300]))

    def expect_nothing(self, wait=0.3):
        """Asserts that no frame arrives within `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            if self.buf:
                raise AssertionError("unexpected data from server: %r" % bytes(self.buf[:200]))
            try:
                self._fill()
            except socket.timeout:
                return
            except PeerClosed:
                raise AssertionError("server closed the connection unexpectedly")
            raise AssertionError("unexpected data from server: %r" % bytes(self.buf[:200]))
        finally:
            self.sock.settimeout(TIMEOUT)

    def expect_close(self, code=MISSING, reason=MISSING, skip_data=True, echo=True,
                     eof_timeout=TIMEOUT, close_tcp=True):
        """Reads until the server's close frame (skipping data messages when
        skip_data), checks code/reason, echoes the close, and asserts the
        server then closes TCP. Returns the close frame."""
        while True:
            try:
                f = self.recv_frame()
            except PeerClosed:
                raise AssertionError("server dropped TCP without a close frame (want close %s)"
                                     % (code if code is not MISSING else "any"))
            if f.opcode == OP_CLOSE:
                break
            if f.opcode in (OP_PING, OP_PONG):
                continue
            if not skip_data:
                raise AssertionError("expected a close frame, got %r" % f)
        self.close_frame = f
        if code is not MISSING and f.close_code != code:
            raise AssertionError("close code %r (reason %r), want %r"
                                 % (f.close_code, f.payload[2:], code))
        if len(f.payload) == 1:
            raise AssertionError("server close payload of 1 byte")
        try:
            got_reason = f.close_reason
        except UnicodeDecodeError:
            raise AssertionError("server close reason is not UTF-8: %r" % f.payload)
        if reason is not MISSING and got_reason != reason:
            raise AssertionError("close reason %r, want %r" % (got_reason, reason))
        if echo:
            try:
                self.send_frame(OP_CLOSE, f.payload[:2])
            except OSError:
                pass
        rest = self.expect_eof(eof_timeout)
        if rest:
            raise AssertionError("server sent data after its close frame: %r" % rest[:200])
        if close_tcp:
            self.close()   # like a real client: the server closed, so do we
        return f

    def close_handshake(self, code=1000, reason=b""):
        """Client-initiated close: sends close, expects the echo (same code)
        and then TCP close from the server."""
        self.send_close(code, reason)
        while True:
            f = self.recv_frame()
            if f.opcode == OP_CLOSE:
                break
        self.close_frame = f
        if f.close_code != code:
            raise AssertionError("server echoed close code %r, want %r" % (f.close_code, code))
        rest = self.expect_eof()
        if rest:
            raise AssertionError("data after close: %r" % rest[:200])
        self.close()
        return f


# --------------------------------------------------------------------------
# unittest base classes
# --------------------------------------------------------------------------

class ServerTestCase(unittest.TestCase):
    """Starts fastwsd for each test (PER_TEST = True) or once per class.

    CONFIG: {section: {key: value}} merged over the harness's base config.
    STATIC_FILES: {relpath: bytes} for the static dir (None = a small index.html).
    setup_static(tmp, static_dir): classmethod hook to add symlinks etc.
    """

    CONFIG = {}
    STATIC_FILES = None
    PER_TEST = True
    _class_server = None

    @classmethod
    def setup_static(cls, tmp, static_dir):
        pass

    @classmethod
    def make_server(cls, config=None):
        return Server(merge_config(cls.CONFIG, config), cls.STATIC_FILES, cls.setup_static)

    @classmethod
    def tearDownClass(cls):
        srv = cls.__dict__.get("_class_server")
        if srv is not None:
            cls._class_server = None
            srv.stop()
        super().tearDownClass()

    def setUp(self):
        if self.PER_TEST:
            self.server = self.make_server().start()
            self.addCleanup(self.server.stop)
        else:
            cls = type(self)
            srv = cls.__dict__.get("_class_server")
            if srv is None or not srv.alive():
                if srv is not None:
                    cls._class_server = None
                    srv.stop(check=False)
                cls._class_server = srv = cls.make_server().start()
            self.server = srv
        self.port = self.server.port

    def tearDown(self):
        # "the daemon keeps running": after every test, whatever it sent.
        self.server.assert_alive()

    # -- helpers ----------------------------------------------------------

    def conn(self, timeout=TIMEOUT):
        c = Conn(self.port, timeout)
        self.addCleanup(c.close)
        return c

    def http(self, method, path, headers=None, body=b"", version="HTTP/1.1", host=MISSING):
        c = Conn(self.port)
        try:
            return c.request(method, path, headers, body, version, host)
        finally:
            c.close()

    def ws(self, client_id=None, path=None, headers=None, handshake=True, **kw):
        if path is None:
            path = "/ws/" + client_id
        c = WS(self.port, path, headers=headers, handshake=handshake, **kw)
        self.addCleanup(c.close)
        return c

    def upgrade(self, path, headers=None, key=MISSING, method="GET", version="HTTP/1.1",
                replace=None, omit=()):
        """Sends an upgrade request with the standard headers (replace: {name:
        value} overrides, omit: names to leave out) and returns (conn, response)."""
        c = self.conn()
        hs = [("Host", c.host), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
              ("Sec-WebSocket-Key", make_key() if key is MISSING else key),
              ("Sec-WebSocket-Version", "13")]
        replace = {k.lower(): v for k, v in (replace or {}).items()}
        omit = {k.lower() for k in omit}
        out = []
        for k, v in hs:
            if k.lower() in omit:
                continue
            out.append((k, replace.pop(k.lower(), v)))
        out += [(k, v) for k, v in replace.items()]
        out += list(headers or [])
        c.send(build_request(method, path, out, version=version, host=None))
        return c, c.read_response()

    def connect_all(self, ids, **kw):
        """Connects clients one after the other and waits until every earlier
        client has seen each newcomer's user_joined, so the streams are quiet."""
        clients = []
        for cid in ids:
            c = self.ws(cid, **kw)
            for old in clients:
                old.recv_until("user_joined", skip=(), data={"user_id": cid,
                                                             "count": len(clients) + 1},
                               client_id=None)
            clients.append(c)
        return clients

    def barrier(self, sender, clients, token=None):
        """sender chats a unique token; every client's NEXT message must be
        exactly that chat (so nothing else arrived before it)."""
        token = token or "barrier-%s" % os.urandom(4).hex()
        sender.chat({"barrier": token})
        cid = sender.path.rsplit("/", 1)[1]
        for c in clients:
            c.recv_env(type="chat", data={"barrier": token}, client_id=cid)

    def assert_chat_works(self, client, cid, others=()):
        """client chats; it and others receive it (skipping presence events)."""
        token = "alive-%s" % os.urandom(4).hex()
        client.chat({"text": token})
        for c in [client] + list(others):
            c.recv_until("chat", data={"text": token}, client_id=cid)

    def clients_list(self):
        r = self.http("GET", "/clients")
        self.assertEqual(r.status, 200, r)
        obj = r.json()
        return obj


def http_date(ts):
    return email.utils.formatdate(ts, usegmt=True)


# --------------------------------------------------------------------------
# Shared scenario pieces (several test files use them)
# --------------------------------------------------------------------------

async def ws_recv_env(ws, **expect):
    """Next message of a python-websockets client as an Envelope (bounded)."""
    import asyncio
    raw = await asyncio.wait_for(ws.recv(), TIMEOUT)
    if not isinstance(raw, str):
        raise AssertionError("expected a text message, got %r" % (raw[:100],))
    return parse_envelope(raw, **expect)


async def ws_recv_type(ws, type, **expect):
    """Next envelope of `type` from a python-websockets client, skipping presence."""
    while True:
        env = await ws_recv_env(ws)
        if env.type == type:
            return parse_envelope(env.raw, type=type, **expect)
        if env.type not in ("user_joined", "user_left"):
            raise AssertionError("expected %s, got %s" % (type, env.raw))


def flood_slow_consumer(test, sender, readers, slow, n=150):
    """sender broadcasts n 60 kB chats (9 MB: more than the kernel buffers)
    that every reader (sender included) reads at once, while slow reads
    nothing; then reads slow's backlog until the server closes it.
    Returns (left, seen, closed): user_left envelopes that came early per
    reader, the chat numbers slow got, and the WSClosed that ended it."""
    blob = "s" * 60000
    left = {}
    for i in range(n):
        sender.send_json({"type": "chat", "data": [i, blob]})
        for c in readers:
            env = c.recv_env()
            if env.type == "user_left":
                left[c] = env
                env = c.recv_env()
            parse_envelope(env.raw, type="chat", client_id="sender")
            test.assertEqual(env.data[0], i)
    seen = []
    try:
        while True:
            op, payload = slow.recv_message()
            env = json.loads(payload)
            if env["type"] == "chat":
                seen.append(env["data"][0])
    except WSClosed as e:
        return left, seen, e

