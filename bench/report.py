#!/usr/bin/env python3
"""Turns the raw results of bench/run.sh into docs/benchmarks/servers.md and echo.svg.

    python3 bench/report.py bench/results/STAMP [--out docs/benchmarks]

Reads STAMP/meta.txt (the machine and parameters), STAMP/runs.tsv (one line per run)
and the `wsx bench --json` file of every run; takes the median across rounds of each
(scenario, server); computes wsx's ratio to each peer, oriented so that a ratio above 1
always means wsx did better (wsx/peer for throughput, peer/wsx for memory, latency and
CPU time); writes the markdown report and a grouped-bar SVG chart of echo throughput.
Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import statistics
import sys
from pathlib import Path
from xml.sax.saxutils import escape

# Display names and colours, in table order.
SERVERS = {
    "wsx": ("wsx", "#d9480f"),
    "tokio-tungstenite": ("tokio-tungstenite", "#1971c2"),
    "tokio-tungstenite-tuned": ("tokio-tungstenite (tuned)", "#0b7285"),
    "tokio-tungstenite-loop": ("tokio-tungstenite (send loop)", "#74c0fc"),
    "fastwebsockets": ("fastwebsockets", "#2f9e44"),
    "node-ws": ("Node ws", "#7048e8"),
}

# Scenario id -> (title, the `wsx bench` result it is judged by, higher is better?).
SCENARIOS = {
    "echo-100x16x20": ("Echo 100 conns × 16 in flight × 20 B", "messages/s", True),
    "echo-100x16x1k": ("Echo 100 conns × 16 in flight × 1 KiB", "messages/s", True),
    "echo-1000x8x20": ("Echo 1,000 conns × 8 in flight × 20 B", "messages/s", True),
    "connections": ("Idle server RSS per connection", "server RSS per idle connection", False),
    "handshakes": ("Handshakes/s", "handshakes/s", True),
    "fanout": ("Fan-out: time to last subscriber (mean)", "time to last delivery (mean)", False),
}
ECHO = ["echo-100x16x20", "echo-100x16x1k", "echo-1000x8x20"]

# The issue's figures (a different machine: compare ratios, not absolutes).
# Rows: (label, uWebSockets, fastwebsockets, tokio-tungstenite, our scenario, our metric).
ISSUE_TARGETS = [
    ("Echo 100 × 16 × 20 B (msgs/s)", "2.09M", "167k", "1.36M", "echo-100x16x20", "messages/s"),
    ("Echo 100 × 16 × 1 KiB (msgs/s)", "1.56M", "159k", "599k", "echo-100x16x1k", "messages/s"),
    ("Echo 1000 × 8 × 20 B (msgs/s)", "774k", "167k", "406k", "echo-1000x8x20", "messages/s"),
    ("Idle RSS per connection (10k)", "273 B", "6.7 KB", "135 KB", "connections", "server RSS per idle connection"),
    ("Handshakes/s", "16.5k", "16.7k", "7.5k", "handshakes", "handshakes/s"),
    ("Fan-out 10k, time to last", "148 ms", "225 ms", "283 ms", "fanout", "time to last delivery (mean)"),
]


def read_meta(path: Path) -> dict[str, str]:
    meta = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            meta[key.strip()] = value.strip()
    return meta


def load_runs(results: Path, meta: dict[str, str]) -> list[dict]:
    runs = []
    with open(results / "runs.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            row["results"] = {}
            if row["status"] == "ok" and row["json"]:
                try:
                    data = json.loads((results / row["json"]).read_text())
                    row["results"] = {r["name"]: r["value"] for r in data["results"]}
                    row["units"] = {r["name"]: r["unit"] for r in data["results"]}
                except (OSError, ValueError, KeyError) as e:
                    row["status"] = f"unreadable ({e})"
            try:
                real, user, sys_ = (float(row[k]) for k in ("client_real_s", "client_user_s", "client_sys_s"))
                row["results"]["load generator CPU utilisation"] = (user + sys_) / real * 100 if real > 0 else 0.0
                rate = row["results"].get("messages/s")
                if rate:
                    # Messages over warm-up + measurement; connecting is counted in the CPU
                    # time but not here, so this over-estimates a little.
                    sent = rate * (float(meta.get("seconds_per_run", 0)) + float(meta.get("warmup", 0)))
                    row["results"]["load generator CPU per message (approx.)"] = (user + sys_) / sent * 1e6
            except (TypeError, ValueError, ZeroDivisionError):
                pass
            runs.append(row)
    return runs


def crate_versions(lock: Path) -> dict[str, str]:
    versions: dict[str, str] = {}
    if not lock.exists():
        return versions
    for m in re.finditer(r'name = "([^"]+)"\nversion = "([^"]+)"', lock.read_text()):
        versions.setdefault(m.group(1), m.group(2))
    return versions


class Stats:
    """Median and range across rounds of every result of one (scenario, server)."""

    def __init__(self, runs: list[dict]):
        self.runs = runs
        self.ok = [r for r in runs if r["status"] == "ok"]

    def values(self, metric: str) -> list[float]:
        return [r["results"][metric] for r in self.ok if metric in r["results"]]

    def median(self, metric: str) -> float | None:
        v = self.values(metric)
        return statistics.median(v) if v else None

    def spread(self, metric: str) -> tuple[float, float] | None:
        v = self.values(metric)
        return (min(v), max(v)) if v else None


def si(v: float | None, unit: str = "") -> str:
    """1234567 -> 1.23M; 4567 -> 4.57k."""
    if v is None:
        return "—"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}{unit}"
    return f"{v:.3g}{unit}"


def fmt(metric: str, v: float | None) -> str:
    if v is None:
        return "—"
    if metric == "server RSS per idle connection":
        return f"{v:,.0f} B" if abs(v) < 1024 else f"{v / 1024:.1f} KiB"
    if metric.startswith("latency") or "per message" in metric or metric.endswith("per handshake"):
        return f"{v:,.0f} µs" if v >= 100 else f"{v:.2f} µs"
    if metric.startswith("time to last"):
        return f"{v:.1f} ms"
    if metric.endswith("utilisation"):
        return f"{v:.0f} %"
    if metric == "payload throughput":
        return f"{v:.1f} MB/s"
    if metric in ("failed", "alive after hold (pong received)", "connections opened"):
        return f"{v:,.0f}"
    return si(v)


def ratio(wsx: float | None, peer: float | None, higher_better: bool) -> str:
    """wsx's advantage: wsx/peer if higher is better, else peer/wsx; >1: wsx is better."""
    if wsx is None or peer is None or wsx <= 0 or peer <= 0:
        return "—"
    r = wsx / peer if higher_better else peer / wsx
    return f"**{r:.2f}×**" if r >= 1 else f"{r:.2f}×"


