#!/usr/bin/python3
"""Runs fastwsd's integration tests (every test_*.py beside this file).

usage: /usr/bin/python3 tests/integration/run.py [-v] [-q] [FILTER ...]

FILTER: a substring of a test id (module.Class.test_name); a test runs when
it matches any filter. Environment:
  FASTWSD                 the binary (default build/fastwsd, from the repo root)
  FASTWSD_TEST_TIMEOUT    seconds one test may take before it fails (default 60)
  FASTWSD_LOG_LEVEL       log_level written into each test's config (default info)
  FASTWSD_KEEP_TMP        keep each test's temp dir (config, static, log)

The last line of output is exactly `integration: N passed, N failed`
(`, N skipped` only when some were skipped). Exit code 1 when any failed.
"""

import os
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

TEST_TIMEOUT = int(os.environ.get("FASTWSD_TEST_TIMEOUT", "60"))


class TestTimeout(BaseException):
    """A BaseException, so that `except Exception` in a test cannot swallow it."""


def _alarm(signum, frame):
    signal.alarm(5)   # should the test swallow it anyway, strike again
    raise TestTimeout("test took longer than %ds (FASTWSD_TEST_TIMEOUT)" % TEST_TIMEOUT)


class Result(unittest.TextTestResult):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.passed = 0
        self.t0 = {}

    def startTest(self, test):
        self.t0[test.id()] = time.monotonic()
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(TEST_TIMEOUT)
        super().startTest(test)

    def stopTest(self, test):
        signal.alarm(0)
        self.t0[test.id()] = time.monotonic() - self.t0.get(test.id(), time.monotonic())
        super().stopTest(test)

    def addSuccess(self, test):
        self.passed += 1
        super().addSuccess(test)

    def _with_log(self, test, err):
        # Attach the tail of the daemon's log to the failure report.
        srv = getattr(test, "server", None)
        if srv is None or not hasattr(srv, "log_tail"):
            return err
        tail = srv.log_tail(25)
        if not tail:
            return err
        exctype, value, tb = err
        try:
            value = exctype("%s\n--- fastwsd log (tail) ---\n%s" % (value, tail))
        except Exception:
            return err
        return (exctype, value, tb)

    def addFailure(self, test, err):
        super().addFailure(test, self._with_log(test, err))

    def addError(self, test, err):
        super().addError(test, self._with_log(test, err))

    def addSubTest(self, test, subtest, err):
        if err is not None:
            err = self._with_log(test, err)
        super().addSubTest(test, subtest, err)


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


def main(argv):
    verbosity = 1
    filters = []
    for a in argv:
        if a == "-v":
            verbosity = 2
        elif a == "-q":
            verbosity = 0
        else:
            filters.append(a)
    loader = unittest.TestLoader()
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    tests = list(iter_tests(suite))
    load_errors = [t for t in tests if t.id().startswith("unittest.loader")]
    if filters:
        tests = [t for t in tests if t in load_errors or any(f in t.id() for f in filters)]
    # Keep the discovery order (module by module, class by class), so
    # class-level servers are torn down as soon as their class ends.
    suite = unittest.TestSuite(tests)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=verbosity,
                                     resultclass=Result)
    t0 = time.monotonic()
    result = runner.run(suite)
    sys.stdout.flush()
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    line = "integration: %d passed, %d failed" % (result.passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    sys.stderr.flush()
    if verbosity > 1:
        slow = sorted(result.t0.items(), key=lambda kv: -kv[1])[:15]
        print("slowest: " + ", ".join("%s %.1fs" % (k.split(".", 1)[1], v) for k, v in slow))
    print("(%.1fs)" % (time.monotonic() - t0))
    print(line, flush=True)
    return 1 if failed or (not result.passed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
