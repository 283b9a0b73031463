#!/usr/bin/env python3
"""Runs clang-tidy (.clang-tidy) on vfgate's product sources; used by `scripts/lint tidy`.

    clang_tidy.py BUILD_DIR [--jobs N] [--others] [DIR...]

DIRs (top-level components such as dataplane or common) limit the run to their sources, or
with --others to every source outside them; without them every product source (all C++
sources in git outside tests/) is checked.

A source that came out clean is remembered in BUILD_DIR/clang-tidy-cache under a key made of
the clang-tidy version, .clang-tidy, the source's compile command and the contents of every
file the compiler read for it (as ninja recorded them; a source not yet built is not cached). An unchanged source is not analysed
again; a source with findings always is. Prints the findings and exits 1 when there are any.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TOOL = os.environ.get("VFGATE_CLANG_TIDY", "clang-tidy-22")


def product_sources(root: Path, dirs: list[str], others: bool) -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "--", "*.cpp", "*.cc"],
                         cwd=root, check=True, capture_output=True, text=True).stdout.split()
    srcs = [root / s for s in out if not s.startswith("tests/")]
    if dirs or others:
        srcs = [s for s in srcs if (s.relative_to(root).parts[0] in dirs) != others]
    return srcs


def ninja_deps(build: Path) -> dict[str, list[str]]:
    """Every object's inputs as ninja recorded them from the compiler (`ninja -t deps`)."""
    r = subprocess.run(["ninja", "-C", str(build), "-t", "deps"], capture_output=True, text=True)
    deps: dict[str, list[str]] = {}
    current = None
    for line in r.stdout.splitlines():
        if line and not line[0].isspace():
            target, _, status = line.partition(": #deps")
            current = deps.setdefault(target, []) if "(VALID)" in status else None
        elif line.strip() and current is not None:
            current.append(line.strip())
    return deps


def cache_key(entry: dict, deps: list[str], version: str, config: bytes) -> str | None:
    if not deps:
        return None
    h = hashlib.sha256()
    h.update(version.encode())
    h.update(config)
    h.update(entry["command"].encode() if "command" in entry else "\0".join(entry["arguments"]).encode())
    for dep in sorted(set(deps)):
        path = Path(entry["directory"]) / dep
        try:
            h.update(str(path).encode() + b"\0" + path.read_bytes())
        except OSError:
            return None
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("dirs", nargs="*")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--others", action="store_true",
                    help="check the sources outside the DIRs instead of those in them")
    args = ap.parse_intermixed_args()

    root = Path(__file__).resolve().parents[2]
    build = Path(args.build).resolve()
    db = build / "compile_commands.json"
    if not db.exists():
        print(f"lint: no {db}", file=sys.stderr)
        return 2
    try:
        version = subprocess.run([TOOL, "--version"], check=True, capture_output=True,
                                 text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        print(f"lint: {TOOL} is not installed (scripts/setup installs it)", file=sys.stderr)
        return 2
    config = (root / ".clang-tidy").read_bytes()

    entries = {}  # source -> its first compile command (product code is built once)
    for e in json.loads(db.read_text()):
        entries.setdefault((Path(e["directory"]) / e["file"]).resolve(), e)
    srcs = product_sources(root, args.dirs, args.others)
    missing = [s for s in srcs if s not in entries]
    if missing:
        print("lint: not in the build: " + " ".join(str(m.relative_to(root)) for m in missing),
              file=sys.stderr)
        return 2

    deps = ninja_deps(build)
    cache = build / "clang-tidy-cache"
    cache.mkdir(exist_ok=True)

    def check(src: Path) -> tuple[Path, bool, str]:
        e = entries[src]
        key = cache_key(e, deps.get(e["output"], []), version, config)
        if key and (cache / key).exists():
            return src, True, ""
        # GCC-only warning flags in the compile commands (meson.build's -Wno-restrict for GCC 12)
        # are not clang's to judge.
        r = subprocess.run([TOOL, "-p", str(build), "--quiet",
                            "--extra-arg=-Wno-unknown-warning-option", str(src)],
                           capture_output=True, text=True)
        clean = r.returncode == 0 and "warning:" not in r.stdout and "error:" not in r.stdout
        if clean and key:
            (cache / key).write_text(str(src.relative_to(root)) + "\n")
        return src, False, r.stdout + ("" if clean else r.stderr)

    findings = []
    cached = 0
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for src, hit, output in pool.map(check, srcs):
            cached += hit
            if output:
                findings.append(output)
    if findings:
        for f in findings:
            sys.stderr.write(f)
        print(f"clang-tidy: findings above in {len(findings)} of {len(srcs)} files",
              file=sys.stderr)
        return 1
    print(f"clang-tidy: {len(srcs)} files clean ({cached} unchanged since a clean run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
