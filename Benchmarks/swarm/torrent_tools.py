#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The BitTorrent side of the swarm benchmark: make a .torrent and run a minimal HTTP tracker on loopback.

    torrent_tools.py make FILE ANNOUNCE_URL OUT.torrent [PIECE_KIB]
    torrent_tools.py tracker PORT
"""
import hashlib
import http.server
import os
import socket
import struct
import sys
import urllib.parse


def bencode(value):
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, str):
        return bencode(value.encode())
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        return b"d" + b"".join(bencode(k) + bencode(value[k]) for k in sorted(value)) + b"e"
    raise TypeError(type(value))


def make(path, announce, out, piece_kib=1024):
    piece = piece_kib * 1024
    digests = []
    with open(path, "rb") as f:
        while True:
            block = f.read(piece)
            if not block:
                break
            digests.append(hashlib.sha1(block).digest())
    info = {"name": os.path.basename(path), "length": os.path.getsize(path), "piece length": piece, "pieces": b"".join(digests)}
    with open(out, "wb") as f:
        f.write(bencode({"announce": announce, "info": info}))


class Tracker(http.server.BaseHTTPRequestHandler):
    peers = {}

    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query, keep_blank_values=True)
        try:
            port = int(query["port"][0])
            peer_id = query["peer_id"][0]
        except (KeyError, ValueError):
            self.send_error(400)
            return
        if query.get("event", [""])[0] == "stopped":
            Tracker.peers.pop(peer_id, None)
        else:
            Tracker.peers[peer_id] = port
        compact = b"".join(socket.inet_aton("127.0.0.1") + struct.pack(">H", p) for k, p in Tracker.peers.items() if k != peer_id)
        body = bencode({"interval": 2, "min interval": 1, "peers": compact})
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 1024)
    elif sys.argv[1] == "tracker":
        http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Tracker).serve_forever()
    else:
        sys.exit(__doc__)
