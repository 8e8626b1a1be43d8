#!/usr/bin/env python3
"""The HTML audit report renders: `keygate audit report -o html` on the fixture of
tests/data/report, a screenshot with Debian's headless Chromium, and the PNG decoded here
(zlib and the five PNG filters, no imaging library) to check that the charts and the finding
colours were drawn: each colour below must cover a minimum of pixels. A page that failed to
render (a blank or an error page) has none of them.

Usage: html_screenshot_test.py KEYGATE_BINARY [OUT_DIR]  (the screenshot is kept in OUT_DIR)"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

WIDTH, HEIGHT = 1280, 2400
# colour -> (what it is, minimum pixels at 1280x2400)
EXPECTED = {
    (0x2E, 0x7D, 0x32): ("Active keys in the state chart, approvals in the approver chart", 2000),
    (0x15, 0x65, 0xC0): ("PreActive keys in the state chart", 2000),
    (0xC6, 0x28, 0x28): ("Compromised keys in the state chart", 1000),
    (0x8E, 0x24, 0xAA): ("the Failed key in the state chart", 1000),
    (0xFF, 0xCD, 0xD2): ("high-severity findings and their card", 2000),
    (0xFF, 0xE0, 0xB2): ("medium-severity findings and the 'Partially' answers", 2000),
}


def decode_png(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    counts = {}
    for y in range(height):
        start = y * (stride + 1)
        f, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for x in range(0, stride, channels):
            px = (line[x], line[x + 1], line[x + 2])
            if px in EXPECTED:
                counts[px] = counts.get(px, 0) + 1
        prev = line
    return width, height, counts


def main():
    binary = sys.argv[1]
    out_dir = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp()
    src = os.environ.get("KEYGATE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    chromium = shutil.which("chromium")
    if chromium is None:
        print("FAIL: /usr/bin/chromium is not installed (scripts/install-deps.sh installs it)")
        return 1
    os.makedirs(out_dir, exist_ok=True)
    html = os.path.join(out_dir, "report.html")
    png = os.path.join(out_dir, "report.png")
    with open(html, "w") as f:
        subprocess.run([binary, "audit", "report", "--state-dir", "tests/data/report", "-o", "html"], cwd=src,
                       stdout=f, check=True)
    profile = tempfile.mkdtemp(prefix="keygate-chromium-")
    try:
        # The flags the machine notes ask for: no sandbox as root, no network chatter.
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}",
                        f"--screenshot={png}", "file://" + os.path.abspath(html)],
                       check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    with open(png, "rb") as f:
        width, height, counts = decode_png(f.read())
    failed = 0
    if (width, height) != (WIDTH, HEIGHT):
        print(f"FAIL: screenshot is {width}x{height}, expected {WIDTH}x{HEIGHT}")
        failed += 1
    for colour, (what, minimum) in EXPECTED.items():
        n = counts.get(colour, 0)
        ok = n >= minimum
        failed += 0 if ok else 1
        print(f"{'ok  ' if ok else 'FAIL'} #{colour[0]:02x}{colour[1]:02x}{colour[2]:02x} {n:7d} px  {what}")
    print(f"screenshot: {png}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
