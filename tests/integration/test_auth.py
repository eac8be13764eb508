"""JWT auth of the upgrade (PROTOCOL.md section 2, auth_secret): tokens from
`fastwsd token` pass; every other token gets 401 before any upgrade; the
secret comes from auth_secret or auth_secret_file, follows SIGHUP, and never
reaches the log. echo_path is not authenticated. Tokens are crafted here with
the standard library only."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import time
import unittest
import urllib.parse

from harness import ServerTestCase, fastwsd_path, wait_for

SECRET = "it-Secret_9f3a7c-do-not-log"
OTHER_SECRET = "another-secret-entirely"

# The reasons the daemon logs (protocol/jwt.c, server/auth.c).
NO_TOKEN = "no token"
EMPTY = "token empty or too long"
TOO_LONG = "token too long or badly percent-encoded"
MALFORMED = "malformed token"
ALG = "algorithm is not HS256"
SIG = "bad signature"
CLAIMS = "claims are not a JSON object"
SUB = "sub does not match the client id"
EXP = "exp missing or not a number"
EXPIRED = "token expired"
NBF = "token not yet valid (nbf)"


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jdump(obj):
    return json.dumps(obj, separators=(",", ":"))


def craft(claims, secret=SECRET, header=None, alg="HS256", digest=hashlib.sha256, sig=None):
    """header.payload.signature; header/claims may be dicts or raw strings."""
    if header is None:
        header = {"alg": alg, "typ": "JWT"}
    h = b64url(header if isinstance(header, str) else jdump(header))
    p = b64url(claims if isinstance(claims, str) else jdump(claims))
    signing = ("%s.%s" % (h, p)).encode()
    if sig is None:
        sig = b64url(hmac.new(secret.encode(), signing, digest).digest())
    return "%s.%s.%s" % (h, p, sig)


def claims_for(sub, ttl=3600, **extra):
    now = int(time.time())
    c = {"sub": sub, "iat": now, "exp": now + ttl}
    c.update(extra)
    return c


def run_token(args, cwd=None):
    return subprocess.run([fastwsd_path(), "token"] + args, cwd=cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=10)


class AuthTestCase(ServerTestCase):

    def mint(self, cid, *extra, cwd=None):
        r = run_token([cid, "-c", self.server.conf_path] + list(extra),
                      cwd=cwd or self.server.tmp)
        self.assertEqual(r.returncode, 0, r)
        tok = r.stdout.strip()
        self.assertEqual(r.stdout, tok + "\n")
        self.assertEqual(tok.count("."), 2, tok)
        return tok

    def path(self, cid, token):
        return "/ws/%s?token=%s" % (cid, urllib.parse.quote(token, safe=""))

    def assert_accepted(self, cid, token):
        ws = self.ws(path=self.path(cid, token))
        self.assert_chat_works(ws, cid)
        return ws

    def assert_401(self, path, why=None):
        """401 before any upgrade; why: the reason the daemon must log (at
        info level, with the client id), so each case fails for its own
        reason and not by accident."""
        before = len(self.server.log_text())
        c, r = self.upgrade(path)
        self.assertEqual(r.status, 401, "%s -> %r" % (path[:120], r))
        self.assertIsNone(r.header("Sec-WebSocket-Accept"), r)
        self.assertEqual(r.json(), {"detail": "Unauthorized"})
        c.close()
        if why is not None:
            cid = path.split("?")[0].rsplit("/", 1)[1]
            mid = " as %s: " % cid

            def logged():
                return any(why in line.split(mid, 1)[1]
                           for line in self.server.log_text()[before:].splitlines()
                           if "auth failed for " in line and mid in line)
            wait_for(logged, timeout=2, msg="log line 'auth failed ...%s...%s'" % (mid, why))
        return r


class Auth(AuthTestCase):
    CONFIG = {"security": {"auth_secret": SECRET}, "server": {"echo_path": "/echo"}}
    PER_TEST = False

    def test_valid_token_from_cli(self):
        tok = self.mint("auth-alice")
        ws = self.assert_accepted("auth-alice", tok)
        self.assertIn("auth-alice", self.clients_list()["clients"])
        ws.close_handshake()

    def test_valid_crafted_token_and_other_params(self):
        tok = craft(claims_for("auth-bob", nbf=int(time.time()) - 5))
        self.assert_accepted("auth-bob", tok)
        ws = self.ws(path="/ws/auth-bob2?x=1&token=%s&y=2" % craft(claims_for("auth-bob2")))
        self.assert_chat_works(ws, "auth-bob2")

    def test_token_ttl(self):
        tok = self.mint("auth-ttl", "--ttl", "120")
        payload = json.loads(base64.urlsafe_b64decode(tok.split(".")[1] + "=="))
        self.assertEqual(set(payload), {"sub", "iat", "exp"})
        self.assertEqual(payload["sub"], "auth-ttl")
        self.assertEqual(payload["exp"] - payload["iat"], 120)
        self.assertLessEqual(abs(payload["iat"] - time.time()), 5)
        header = json.loads(base64.urlsafe_b64decode(tok.split(".")[0] + "=="))
        self.assertEqual(header["alg"], "HS256")
        payload = json.loads(base64.urlsafe_b64decode(self.mint("auth-ttl").split(".")[1] + "=="))
        self.assertEqual(payload["exp"] - payload["iat"], 3600)

    def test_missing_token(self):
        self.assert_401("/ws/auth-x", NO_TOKEN)
        self.assert_401("/ws/auth-x?", NO_TOKEN)
        self.assert_401("/ws/auth-x?token=", EMPTY)
        self.assert_401("/ws/auth-x?tok=%s" % craft(claims_for("auth-x")), NO_TOKEN)

    def test_wrong_signature(self):
        tok = craft(claims_for("auth-x"))
        h, p, s = tok.split(".")
        flipped = ("B" if s[0] == "A" else "A") + s[1:]
        self.assert_401(self.path("auth-x", "%s.%s.%s" % (h, p, flipped)), SIG)
        self.assert_401(self.path("auth-x", "%s.%s." % (h, p)), SIG)
        # Claims changed after signing.
        p2 = b64url(jdump(claims_for("auth-y")))
        self.assert_401(self.path("auth-y", "%s.%s.%s" % (h, p2, s)), SIG)

    def test_other_secret(self):
        self.assert_401(self.path("auth-x", craft(claims_for("auth-x"), secret=OTHER_SECRET)), SIG)
        self.assert_401(self.path("auth-x", craft(claims_for("auth-x"), secret=SECRET + "x")),
                        SIG)

    def test_alg_none(self):
        for alg in ("none", "None", "NONE"):
            with self.subTest(alg=alg):
                tok = craft(claims_for("auth-x"), alg=alg, sig="")
                self.assert_401(self.path("auth-x", tok), ALG)
                # Even with a valid HS256 MAC attached.
                self.assert_401(self.path("auth-x", craft(claims_for("auth-x"), alg=alg)), ALG)

    def test_alg_hs512(self):
        self.assert_401(self.path("auth-x", craft(claims_for("auth-x"), alg="HS512",
                                                  digest=hashlib.sha512)), ALG)
        # HS512 header, HS256 MAC: the header alone is enough to refuse.
        self.assert_401(self.path("auth-x", craft(claims_for("auth-x"), alg="HS512")), ALG)

    def test_alg_rs256_and_others(self):
        for header in ({"alg": "RS256", "typ": "JWT"}, {"alg": "hs256"}, {"typ": "JWT"},
                       {"alg": None}, {"alg": ["HS256"]},
                       {"alg": "HS256", "crit": ["exp"]}):
            with self.subTest(header=header):
                self.assert_401(self.path("auth-x", craft(claims_for("auth-x"), header=header)),
                                ALG)

    def test_expired(self):
        now = int(time.time())
        self.assert_401(self.path("auth-x", craft({"sub": "auth-x", "iat": now - 100,
                                                   "exp": now - 10})), EXPIRED)
        self.assert_401(self.path("auth-x", craft({"sub": "auth-x", "exp": 0})), EXPIRED)

    def test_missing_or_bad_exp(self):
        now = int(time.time())
        for claims in ({"sub": "auth-x", "iat": now}, {"sub": "auth-x", "exp": str(now + 100)},
                       {"sub": "auth-x", "exp": None}, {"sub": "auth-x", "exp": True}):
            with self.subTest(claims=claims):
                self.assert_401(self.path("auth-x", craft(claims)), EXP)

    def test_future_nbf(self):
        self.assert_401(self.path("auth-x", craft(claims_for("auth-x",
                                                             nbf=int(time.time()) + 60))), NBF)
        self.assert_401(self.path("auth-x", craft(claims_for("auth-x", nbf="0"))), NBF)

    def test_other_sub(self):
        self.assert_401(self.path("auth-x", self.mint("auth-y")), SUB)
        for sub in ("auth-X", "auth-x ", "auth", None, 1, ["auth-x"]):
            with self.subTest(sub=sub):
                self.assert_401(self.path("auth-x", craft(claims_for(sub))), SUB)
        self.assert_401(self.path("auth-x", craft({"exp": int(time.time()) + 60})), SUB)

    def test_malformed(self):
        good = craft(claims_for("auth-x"))
        h, p, s = good.split(".")
        cases = [(t, MALFORMED) for t in (
            "abc", "a.b", "..", "...", good + ".", good + ".AAAA", good + "=",
            "%s.%s.%s=" % (h, p, s), " " + good, good + "+", "\u00e9" + good,
            "%s.%s+.%s" % (h, p, s), b64url("not json") + "." + p + "." + s,
            craft(claims_for("auth-x"), header="[\"HS256\"]"))]
        # Signed correctly, but the claims are not one JSON object.
        cases += [(craft(c), CLAIMS) for c in (
            "not json", "[1,2]", '"auth-x"',
            '{"sub":"auth-x","sub":"auth-x","exp":%d}' % (time.time() + 60))]
        for tok, why in cases:
            with self.subTest(tok=tok[:60]):
                self.assert_401(self.path("auth-x", tok), why)
        self.assert_401("/ws/auth-x?token=%zz" + good, TOO_LONG)

    def test_huge_token(self):
        pad = "x" * 5000
        self.assert_401(self.path("auth-x", craft(claims_for("auth-x", pad=pad))), TOO_LONG)
        self.assert_401(self.path("auth-x", "A" * 6000), TOO_LONG)

    def test_length_limit(self):
        # The longest token accepted is 4096 characters; one more is refused.
        def tok_with_pad(n):
            return craft({"sub": "auth-len", "exp": int(time.time()) + 600, "p": "x" * n})
        n = 0
        while len(tok_with_pad(n + 1)) <= 4096:
            n += 1
        self.assertGreater(len(tok_with_pad(n)), 4090)
        self.assert_accepted("auth-len", tok_with_pad(n)).close_handshake()
        self.assertGreater(len(tok_with_pad(n + 1)), 4096)
        self.assert_401(self.path("auth-len", tok_with_pad(n + 1)), "too long")

    def test_rejected_before_upgrade_server_keeps_going(self):
        for _ in range(20):
            self.assert_401(self.path("auth-x", craft(claims_for("auth-x"), secret="nope")), SIG)
        self.assert_accepted("auth-after", self.mint("auth-after"))

    def test_bad_id_400_before_auth(self):
        # The client id rule comes first (PROTOCOL.md section 2): 400, not 401.
        c, r = self.upgrade(self.path("a%20b", craft(claims_for("a b"))))
        self.assertEqual(r.status, 400, r)
        c.close()

    def test_echo_path_not_authenticated(self):
        ws = self.ws(path="/echo")
        ws.send_text("hello")
        f = ws.recv_frame()
        self.assertEqual(f.payload, b"hello")

    def test_zz_secret_not_logged(self):
        # Runs last in this class (alphabetical): the log holds every case.
        tok = self.mint("auth-log")
        self.assert_accepted("auth-log", tok)
        self.assert_401(self.path("auth-log", craft(claims_for("auth-log"), secret="wrong")), SIG)
        log = self.server.log_text()
        self.assertNotIn(SECRET, log)
        self.assertNotIn(tok, log)
        self.assertNotIn(tok.split(".")[2], log)
        self.assertIn("as auth-log: " + SIG, log)  # logged with the client id and reason


class AuthSecretFile(AuthTestCase):
    """auth_secret_file, relative to the daemon's working directory; its
    trailing newline is not part of the secret."""
    CONFIG = {"security": {"auth_secret_file": "jwt.secret"}}

    @classmethod
    def setup_static(cls, tmp, static_dir):
        with open(os.path.join(tmp, "jwt.secret"), "w") as f:
            f.write(SECRET + "\n")

    def test_secret_file(self):
        self.assert_accepted("file-a", self.mint("file-a"))
        self.assert_accepted("file-b", craft(claims_for("file-b"), secret=SECRET))
        self.assert_401(self.path("file-c", craft(claims_for("file-c"), secret=SECRET + "\n")), SIG)
        self.assert_401("/ws/file-d", NO_TOKEN)
        self.assertNotIn(SECRET, self.server.log_text())

    def test_reload_changes_secret(self):
        old = self.mint("file-r")
        with open(os.path.join(self.server.tmp, "jwt.secret"), "w") as f:
            f.write(OTHER_SECRET)
        self.server.signal(1)  # SIGHUP
        wait_for(lambda: "reloaded" in self.server.log_text(), msg="reload in the log")
        self.assert_401(self.path("file-r", old), SIG)
        self.assert_accepted("file-r", craft(claims_for("file-r"), secret=OTHER_SECRET))
        log = self.server.log_text()
        self.assertNotIn(SECRET, log)
        self.assertNotIn(OTHER_SECRET, log)


class NoAuth(AuthTestCase):
    """Without auth_secret a token is neither needed nor checked."""

    def test_no_secret_no_check(self):
        ws = self.ws("noauth-a")
        self.assert_chat_works(ws, "noauth-a")
        ws2 = self.ws(path="/ws/noauth-b?token=garbage")
        self.assert_chat_works(ws2, "noauth-b")


class TokenCommand(unittest.TestCase):
    """`fastwsd token`'s errors: stderr and exit 1, nothing on stdout."""

    def setUp(self):
        import tempfile
        self.tmp = tempfile.mkdtemp(prefix="fastwsd-tok-")
        self.addCleanup(lambda: __import__("shutil").rmtree(self.tmp, ignore_errors=True))

    def conf(self, text):
        path = os.path.join(self.tmp, "c%d.conf" % len(os.listdir(self.tmp)))
        with open(path, "w") as f:
            f.write(text)
        return path

    def assert_fails(self, args, needle):
        r = run_token(args, cwd=self.tmp)
        self.assertEqual(r.returncode, 1, r)
        self.assertEqual(r.stdout, "", r)
        self.assertIn(needle, r.stderr, r)
        self.assertNotIn(SECRET, r.stderr)

    def test_errors(self):
        good = self.conf("[security]\nauth_secret = %s\n" % SECRET)
        self.assert_fails(["alice", "-c", self.conf("[server]\nlog_level = info\n")],
                          "auth_secret")
        self.assert_fails(["alice"], "auth_secret")
        self.assert_fails(["a b", "-c", good], "client id")
        self.assert_fails(["x" * 65, "-c", good], "client id")
        self.assert_fails(["", "-c", good], "client id")
        self.assert_fails(["-c", good], "CLIENT_ID")
        self.assert_fails(["alice", "bob", "-c", good], "CLIENT_ID")
        for ttl in ("0", "-5", "abc", "10x", "", "99999999999999999999"):
            with self.subTest(ttl=ttl):
                self.assert_fails(["alice", "--ttl", ttl, "-c", good], "ttl")
        self.assert_fails(["alice", "-c", os.path.join(self.tmp, "absent.conf")], "cannot open")
        self.assert_fails(["alice", "-c", self.conf("[security]\nauth_secret = %s\nbogus = 1\n"
                                                    % SECRET)], "bogus")

    def test_ok(self):
        good = self.conf("[security]\nauth_secret = %s\n" % SECRET)
        r = run_token(["--ttl=60", "alice", "-c", good], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stderr, "")
        h, p, s = r.stdout.strip().split(".")
        want = b64url(hmac.new(SECRET.encode(), ("%s.%s" % (h, p)).encode(),
                               hashlib.sha256).digest())
        self.assertEqual(s, want)


