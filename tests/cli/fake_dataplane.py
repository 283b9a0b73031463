#!/usr/bin/env python3
"""A stand-in for vfgate-dataplane's control socket in the CLI tests: JSON lines, one reply per
request, from canned results.

    fake_dataplane.py SOCKET RESULTS.json LOG

RESULTS.json maps a method to its `result`; any other method gets the error the real server
gives. Each request line is appended to LOG. Runs until killed (SIGTERM)."""
import json
import os
import socket
import sys

path, results_file, log = sys.argv[1:4]
with open(results_file) as f:
    results = json.load(f)
if os.path.exists(path):
    os.unlink(path)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(8)
while True:
    conn, _ = srv.accept()
    with conn, conn.makefile("rwb") as f:
        for line in f:
            with open(log, "ab") as out:
                out.write(line)
            method = json.loads(line).get("method")
            if method in results:
                reply = {"ok": True, "result": results[method]}
            else:
                reply = {"ok": False, "error": "unknown method '%s'; expected one of %s"
                         % (method, ", ".join(sorted(results)))}
            f.write((json.dumps(reply) + "\n").encode())
            f.flush()
