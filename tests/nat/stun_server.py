#!/usr/bin/env python3
"""A minimal STUN server for the NAT harness (tests/nat); standard library only.

  stun_server.py IP1 IP2 PORT1 PORT2

Answers Binding Requests (RFC 5389) on all four IP:PORT combinations with
MAPPED-ADDRESS and XOR-MAPPED-ADDRESS, and honours CHANGE-REQUEST (RFC 5780):
"change IP" answers from the other address, "change port" from the other
port. miniupnpd's ext_perform_stun needs exactly this to decide that the
router is not behind another NAT; without it, miniupnpd 2.3.1 refuses port
mappings on a router whose public address is a documentation address
(203.0.113.0/24 counts as reserved). One JSON line per request on stdout.
"""
import json
import select
import socket
import struct
import sys

MAGIC = 0x2112A442
BINDING_REQUEST, BINDING_RESPONSE = 0x0001, 0x0101
ATTR_MAPPED, ATTR_CHANGE_REQUEST, ATTR_XOR_MAPPED = 0x0001, 0x0003, 0x0020
CHANGE_IP, CHANGE_PORT = 0x04, 0x02


def change_flags(msg):
    offset = 20
    while offset + 4 <= len(msg):
        kind, size = struct.unpack_from("!HH", msg, offset)
        if kind == ATTR_CHANGE_REQUEST and size >= 4 and offset + 8 <= len(msg):
            return struct.unpack_from("!I", msg, offset + 4)[0]
        offset += 4 + ((size + 3) & ~3)
    return 0


def answer(msg, peer):
    _, _, cookie = struct.unpack_from("!HHI", msg, 0)
    txid = msg[8:20]
    addr = socket.inet_aton(peer[0])
    body = struct.pack("!HHBBH4s", ATTR_MAPPED, 8, 0, 1, peer[1], addr)
    if cookie == MAGIC:
        xaddr = struct.unpack("!I", addr)[0] ^ MAGIC
        body += struct.pack("!HHBBHI", ATTR_XOR_MAPPED, 8, 0, 1, peer[1] ^ (MAGIC >> 16), xaddr)
    return struct.pack("!HHI", BINDING_RESPONSE, len(body), cookie) + txid + body


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: stun_server.py IP1 IP2 PORT1 PORT2")
    ips, ports = (sys.argv[1], sys.argv[2]), (int(sys.argv[3]), int(sys.argv[4]))
    socks = {}
    for ip in ips:
        for port in ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((ip, port))
            socks[(ip, port)] = s
    print(json.dumps({"event": "listening", "addresses": ["%s:%d" % k for k in socks]}), flush=True)
    while True:
        ready, _, _ = select.select(list(socks.values()), [], [])
        for s in ready:
            msg, peer = s.recvfrom(2048)
            if len(msg) < 20 or struct.unpack_from("!H", msg, 0)[0] != BINDING_REQUEST:
                continue
            flags = change_flags(msg)
            ip, port = s.getsockname()
            if flags & CHANGE_IP:
                ip = ips[1] if ip == ips[0] else ips[0]
            if flags & CHANGE_PORT:
                port = ports[1] if port == ports[0] else ports[0]
            socks[(ip, port)].sendto(answer(msg, peer), peer)
            print(json.dumps({"event": "binding", "peer": "%s:%d" % peer, "change": flags,
                              "answered_from": "%s:%d" % (ip, port)}), flush=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