def is_smoke(meta: dict[str, str]) -> list[str]:
    """Why these results are not a full run (empty: they are)."""
    why = []
    if meta.get("smoke") == "1":
        why.append("SMOKE=1")
    for key, full in (("rounds", 3), ("seconds_per_run", 5), ("idle_conns", 10000), ("fanout_subs", 10000)):
        try:
            if float(meta.get(key, full)) < full:
                why.append(f"{key}={meta[key]} (full: {full})")
        except ValueError:
            pass
    return why


def write_svg(path: Path, stats: dict, servers: list[str], meta: dict, smoke: bool) -> None:
    scenarios = [s for s in ECHO if any(stats.get((s, srv)) for srv in servers)]
    width, height = 860, 460 if len(servers) <= 5 else 478
    left, right, top, bottom = 78, 20, 70, 92
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = max(
        [hi for s in scenarios for srv in servers
         if (sp := stats[(s, srv)].spread("messages/s")) for hi in (sp[1],)] or [1.0]
    )
    # A "nice" axis maximum and ticks: the magnitude of the padded top, so that one of the
    # multiples below always reaches it (981k * 1.08 is past 10 * 100k).
    target = max(top_value * 1.08, 1.0)
    mag = 10 ** math.floor(math.log10(target))
    axis_max = next(m * mag for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * mag >= target)
    step = axis_max / 5

    def y(v: float) -> float:
        return top + plot_h - v / axis_max * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="13">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{width / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold">'
        "Echo throughput, server on one core (messages/s, higher is better)</text>",
    ]
    sub = (f"median of {meta.get('rounds', '?')} rounds of {meta.get('seconds_per_run', '?')} s; "
           f"lines: min–max; compression off; {meta.get('cpu_model', '')}, {meta.get('date', '')[:10]}")
    out.append(f'<text x="{width / 2}" y="46" text-anchor="middle" fill="#555">{escape(sub)}</text>')
    if smoke:
        out.append(f'<text x="{width / 2}" y="64" text-anchor="middle" fill="#c92a2a" font-weight="bold">'
                   "SMOKE RUN on a loaded machine: the pipeline works; these numbers mean nothing</text>")
    # Grid and y axis.
    v = 0.0
    while v <= axis_max + step / 2:
        yy = y(v)
        out.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{width - right}" y2="{yy:.1f}" stroke="#e9ecef"/>')
        out.append(f'<text x="{left - 8}" y="{yy + 4:.1f}" text-anchor="end" fill="#495057">{si(v)}</text>')
        v += step
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#868e96"/>')
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#868e96"/>')
    out.append(f'<text transform="translate(18 {top + plot_h / 2}) rotate(-90)" text-anchor="middle" '
               f'fill="#495057">messages/s</text>')
    # Bars.
    group_w = plot_w / max(len(scenarios), 1)
    bar_w = min(44.0, group_w * 0.8 / max(len(servers), 1))
    for gi, sc in enumerate(scenarios):
        gx = left + gi * group_w + (group_w - bar_w * len(servers)) / 2
        for si_, srv in enumerate(servers):
            st = stats[(sc, srv)]
            med = st.median("messages/s")
            x = gx + si_ * bar_w
            colour = SERVERS.get(srv, (srv, "#868e96"))[1]
            if med is None:
                out.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h - 6}" text-anchor="middle" '
                           f'font-size="11" fill="#868e96">n/a</text>')
                continue
            out.append(f'<rect x="{x + 2:.1f}" y="{y(med):.1f}" width="{bar_w - 4:.1f}" '
                       f'height="{top + plot_h - y(med):.1f}" fill="{colour}">'
                       f'<title>{escape(SERVERS.get(srv, (srv,))[0])}: {med:,.0f} msgs/s</title></rect>')
            lo, hi = st.spread("messages/s")
            if hi > lo:
                cx = x + bar_w / 2
                out.append(f'<line x1="{cx:.1f}" y1="{y(lo):.1f}" x2="{cx:.1f}" y2="{y(hi):.1f}" '
                           f'stroke="#212529" stroke-width="1.2"/>')
            out.append(f'<text x="{x + bar_w / 2:.1f}" y="{min(y(med), y(hi)) - 5:.1f}" text-anchor="middle" '
                       f'font-size="11">{si(med)}</text>')
        title = SCENARIOS[sc][0].replace("Echo ", "").replace(" conns", "").replace(" in flight", "")
        out.append(f'<text x="{left + gi * group_w + group_w / 2:.1f}" y="{top + plot_h + 20}" '
                   f'text-anchor="middle">{escape(title)}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h + 38}" text-anchor="middle" fill="#555" '
               'font-size="12">connections × messages in flight per connection × payload</text>')
    # Legend (on a second line if it does not fit on one).
    lx = left
    ly = height - 22
    for srv in servers:
        name, colour = SERVERS.get(srv, (srv, "#868e96"))
        if lx > left and lx + 20 + 7.2 * len(name) > width - right:
            lx, ly = left, ly + 18
        out.append(f'<rect x="{lx}" y="{ly - 11}" width="14" height="14" fill="{colour}"/>')
        out.append(f'<text x="{lx + 20}" y="{ly + 1}">{escape(name)}</text>')
        lx += 36 + 7.2 * len(name)
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, help="a directory written by bench/run.sh")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "benchmarks")
    args = ap.parse_args()

    meta = read_meta(args.results / "meta.txt")
    runs = load_runs(args.results, meta)
    versions = crate_versions(args.results / "peers-Cargo.lock")
    present = {r["server"] for r in runs}
    servers = [s for s in SERVERS if s in present] + sorted(present - set(SERVERS))
    peers = [s for s in servers if s != "wsx"]
    scenarios = [s for s in SCENARIOS if any(r["scenario"] == s for r in runs)]
    stats = {(sc, srv): Stats([r for r in runs if r["scenario"] == sc and r["server"] == srv])
             for sc in SCENARIOS for srv in servers}
    smoke_why = is_smoke(meta)
    smoke = bool(smoke_why)
    name = {s: SERVERS.get(s, (s,))[0] for s in servers}
    md: list[str] = []
    w = md.append

    w("# wsx against other WebSocket servers")
    w("")
    if smoke:
        w("> **SMOKE RUN — NOT A RESULT.** This report was generated from a run with reduced parameters ("
          + "; ".join(smoke_why) + ") on a machine busy with other jobs, to check that `bench/run.sh` and "
          "`bench/report.py` work end to end. Do not quote these numbers: rerun the full suite on a quiet "
          "machine (command below).")
        w("")
    w("Generated by `bench/report.py` from `bench/run.sh` output. Every server runs pinned to one core, "
      "with one I/O thread (a current-thread tokio runtime; Node's single JavaScript thread); the load "
      "generator `wsx bench` (single-threaded) runs pinned to another core. Servers alternate within each "
      "round (the order rotates between rounds), each is started fresh for each run and killed after, "
      "and every figure is the **median across rounds**. **Compression is off for every server** "
      "(`wsx echo --no-compress`; the peers never negotiate permessage-deflate), so all do the same work, "
      "and every server sets `TCP_NODELAY`.")
    w("")
    w("## Machine")
    w("")
    w(f"- CPU: {meta.get('cpu_model', '?')}, {meta.get('cores', '?')} cores "
      f"(server on core {meta.get('server_cpu', '?')}, load generator on core {meta.get('client_cpu', '?')})")
    w(f"- Kernel: {meta.get('kernel', '?')}")
    w(f"- Date: {meta.get('date', '?')}; suite took {meta.get('suite_seconds', '?')} s")
    w(f"- Load average (1, 5, 15 min) at start: {meta.get('loadavg_start', '?')}; at end: "
      f"{meta.get('loadavg_end', '?')}" + (" — **not a quiet machine**" if _busy(meta) else ""))
    w(f"- {meta.get('rustc', '?')}; wsx at `{meta.get('wsx_git', '?')}`; Node {meta.get('node', '?')}")
    if meta.get("skip_build") == "1":
        w("- Binaries were not rebuilt for this run (`SKIP_BUILD=1`): the git revision above need not be "
          "what they were built from")
    if "peers_profile" in meta:
        w(f"- Peers' release profile (`bench/Cargo.toml`): `{meta['peers_profile']}`"
          + ("" if "lto" in meta["peers_profile"].lower() else " (no LTO)"))
    if "wsx_profile" in meta:
        w(f"- wsx's release profile (`Cargo.toml`): `{meta['wsx_profile']}`"
          + ("" if "lto" in meta["wsx_profile"].lower() else " (no LTO)"))
    if "wsx_bench" in meta:
        w(f"- Load generator: `{meta['wsx_bench']}`")
    peer_versions = ", ".join(f"{c} {versions[c]}" for c in
                              ("tokio-tungstenite", "tungstenite", "fastwebsockets", "hyper", "tokio") if c in versions)
    w(f"- Peers: {peer_versions}; Node ws {meta.get('node_ws', '?')}")
    w(f"- Parameters: {meta.get('rounds', '?')} rounds, {meta.get('seconds_per_run', '?')} s per echo and "
      f"handshake run (after {meta.get('warmup', '?')} s of warm-up), {int(float(meta.get('idle_conns', 0))):,} "
      f"idle connections, {int(float(meta.get('fanout_subs', 0))):,} fan-out subscribers × "
      f"{meta.get('fanout_messages', '?')} messages, {meta.get('handshake_conc', '?')} concurrent handshakes")
    w("")
    w("## Results")
    w("")
    w("Ratios are **wsx's advantage**, oriented so that **above 1 means wsx did better**: "
      "wsx ÷ peer for throughput (msgs/s, handshakes/s); peer ÷ wsx for memory, latency and CPU time, "
      "where lower is better. Bold: wsx ahead.")
    w("")
    head = ["Scenario"] + [name[s] for s in servers] + [f"wsx vs {name[p]}" for p in peers]
    w("| " + " | ".join(head) + " |")
    w("|" + "|".join([":--"] + ["--:"] * (len(head) - 1)) + "|")
    rows = [(sc, SCENARIOS[sc][1], SCENARIOS[sc][2], SCENARIOS[sc][0]) for sc in scenarios]
    if "handshakes" in scenarios:
        i = [r[0] for r in rows].index("handshakes") + 1
        rows.insert(i, ("handshakes", "server CPU per handshake", False, "Server CPU per handshake"))
    for sc, metric, higher, title in rows:
        unit = "msgs/s" if metric == "messages/s" else ""
        cells = [f"{title}" + (f" ({unit})" if unit else "")]
        cells += [fmt(metric, stats[(sc, s)].median(metric)) for s in servers]
        wm = stats[(sc, "wsx")].median(metric) if "wsx" in servers else None
        cells += [ratio(wm, stats[(sc, p)].median(metric), higher) for p in peers]
        w("| " + " | ".join(cells) + " |")
    w("")
    if any(sc in scenarios for sc in ECHO):
        w("![Echo throughput: messages/s per scenario and server](echo.svg)")
        w("")

    # Warnings the reader needs before trusting a number.
    notes = []
    for (sc, srv), st in stats.items():
        if sc not in scenarios:
            continue
        bad = [r for r in st.runs if r["status"] != "ok"]
        if bad:
            notes.append(f"{SCENARIOS[sc][0]}, {name[srv]}: {len(bad)} of {len(st.runs)} runs failed "
                         f"({', '.join(sorted({r['status'] for r in bad}))}); see `*.bench.log`/`*.server.log`.")
        if sc in ECHO:
            util = st.median("server CPU utilisation")
            gen = st.median("load generator CPU utilisation")
            if util is not None and util < 90:
                gen_txt = f" (load generator: {gen:.0f} % of its core over the whole run)" if gen is not None else ""
                notes.append(f"{SCENARIOS[sc][0]}, {name[srv]}: the server used only {util:.0f} % of its core"
                             f"{gen_txt}: the server was not saturated, so its msgs/s is a lower bound set by "
                             "the load generator or the machine.")
        if sc == "connections":
            alive = st.median("alive after hold (pong received)")
            if alive is not None and alive < float(meta.get("idle_conns", 0)):
                notes.append(f"Idle connections, {name[srv]}: only {alive:,.0f} of {int(float(meta['idle_conns'])):,} "
                             "connections answered a ping after the hold.")
        if sc == "handshakes":
            failed = st.median("failed")
            if failed:
                notes.append(f"Handshakes, {name[srv]}: {failed:,.0f} handshakes failed per run (median).")
    if notes:
        w("**Caveats found in this run:**")
        w("")
        for n in notes:
            w(f"- {n}")
        w("")

    for line in drivers(servers):
        w(line)

    # Details per scenario.
    w("## Details")
    w("")
    w("Median across rounds, with the range (min–max) where rounds differ. \"Server CPU\" is the server "
      "process's user + system time from `/proc` over the measured interval; \"load generator CPU\" is "
      "`wsx bench`'s own user + system time over its whole run (connecting and warm-up included), as a "
      "share of one core. A server below ~90 % of its core was not saturated. Over loopback, much of each "
      "side's CPU time is the kernel's TCP work, and the sender's core also runs the receiver's half of the "
      "TCP path, so CPU per message is split between the two processes only roughly. \"Load generator CPU "
      "per message\" is its CPU time over the messages of warm-up plus measurement: when it is close to the "
      "server's, a faster server would find the load generator saturated first.")
    w("")
    detail = {
        "echo": ["messages/s", "payload throughput", "latency p50", "latency p90", "latency p99", "latency p99.9",
                 "server CPU per message", "server CPU utilisation", "load generator CPU per message (approx.)",
                 "load generator CPU utilisation"],
        "connections": ["server RSS per idle connection", "server RSS before", "server RSS with connections",
                        "alive after hold (pong received)", "connect + handshake rate"],
        "handshakes": ["handshakes/s", "server CPU per handshake", "failed", "load generator CPU utilisation"],
        "fanout": ["time to last delivery (mean)", "time to last delivery (worst)", "deliveries/s over the run",
                   "latency p50", "latency p99", "latency p99.9"],
    }
    for sc in scenarios:
        metrics = detail["echo" if sc in ECHO else sc]
        w(f"### {SCENARIOS[sc][0]}")
        w("")
        w("| Metric | " + " | ".join(name[s] for s in servers) + " |")
        w("|:--|" + "--:|" * len(servers))
        for m in metrics:
            cells = []
            for s in servers:
                st = stats[(sc, s)]
                med, sp = st.median(m), st.spread(m)
                cell = _fmt_any(m, med)
                if sp and sp[1] > sp[0] and m not in ("server RSS before", "server RSS with connections"):
                    cell += f" ({_fmt_any(m, sp[0])}–{_fmt_any(m, sp[1])})"
                cells.append(cell)
            if any(c != "—" for c in cells):
                w(f"| {m} | " + " | ".join(cells) + " |")
        w("")

    w("## The issue's figures, for comparison")
    w("")
    w("The figures quoted in the issue were measured on another machine, so compare **ratios between "
      "servers**, not absolute numbers. uWebSockets is not in this suite: it is C++ built from its "
      "repository (not on a package registry this workplace reaches), so it cannot be built here.")
    w("")
    cols = ["Metric", "uWebSockets (issue)", "fastwebsockets (issue)", "tokio-tungstenite (issue)"]
    ours = [s for s in ("wsx", "fastwebsockets", "tokio-tungstenite", "tokio-tungstenite-tuned") if s in servers]
    cols += [f"{name[s]} (this run)" for s in ours]
    w("| " + " | ".join(cols) + " |")
    w("|:--|" + "--:|" * (len(cols) - 1))
    for label, uws, fws, tt, sc, metric in ISSUE_TARGETS:
        cells = [label, uws, fws, tt] + [fmt(metric, stats[(sc, s)].median(metric)) if sc in scenarios else "—"
                                         for s in ours]
        w("| " + " | ".join(cells) + " |")
    w("")

    w("## How this was run")
    w("")
    w("```sh")
    w(meta.get("command", "bench/run.sh"))
    w("```")
    w("")
    w("`bench/run.sh` builds `wsx` (`cargo build --release -p wsx-cli -p wsx --bin wsx --example broadcast` "
      "in the main workspace) and the peers (`cargo build --release --locked` in `bench/`, a separate, "
      "unpublished workspace), then runs each scenario below for each server in turn. The servers:")
    w("")
    w("- **wsx**: `wsx echo --no-compress` (current-thread runtime by default); fan-out: the `broadcast` "
      "example of the `wsx` crate.")
    w("- **tokio-tungstenite**: `bench/peers/tokio-tungstenite`, `accept_async`, then the split + `forward` "
      "echo of tokio-tungstenite's own echo-server example (`read.try_filter(text or binary).forward(write)`). "
      "`forward` queues messages and flushes only when the read side has nothing more ready, so a pipelined "
      "burst leaves in one write; a `next()`/`send()` loop flushes once per message and was slower in our "
      "trial (`--mode loop`; server `tokio-tungstenite-loop` in `SERVERS` runs it). Fan-out: split, "
      "`tokio::sync::broadcast`, `send` per message.")
    w("- **tokio-tungstenite (tuned)**: `bench/peers/tokio-tungstenite`, `tungstenite-echo-tuned`: "
      f"`accept_async_with_config` with `read_buffer_size` {_kib(meta.get('tuned_read_buffer', '4096'))} "
      "(tungstenite's default is 128 KiB; its docs suggest e.g. 4 KiB for many connections), "
      "`write_buffer_size` at its 128 KiB default (which the docs recommend), `max_write_buffer_size` "
      "bounded; one task without `split` that `feed`s every message already readable and flushes once "
      "when the next read would wait. Fan-out: `tungstenite-broadcast` with the same read buffer.")
    w("- **fastwebsockets**: `bench/peers/fastwebsockets`, its `examples/echo_server.rs` as published: "
      "hyper 1 HTTP/1 server with upgrades, `upgrade::upgrade`, `FragmentCollector`, `write_frame` per "
      "message (no batching: one write per frame is the library's design), the connection task "
      "`unconstrained`, auto-close and auto-pong on. Fan-out: `unstable-split` halves (its `read_frame` is "
      "not cancel-safe), the writer behind a mutex.")
    w("- **Node ws**: `bench/peers/node-ws/echo.js` and `broadcast.js`, `perMessageDeflate: false`.")
    w("")
    w("| Scenario | Server command (round 1) | Load generator command (round 1) |")
    w("|:--|:--|:--|")
    for sc in scenarios:
        for s in servers:
            first = next((r for r in stats[(sc, s)].runs), None)
            if first:
                w(f"| {sc} | `{_short(first['server_cmd'])}` | `{_short(first['bench_cmd'])}` |")
    w("")
    w("The idle-connection scenario needs `ulimit -n` above the connection count in both processes; "
      "`run.sh` raises it to 20,000 (or more if `IDLE_CONNS`/`FANOUT_SUBS` need it). Raw results: "
      f"`{_rel(args.results)}` (`runs.tsv`, one JSON per run, server and load-generator logs).")
    w("")

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "servers.md").write_text("\n".join(md))
    if any(sc in scenarios for sc in ECHO):
        write_svg(args.out / "echo.svg", stats, servers, meta, smoke)
    print(f"wrote {args.out / 'servers.md'}" + (f" and {args.out / 'echo.svg'}" if any(sc in scenarios for sc in ECHO) else ""))
    # A one-screen summary on stdout.
    for sc, metric, higher, title in rows:
        vals = ", ".join(f"{name[s]}={fmt(metric, stats[(sc, s)].median(metric))}" for s in servers)
        print(f"  {title}: {vals}")
    if smoke:
        print("  (smoke run: " + "; ".join(smoke_why) + ")")
    return 0


