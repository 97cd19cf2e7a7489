"""Decompression bombs for bench/serve_bounds.sh.

    python bench/serve_bombs.py OUT.png SIDE BITS     # writes an all-zero SIDE x SIDE RGBA PNG
    python bench/serve_bombs.py --send HTTP_ADDR PNG N PID

With --send: N concurrent HTTP requests each carrying PNG as the `image`
input of model lenet; prints one JSON line with the answers' statuses, the
wall time and the server's peak resident memory (VmHWM of PID).
"""
import json
import struct
import sys
import threading
import time
import zlib
import http.client


def write_png(path, side, bits):
    row = b"\x00" * (1 + side * 4 * bits // 8)
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(side)) + z.flush()

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, bits, 6, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def send(addr, png, n, pid):
    host, port = addr.rsplit(":", 1)
    data = open(png, "rb").read()
    raw = struct.pack("<I", len(data)) + data
    head = json.dumps({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": len(raw)}}]}).encode()
    statuses = []

    def one():
        try:
            c = http.client.HTTPConnection(host, int(port), timeout=600)
            c.request("POST", "/v2/models/lenet/infer", body=head + raw, headers={"Inference-Header-Content-Length": str(len(head))})
            r = c.getresponse()
            r.read()
            statuses.append(r.status)
        except Exception as e:  # noqa: BLE001 - a lost request is the finding
            statuses.append(type(e).__name__)

    threads = [threading.Thread(target=one) for _ in range(n)]
    start = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    peak = 0
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    counts = {}
    for s in statuses:
        counts[str(s)] = counts.get(str(s), 0) + 1
    answers = ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))
    print(json.dumps({"answers": answers, "wall_s": time.time() - start, "peak_mib": peak}))


if sys.argv[1] == "--send":
    send(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
else:
    write_png(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
