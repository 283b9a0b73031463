"""TAP output for the bench tests run by meson (protocol 'tap'): a line per test case.

    tap_runner.main(module)   runs a module's tests and exits 0 if all passed
    tap_runner.TempFiles      a test case mixin: self.write(text) is a temporary YAML file
"""
import os
import sys
import tempfile
import unittest


class TempFiles:
    """For test cases: write(text) puts text in a temporary .yaml file, removed after the test."""
    def write(self, text):
        f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        self.addCleanup(os.unlink, f.name)
        f.write(text)
        f.close()
        return f.name


class TapResult(unittest.TestResult):
    """TAP on stdout: meson counts each test case."""
    def __init__(self):
        super().__init__()
        self.n = 0

    def _line(self, test, ok, why=""):
        self.n += 1
        print(f"{'ok' if ok else 'not ok'} {self.n} - {test.id().split('.', 1)[1]}")
        for line in why.splitlines():
            print(f"# {line}")

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(test, True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(test, False, self.failures[-1][1])

    def addError(self, test, err):
        super().addError(test, err)
        self._line(test, False, self.errors[-1][1])

    def addSubTest(self, test, subtest, err):
        # A failing subtest fails its test without addFailure: its own line says which and why.
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = self.failures if issubclass(err[0], test.failureException) else self.errors
            self._line(subtest, False, failed[-1][1])


def main(module):
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    result = TapResult()
    suite.run(result)
    print(f"1..{result.n}")
    sys.exit(0 if result.wasSuccessful() else 1)