# What drives each peer's ratios: the mechanism, and how it was checked (the measurements
# are in docs/BENCHMARKS.md). Library behaviour, true of any run of the pinned versions.
DRIVERS = {
    "tokio-tungstenite": (
        "**tokio-tungstenite** (defaults: `accept_async`, split + `forward`): its 128 KiB default "
        "`read_buffer_size`. tungstenite allocates it per connection and, before every read, zero-fills "
        "it up to its capacity (`FrameCodec::read_in` in tungstenite 0.30 `src/protocol/frame/mod.rs` "
        "resizes the `BytesMut` with zeros, then reads into it). `forward` polls the read side twice per "
        "burst (the second poll finds nothing), so every burst of echoes costs ~2 × 128 KiB of memset: "
        "the largest item in its profile, and out of cache with 1,000 connections (125 MiB of buffers). "
        "The same buffer is its idle RSS per connection (the first zero-fill makes it resident), most "
        "of its handshake cost (page faults on a fresh buffer for each connection) and its fan-out "
        "(the broadcast loop polls the read half after each delivery: 128 KiB zeroed per subscriber per "
        "message). Writes are batched: one `sendto` per burst."
    ),
    "tokio-tungstenite-tuned": (
        "**tokio-tungstenite (tuned)**: the same library with a `WebSocketConfig` (a 4 KiB read buffer, "
        "tungstenite's suggestion for many connections, in every scenario), `feed` + one flush per burst, "
        "no `split`. The gap between the two tokio-tungstenite columns is mostly the read buffer: 4 KiB "
        "zeroed per read instead of 128 KiB, and 4 KiB resident per idle connection."
    ),
    "tokio-tungstenite-loop": (
        "**tokio-tungstenite (send loop)**: as the default one, plus a flush after every message "
        "(`send`): one `sendto` per message instead of one per burst."
    ),
    "fastwebsockets": (
        "**fastwebsockets**: one write per frame. `WebSocket::write_frame` ends in its own `write_all` (or "
        "`writev` for payloads over 1 KiB) on the socket, with no write buffer to batch into "
        "(fastwebsockets 0.10 `src/lib.rs`, `WriteHalf::write_frame`): one `sendto` per echoed message, "
        "while reads are batched through an 8 KiB buffer. Over loopback each `sendto` also runs the "
        "receiving side's TCP path, so its echo ratios are syscalls per message. Its handshakes and fan-out "
        "(where every server writes once per message per subscriber) are close to wsx's; its idle "
        "connection (an 8 KiB `BytesMut` read buffer, not zero-filled, plus hyper's upgraded connection) "
        "was not analysed further."
    ),
    "node-ws": (
        "**Node ws**: one `writev` per message (header and payload) and JavaScript per message; reads "
        "are batched. Its idle memory and handshakes were not analysed further."
    ),
}


