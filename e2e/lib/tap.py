#!/usr/bin/env python3
"""Run the unittest suites in a folder and print TAP.

Usage: python3 e2e/lib/tap.py DIR [PATTERN]

Discovers DIR/test_*.py (or PATTERN), runs every test and prints one TAP line per
test: "ok N - name" or "not ok N - name" followed by the failure as TAP comments.
A skipped test is printed as "not ok ... # SKIP reason": it is not counted as passed.
Exits 0 when every test passed, 1 otherwise (including when no test ran).
"""
import os
import sys
import time
import traceback
import unittest

# pyenv's python3 shim runs us with its own bin directory (which holds the real `aws`)
# first on PATH, so a test's `aws` would start the whole CLI again (about 1 s of CPU per
# call). Put the fork client of e2e/awscli back in front (e2e/awscli/README.md).
if os.environ.get("AWSCLI_FORK_BIN"):
    os.environ["PATH"] = os.environ["AWSCLI_FORK_BIN"] + os.pathsep + os.environ.get("PATH", "")


class TapResult(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.count = 0
        self.bad = 0
        self.started = 0.0

    def startTest(self, test):
        super().startTest(test)
        self.started = time.monotonic()

    def _line(self, ok, test, extra=""):
        self.count += 1
        if not ok:
            self.bad += 1
        secs = time.monotonic() - self.started
        name = test.id() if hasattr(test, "id") else str(test)
        print("%s %d - %s (%.1fs)%s" % ("ok" if ok else "not ok", self.count, name, secs, extra),
              flush=True)

    def _diag(self, err):
        text = "".join(traceback.format_exception(*err)) if isinstance(err, tuple) else str(err)
        for line in text.rstrip().splitlines():
            print("#   " + line, flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(True, test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(False, test)
        self._diag(err)

    def addError(self, test, err):
        super().addError(test, err)
        self._line(False, test)
        self._diag(err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(False, test, " # SKIP %s" % reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._line(False, test, " # expected failure is not a pass")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._line(False, test, " # unexpected success")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._line(False, subtest)
            self._diag(err)


def main(argv):
    if len(argv) < 2:
        print("usage: tap.py DIR [PATTERN]", file=sys.stderr)
        return 2
    start = os.path.abspath(argv[1])
    pattern = argv[2] if len(argv) > 2 else "test_*.py"
    sys.path.insert(0, start)
    suite = unittest.defaultTestLoader.discover(start, pattern=pattern, top_level_dir=start)
    result = TapResult()
    suite.run(result)
    print("1..%d" % result.count, flush=True)
    if result.count == 0:
        print("# no test ran in %s" % start, flush=True)
        return 1
    return 1 if result.bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
