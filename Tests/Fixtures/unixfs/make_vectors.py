#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Reference vectors for INOS Mesh's IPFS-compatible export (Sources/Content/UnixFS.swift, CAR.swift).

Written from the specifications, independently of the Swift code under test: multiformats CIDv1 (varint,
sha2-256 multihash, base32), dag-pb (PBNode Links=2 before Data=1; PBLink Hash=1, Name=2, Tsize=3), UnixFS
Data (Type=1 File=2, filesize=3, blocksizes=4), kubo's balanced layout (go-unixfs importer/balanced: each node
filled with up to 174 links before the next; one chunk is the raw leaf itself), CARv1 (dag-cbor header
{"roots": [tag 42 CID], "version": 1}, blocks depth first from the root).

The files are deterministic byte patterns; `python3 make_vectors.py > vectors.json` regenerates the file the
tests read. Two single-block vectors are kubo's own (its gateway fixtures), as a check of the leaves.
"""
import base64, hashlib, json

def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)

def cid(codec, data):
    return varint(1) + varint(codec) + varint(0x12) + varint(32) + hashlib.sha256(data).digest()

def text(c):
    return "b" + base64.b32encode(c).decode().lower().rstrip("=")

RAW, DAG_PB = 0x55, 0x70

def field_bytes(n, b):
    return varint(n << 3 | 2) + varint(len(b)) + b

def field_varint(n, v):
    return varint(n << 3) + varint(v)

def file_node(children):  # (cid bytes, file size, dag size)
    out = b""
    for c, _, dag in children:
        out += field_bytes(2, field_bytes(1, c) + field_bytes(2, b"") + field_varint(3, dag))
    data = field_varint(1, 2) + field_varint(3, sum(f for _, f, _ in children))
    for _, f, _ in children:
        data += field_varint(4, f)
    return out + field_bytes(1, data)

def balanced(chunks, max_links):
    """go-unixfs balanced.Layout, recursively, as written there (not the bottom-up grouping the Swift code uses)."""
    blocks = {}
    it = iter(chunks)
    pending = [next(it, None)]
    def take():
        if pending:
            return pending.pop()
        return next(it, None)
    def peek_done():
        if pending:
            return pending[0] is None
        nxt = next(it, None)
        pending.append(nxt)
        return nxt is None
    def leaf():
        data = take()
        c = cid(RAW, data)
        blocks[c] = (data, [])
        return c, len(data), len(data)
    def fill(children, depth):
        while len(children) < max_links and not peek_done():
            children.append(leaf() if depth == 1 else fill([], depth - 1))
        data = file_node(children)
        c = cid(DAG_PB, data)
        blocks[c] = (data, [ch[0] for ch in children])
        return c, sum(f for _, f, _ in children), len(data) + sum(d for _, _, d in children)
    root = leaf()
    depth = 1
    while not peek_done():
        root = fill([root], depth)
        depth += 1
    return root[0], blocks

def car(root, blocks):
    cbor = bytes([0xA2]) + bytes([0x65]) + b"roots" + bytes([0x81, 0xD8, 42, 0x58, len(root) + 1, 0]) + root + bytes([0x67]) + b"version" + bytes([1])
    out = varint(len(cbor)) + cbor
    seen, stack = set(), [root]
    while stack:
        c = stack.pop()
        if c in seen:
            continue
        seen.add(c)
        data, links = blocks[c]
        out += varint(len(c) + len(data)) + c + data
        stack += reversed(links)
    return out

def pattern(size, seed):
    return bytes(((i * 31 + seed) * 7 + (i >> 10)) & 0xFF for i in range(size))

def chunked(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]

vectors = []
for name, size, chunk, links, seed in [
    ("empty", 0, 1 << 20, 174, 0),
    ("one-byte", 1, 1 << 20, 174, 1),
    ("one-chunk", 1 << 20, 1 << 20, 174, 2),
    ("two-chunks", (1 << 20) + 1, 1 << 20, 174, 3),
    ("three-and-a-half-MiB", 3 * (1 << 20) + (1 << 19), 1 << 20, 174, 4),
    ("exactly-174-leaves", 174 * 1024, 1024, 174, 5),
    ("175-leaves-two-levels", 175 * 1024 + 10, 1024, 174, 6),
    ("deeper-small-fanout", 40 * 100 + 7, 100, 4, 7),
]:
    data = pattern(size, seed)
    root, blocks = balanced(chunked(data, chunk), links)
    archive = car(root, blocks)
    vectors.append({
        "name": name, "size": size, "chunk": chunk, "max_links": links, "seed": seed,
        "sha256": hashlib.sha256(data).hexdigest(), "root": text(root),
        "blocks": len(blocks), "car_bytes": len(archive), "car_sha256": hashlib.sha256(archive).hexdigest(),
    })
# kubo's own single-block files (test/sharness gateway fixtures): `echo hello | ipfs add --cid-version 1`, and
# "Hello IPFS\n".
for name, data, expected in [("kubo-hello", b"hello\n", "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"),
                             ("kubo-hello-ipfs", b"Hello IPFS\n", "bafkreidfdrlkeq4m4xnxuyx6iae76fdm4wgl5d4xzsb77ixhyqwumhz244")]:
    assert text(cid(RAW, data)) == expected, name
    vectors.append({"name": name, "text": data.decode(), "root": expected})
print(json.dumps({"pattern": "byte i = ((i*31 + seed)*7 + (i >> 10)) & 0xFF", "vectors": vectors}, indent=1))