# allowed_origins lists (PROTOCOL.md section 2, Origin): written by the
# integration suite's owner into this file; kept verbatim so nothing is lost.

class AllowedOrigins(ServerTestCase):
    CONFIG = {"security": {"allowed_origins": "http://a.example, https://b.example:8443"}}
    PER_TEST = False

    def test_listed_origins(self):
        for origin, want in (("http://a.example", 101), ("https://b.example:8443", 101),
                             ("http://b.example:8443", 403), ("https://a.example", 403),
                             ("http://127.0.0.1:%d" % self.port, 403),
                             ("http://a.example.evil", 403)):
            with self.subTest(origin=origin):
                c, r = self.upgrade("/ws/o", headers=[("Origin", origin)])
                self.assertEqual(r.status, want, r)
                c.close()


class AnyOrigin(ServerTestCase):
    CONFIG = {"security": {"allowed_origins": "*"}}
    PER_TEST = False

    def test_star_allows_all(self):
        for origin in ("http://evil.example", "null", "https://x.example:1"):
            with self.subTest(origin=origin):
                c, r = self.upgrade("/ws/any", headers=[("Origin", origin)])
                self.assertEqual(r.status, 101, r)
                c.close()

    def test_star_logged_as_warning(self):
        self.assertRegex(self.server.log_text().lower(), r"warn.*(origin|\*)")


if __name__ == "__main__":
    unittest.main()
