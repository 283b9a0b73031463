#!/usr/bin/env python3
"""Kernel traffic for tests/testbed/offload (python3-minimal: sockets, no json).

    traffic.py serve DIR             the guest's end: TCP echo on 7000 and 23, UDP echo on 7001,
                                     and on UDP 9999 and 5555 a count of datagrams, kept in
                                     DIR/udp-PORT (rewritten on each one)
    traffic.py tcp HOST PORT         a line there and back; exit 1 if it doesn't come back in 3 s
    traffic.py udp HOST PORT         the same over UDP
    traffic.py burst HOST PORT N     N datagrams, 1 ms apart; prints how many were sent
"""
import os
import socket
import sys
import threading
import time


def tcp_echo(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(8)
    while True:
        c, _ = s.accept()
        with c:
            c.settimeout(3)
            try:
                c.sendall(c.recv(1024))
            except OSError:
                pass


def udp_echo(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(data, peer)


def udp_count(port, out):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    n = 0
    path = os.path.join(out, f"udp-{port}")
    with open(path, "w") as f:
        f.write("0\n")
    while True:
        s.recv(2048)
        n += 1
        with open(path + ".new", "w") as f:
            f.write(f"{n}\n")
        os.replace(path + ".new", path)


def serve(out):
    threads = [threading.Thread(target=tcp_echo, args=(p,), daemon=True) for p in (7000, 23)]
    threads.append(threading.Thread(target=udp_echo, args=(7001,), daemon=True))
    threads += [threading.Thread(target=udp_count, args=(p, out), daemon=True) for p in (9999, 5555)]
    for t in threads:
        t.start()
    with open(os.path.join(out, "serving"), "w"):
        pass
    while True:
        time.sleep(3600)


def talk(kind, host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(3)
    msg = b"hello through the dataplane\n"
    try:
        s.connect((host, port))
        s.send(msg)
        got = s.recv(1024)
    except OSError as e:
        print(f"{kind} {host}:{port}: {e}")
        return 1
    print(f"{kind} {host}:{port}: {'echoed' if got == msg else 'got ' + repr(got)}")
    return 0 if got == msg else 1


def burst(host, port, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    for i in range(n):
        try:
            s.sendto(b"burst %d" % i, (host, port))
            sent += 1
        except OSError:  # an ICMP port unreachable from an earlier one
            pass
        time.sleep(0.001)
    print(sent)


def main():
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(sys.argv[2])
    elif cmd in ("tcp", "udp"):
        sys.exit(talk(cmd, sys.argv[2], int(sys.argv[3])))
    elif cmd == "burst":
        burst(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))


if __name__ == "__main__":
    main()
