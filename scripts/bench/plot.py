#!/usr/bin/env python3
"""Draws the bench's curve as an SVG: throughput (req/s) and p99 latency
(ms) against the number of users, one line per route, from the CSV that
`CURVE=1 scripts/bench/run.sh` writes (columns: users,route,rps,p50,p99).
Standard library only, so the bench needs nothing installed to draw it.

Usage: plot.py CURVE.csv OUT.svg [TITLE]
"""
import csv
import math
import sys
from collections import defaultdict

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#e377c2", "#7f7f7f", "#bcbd22"]
W, H = 960, 420
PANEL_W, PANEL_H = 380, 290
LEFT, TOP = 80, 60


def esc(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nice_max(v):
    if v <= 0:
        return 1
    p = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * p >= v:
            return m * p
    return 10 * p


def human(n):
    n = float(n)
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if n >= div:
            v = n / div
            return f"{v:g}{unit}"
    return f"{n:g}"


def panel(out, x0, y0, title, sizes, series, key, log_y=False):
    xs = sorted(sizes)
    lx = [math.log10(s) for s in xs]
    xmin, xmax = min(lx), max(lx)
    span = (xmax - xmin) or 1
    values = [pt[key] for pts in series.values() for pt in pts.values() if pt[key] > 0]
    ymax = nice_max(max(values) if values else 1)
    ymin = 0.0
    if log_y:
        ymin = 10 ** math.floor(math.log10(min(values))) if values else 0.1
        ymax = 10 ** math.ceil(math.log10(max(values))) if values else 1

    def px(size):
        return x0 + (math.log10(size) - xmin) / span * PANEL_W

    def py(v):
        if log_y:
            v = max(v, ymin)
            f = (math.log10(v) - math.log10(ymin)) / ((math.log10(ymax) - math.log10(ymin)) or 1)
        else:
            f = (v - ymin) / ((ymax - ymin) or 1)
        return y0 + PANEL_H - f * PANEL_H

    out.append(f'<text x="{x0 + PANEL_W / 2}" y="{y0 - 12}" text-anchor="middle" font-weight="bold">{esc(title)}</text>')
    out.append(f'<rect x="{x0}" y="{y0}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#999"/>')
    ticks = []
    if log_y:
        t = ymin
        while t <= ymax * 1.0001:
            ticks.append(t)
            t *= 10
    else:
        ticks = [ymax * i / 5 for i in range(6)]
    for t in ticks:
        y = py(t)
        out.append(f'<line x1="{x0}" x2="{x0 + PANEL_W}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{human(t)}</text>')
    for s in xs:
        x = px(s)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y0}" y2="{y0 + PANEL_H}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{y0 + PANEL_H + 16}" text-anchor="middle" font-size="11">{human(s)}</text>')
    out.append(f'<text x="{x0 + PANEL_W / 2}" y="{y0 + PANEL_H + 34}" text-anchor="middle" font-size="12">users in the database</text>')
    for i, (route, pts) in enumerate(sorted(series.items())):
        colour = COLOURS[i % len(COLOURS)]
        coords = [(px(s), py(pts[s][key])) for s in xs if s in pts]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in coords:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')


def main():
    src, dst = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else "roster: throughput and p99 by database size"
    series = defaultdict(dict)
    sizes = set()
    with open(src) as f:
        for row in csv.DictReader(f):
            n = int(row["users"])
            sizes.add(n)
            series[row["route"]][n] = {"rps": float(row["rps"]), "p99": float(row["p99"])}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H + 20 * len(series)}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15">{esc(title)}</text>',
    ]
    panel(out, LEFT, TOP, "throughput, req/s", sizes, series, "rps", log_y=True)
    panel(out, LEFT + PANEL_W + 100, TOP, "p99 latency, ms", sizes, series, "p99", log_y=True)
    ly = TOP + PANEL_H + 60
    for i, route in enumerate(sorted(series)):
        colour = COLOURS[i % len(COLOURS)]
        out.append(f'<rect x="{LEFT}" y="{ly + 20 * i - 9}" width="14" height="4" fill="{colour}"/>')
        out.append(f'<text x="{LEFT + 22}" y="{ly + 20 * i - 4}">{esc(route)}</text>')
    out.append("</svg>")
    with open(dst, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
