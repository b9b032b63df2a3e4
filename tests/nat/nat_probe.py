#!/usr/bin/env python3
"""Small probes for the NAT harness (tests/nat); standard library only.

  observe --listen IP:PORT
      Accept connections for ever; tell each peer the address it came from
      ("ip:port\\n"), then close. One JSON line per connection on stdout.
  connect --bind IP:PORT --to IP:PORT [--to ...] [--timeout S]
      One connection per target, all from the same local address (SO_REUSEADDR
      + SO_REUSEPORT) and all held open together; reads what an observer says.
      Prints one JSON line: per target the result (ok, refused, timeout,
      unreachable, ...), the observed address and the time taken.
  punch --bind IP:PORT --to IP:PORT --name N [--at EPOCH_MS] [--window S]
        [--attempt-timeout S] [--retry-gap-ms MS]
      TCP simultaneous open: from --at on, connect from the fixed local
      address to the target, a fresh socket after each refusal or timeout,
      until connected or --window seconds passed; then exchange names over the
      connection. Prints one JSON line with the outcome, attempts and errors.
  natpmp --gateway IP [--map-tcp PORT] [--lifetime S]
      NAT-PMP (RFC 6886): ask the gateway for its external address and, with
      --map-tcp, for a TCP mapping of PORT to the same external port. Prints
      one JSON line with the result codes (0 = success) and what was granted.
Every wait is bounded.
"""
import argparse
import errno
import json
import socket
import struct
import sys
import time


def endpoint(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def now_ms():
    return int(time.time() * 1000)


def bound_socket(local):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(local)
    return s


def error_name(exc):
    if isinstance(exc, socket.timeout):
        return "timeout"
    code = getattr(exc, "errno", None)
    names = {
        errno.ECONNREFUSED: "refused",
        errno.ECONNRESET: "reset",
        errno.ETIMEDOUT: "timeout",
        errno.EHOSTUNREACH: "unreachable",
        errno.ENETUNREACH: "unreachable",
        errno.EADDRINUSE: "addr_in_use",
        errno.EADDRNOTAVAIL: "addr_not_available",
    }
    return names.get(code, errno.errorcode.get(code, type(exc).__name__).lower() if code else type(exc).__name__)


def read_line(s, limit_s):
    s.settimeout(limit_s)
    data = b""
    deadline = time.monotonic() + limit_s
    while not data.endswith(b"\n") and time.monotonic() < deadline and len(data) < 200:
        chunk = s.recv(200)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def cmd_observe(a):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(endpoint(a.listen))
    srv.listen(16)
    print(json.dumps({"event": "listening", "listen": a.listen}), flush=True)
    while True:
        c, peer = srv.accept()
        try:
            c.sendall(f"{peer[0]}:{peer[1]}\n".encode())
        except OSError:
            pass
        c.close()
        print(json.dumps({"event": "accepted", "peer": f"{peer[0]}:{peer[1]}", "ts_ms": now_ms()}), flush=True)


def cmd_connect(a):
    local = endpoint(a.bind)
    socks, out = [], []
    for target in a.to:
        r = {"to": target}
        t0 = time.monotonic()
        try:
            s = bound_socket(local)
            socks.append(s)
            s.settimeout(a.timeout)
            s.connect(endpoint(target))
            r["result"] = "ok"
            r["local"] = "%s:%d" % s.getsockname()
            r["observed"] = read_line(s, a.timeout)
        except OSError as e:
            r["result"] = error_name(e)
        r["ms"] = int((time.monotonic() - t0) * 1000)
        out.append(r)
    for s in socks:
        s.close()
    print(json.dumps({"bind": a.bind, "targets": out}), flush=True)


def cmd_punch(a):
    local, remote = endpoint(a.bind), endpoint(a.to)
    if a.at:
        delay = (a.at - now_ms()) / 1000.0
        if 0 < delay < 30:
            time.sleep(delay)
    start = time.monotonic()
    deadline = start + a.window
    attempts, errors, log = 0, {}, []
    result = {"name": a.name, "bind": a.bind, "to": a.to, "start_ms": now_ms()}
    conn = None
    while time.monotonic() < deadline:
        attempts += 1
        t0 = time.monotonic()
        s = None
        try:
            s = bound_socket(local)
            s.settimeout(max(0.05, min(a.attempt_timeout, deadline - t0)))
            s.connect(remote)
            conn = s
            break
        except OSError as e:
            name = error_name(e)
            errors[name] = errors.get(name, 0) + 1
            if len(log) < 20:
                log.append([round((t0 - start) * 1000), name, round((time.monotonic() - t0) * 1000)])
            if s is not None:
                s.close()
            if name != "timeout":
                time.sleep(a.retry_gap_ms / 1000.0)
    result["attempts"] = attempts
    result["errors"] = errors
    result["attempt_log"] = log  # [start ms, error, duration ms] of the first 20 failures
    if conn is None:
        result["result"] = "failed"
        result["elapsed_ms"] = int((time.monotonic() - start) * 1000)
    else:
        result["connected_after_ms"] = int((time.monotonic() - start) * 1000)
        result["local"] = "%s:%d" % conn.getsockname()
        result["peer"] = "%s:%d" % conn.getpeername()
        try:
            conn.settimeout(3)
            conn.sendall((a.name + "\n").encode())
            result["peer_said"] = read_line(conn, 3)
            result["result"] = "connected" if result["peer_said"] else "connected_no_data"
        except OSError as e:
            result["result"] = "connected_then_" + error_name(e)
        # Let the other side read our name before we close.
        time.sleep(0.3)
        conn.close()
    print(json.dumps(result), flush=True)


def cmd_natpmp(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(a.timeout)
    gateway = (a.gateway, 5351)
    out = {"gateway": a.gateway}
    try:
        s.sendto(struct.pack("!BB", 0, 0), gateway)
        reply = s.recv(64)
        _, _, code, _ = struct.unpack_from("!BBHI", reply, 0)
        out["address_result"] = code
        out["external_address"] = socket.inet_ntoa(reply[8:12])
        if a.map_tcp:
            s.sendto(struct.pack("!BBHHHI", 0, 2, 0, a.map_tcp, a.map_tcp, a.lifetime), gateway)
            reply = s.recv(64)
            _, _, code, _, internal, external, lifetime = struct.unpack_from("!BBHIHHI", reply, 0)
            out.update(map_result=code, internal_port=internal, external_port=external, lifetime=lifetime)
    except OSError as e:
        out["error"] = error_name(e)
    print(json.dumps(out), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("observe")
    o.add_argument("--listen", required=True)
    c = sub.add_parser("connect")
    c.add_argument("--bind", required=True)
    c.add_argument("--to", action="append", required=True)
    c.add_argument("--timeout", type=float, default=2.0)
    h = sub.add_parser("punch")
    h.add_argument("--bind", required=True)
    h.add_argument("--to", required=True)
    h.add_argument("--name", required=True)
    h.add_argument("--at", type=int, default=0)
    h.add_argument("--window", type=float, default=6.0)
    h.add_argument("--attempt-timeout", type=float, default=2.0)
    h.add_argument("--retry-gap-ms", type=int, default=100)
    n = sub.add_parser("natpmp")
    n.add_argument("--gateway", required=True)
    n.add_argument("--map-tcp", type=int, default=0)
    n.add_argument("--lifetime", type=int, default=3600)
    n.add_argument("--timeout", type=float, default=3.0)
    a = p.parse_args()
    {"observe": cmd_observe, "connect": cmd_connect, "punch": cmd_punch, "natpmp": cmd_natpmp}[a.cmd](a)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
