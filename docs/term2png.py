#!/usr/bin/env python3
"""Renders a terminal capture (`tmux capture-pane -e -p`) to a PNG with ImageMagick.

How docs/demo-80x24.png was made:

    tmux new-session -d -s demo -x 80 -y 24 'scanpay demo --language en'
    tmux send-keys -t demo 134523198765000100 Enter
    tmux capture-pane -t demo -e -p > demo.ans
    python3 docs/term2png.py demo.ans 80 24 docs/demo-80x24.png

Braille cells are drawn as dots and half blocks as halves, so the picture does not depend
on a font having them; other characters are drawn with DejaVu Sans Mono. Standard library
plus the `convert` command only.
"""

import os
import re
import subprocess
import sys

CELL_W, CELL_H = 10, 20
DEFAULT_FG, DEFAULT_BG = (204, 204, 204), (16, 16, 16)
SGR = re.compile(r"\x1b\[([0-9;]*)m")
# Braille dot bits by (column, row) inside a cell.
DOTS = {(0, 0): 0x01, (0, 1): 0x02, (0, 2): 0x04, (1, 0): 0x08,
        (1, 1): 0x10, (1, 2): 0x20, (0, 3): 0x40, (1, 3): 0x80}
WIDE = re.compile("[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3\uff00-\uff60]")


def parse(text, cols, rows):
    grid = [[(" ", DEFAULT_FG, DEFAULT_BG)] * cols for _ in range(rows)]
    for y, line in enumerate(text.split("\n")[:rows]):
        fg, bg, x, at = DEFAULT_FG, DEFAULT_BG, 0, 0
        while at < len(line):
            match = SGR.match(line, at)
            if match:
                params = [int(p) if p else 0 for p in match.group(1).split(";")]
                i = 0
                while i < len(params):
                    p = params[i]
                    if p == 0:
                        fg, bg = DEFAULT_FG, DEFAULT_BG
                    elif p in (38, 48) and params[i + 1:i + 2] == [2]:
                        colour = tuple(params[i + 2:i + 5])
                        if p == 38:
                            fg = colour
                        else:
                            bg = colour
                        i += 4
                    elif p == 39:
                        fg = DEFAULT_FG
                    elif p == 49:
                        bg = DEFAULT_BG
                    i += 1
                at = match.end()
                continue
            char = line[at]
            at += 1
            if x < cols:
                grid[y][x] = (char, fg, bg)
                if WIDE.match(char) and x + 1 < cols:
                    grid[y][x + 1] = ("", fg, bg)
                x += 2 if WIDE.match(char) else 1
    return grid


def rgb(colour):
    return "#%02x%02x%02x" % colour


def mvg(grid):
    """One drawing per row (a single argument is limited to 128 KiB)."""
    rows = []
    for y, row in enumerate(grid):
        out = []
        for x, (char, fg, bg) in enumerate(row):
            x0, y0 = x * CELL_W, y * CELL_H
            out.append(f"fill {rgb(bg)} rectangle {x0},{y0} {x0 + CELL_W - 1},{y0 + CELL_H - 1}")
            code = ord(char) if char else 0
            if 0x2801 <= code <= 0x28FF:
                out.append(f"fill {rgb(fg)}")
                for (dx, dy), bit in DOTS.items():
                    if (code - 0x2800) & bit:
                        cx, cy = x0 + 2 + dx * 5, y0 + 2 + dy * 5
                        out.append(f"rectangle {cx},{cy} {cx + 3},{cy + 3}")
            elif char == "▀":
                out.append(f"fill {rgb(fg)} rectangle {x0},{y0} {x0 + CELL_W - 1},{y0 + CELL_H // 2 - 1}")
            elif char.strip():
                escaped = char.replace("\\", "\\\\").replace("'", "\\'")
                out.append(f"fill {rgb(fg)} text {x0},{y0 + 15} '{escaped}'")
        rows.append("font-size 16\n" + "\n".join(out))
    return rows


def main():
    source, cols, rows, target = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    with open(source, encoding="utf-8") as f:
        grid = parse(f.read(), cols, rows)
    # Debian's ImageMagick, ahead of any other `convert` on the PATH.
    convert = "/usr/bin/convert" if os.path.exists("/usr/bin/convert") else "convert"
    draws = [arg for row in mvg(grid) for arg in ("-draw", row)]
    subprocess.run(
        [convert, "-size", f"{cols * CELL_W}x{rows * CELL_H}", f"xc:{rgb(DEFAULT_BG)}",
         "-font", "DejaVu-Sans-Mono", *draws, target],
        check=True)


if __name__ == "__main__":
    main()
