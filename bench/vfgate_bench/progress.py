"""A progress line on stderr: rewritten in place on a terminal, one line per step otherwise."""
import sys
import time


class Progress:
    def __init__(self, total, stream=sys.stderr):
        self.total, self.n, self.stream = total, 0, stream
        self.tty = stream.isatty()
        self.t0 = time.monotonic()

    def _eta(self):
        if self.n == 0:
            return ""
        left = (time.monotonic() - self.t0) / self.n * (self.total - self.n)
        return f", ~{int(left // 60)}m{int(left % 60):02d}s left"

    def step(self, what):
        line = f"[{self.n + 1}/{self.total}{self._eta()}] {what}"
        if self.tty:
            self.stream.write("\r\033[K" + line)
            self.stream.flush()

    def done(self, result):
        self.n += 1
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(f"[{self.n}/{self.total}] {result}\n")
        self.stream.flush()

    def finish(self):
        self.stream.flush()