def drivers(servers: list[str]) -> list[str]:
    """The "what drives the ratios" section, for the peers in this run."""
    items = [DRIVERS[s] for s in servers if s in DRIVERS]
    if not items:
        return []
    out = ["## What drives the ratios", "",
           "wsx reads into uninitialised memory (nothing is zeroed per read) and writes what a read produced "
           "in one `sendto` (one `recvfrom` and one `sendto` per 16-message burst at 20 B, two of each at 1 KiB). "
           "For each peer, the mechanism behind its figures, checked against the peer's source at the "
           "versions above and with `perf stat -e 'syscalls:sys_enter_*'` / `perf record` on the server "
           "under load (measurements and sources: `docs/BENCHMARKS.md`):", ""]
    out += [f"- {item}" for item in items]
    out.append("")
    return out


def _busy(meta: dict[str, str]) -> bool:
    try:
        cores = float(meta.get("cores", "1"))
        loads = [float(x) for key in ("loadavg_start", "loadavg_end") for x in meta.get(key, "0").split()[:1]]
        return max(loads) > 0.25 * cores
    except ValueError:
        return False


def _kib(n: str) -> str:
    try:
        v = int(n)
    except ValueError:
        return n
    return f"{v // 1024} KiB" if v % 1024 == 0 else f"{v} B"


def _fmt_any(metric: str, v: float | None) -> str:
    if metric in ("server RSS before", "server RSS with connections"):
        return "—" if v is None else f"{v / 1024:,.1f} MiB"
    if metric in ("connect + handshake rate", "deliveries/s over the run"):
        return si(v, "/s")
    return fmt(metric, v)


def _short(cmd: str) -> str:
    """Paths relative to the repository, so the report does not name one machine's layout."""
    root = str(Path(__file__).resolve().parent.parent)
    return cmd.replace(root + "/", "").replace("|", "\\|")


def _rel(p: Path) -> str:
    try:
        return os.path.relpath(p.resolve(), Path(__file__).resolve().parent.parent)
    except ValueError:
        return str(p)


if __name__ == "__main__":
    sys.exit(main())
