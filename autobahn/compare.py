#!/usr/bin/env python3
"""Compare an Autobahn TestSuite report with the committed expected results.

usage: compare.py [options] REPORT EXPECTED

  REPORT    wstest output directory (holding index.json) or the index.json itself
  EXPECTED  JSON object  case-id -> {"behavior": ..., "behaviorClose": ...}
            (e.g. autobahn/expected-server.json), keys in natural case order

options:
  --update        write EXPECTED from REPORT instead of comparing
  --allow-bad     do not fail on verdicts other than OK / INFORMATIONAL
  --agent NAME    agent to read from index.json (needed only if it holds several)
  --cases JSON    the CASES list the run used (default '["*"]')
  --exclude JSON  the EXCLUDE list the run used (default '[]')

index.json is  {agent: {case-id: {"behavior", "behaviorClose", "duration",
"remoteCloseCode", "reportfile"}}}; the per-case reportfile (same directory)
has the human-readable "description", "result" and "resultClose".

Policy: every case's behavior AND behaviorClose must be OK or INFORMATIONAL
(FAILED, NON-STRICT, UNIMPLEMENTED, WRONG CODE, UNCLEAN, FAILED BY CLIENT, ...
are all failures), compression (12.*, 13.*) included.

When --cases/--exclude select a subset, only the expected cases matching them
(with wstest's own pattern rules) are compared, and --update merges the subset
into EXPECTED instead of replacing it.

Exit status: 0 = identical and all verdicts acceptable; 1 = differences or bad
verdicts; 2 = usage / unreadable input.
"""
import argparse
import json
import os
import re
import signal
import sys

GOOD = ("OK", "INFORMATIONAL")
FIELDS = ("behavior", "behaviorClose")


def case_key(cid):
    return tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in cid.split("."))


def matches(cid, pattern):
    # Mirrors autobahntestsuite/caseset.py resolveCasePatternList: a pattern
    # with '*' is a regex (re.match: anchored at the start only), '.' literal,
    # '*' -> '.*'; a pattern without '*' must equal the case id.
    if "*" in pattern:
        return re.match(pattern.replace(".", r"\.").replace("*", ".*"), cid) is not None
    return pattern == cid


def selected(cid, cases, exclude):
    return any(matches(cid, p) for p in cases) and not any(matches(cid, p) for p in exclude)


def die(msg):
    print("compare.py: " + msg, file=sys.stderr)
    sys.exit(2)


def load_report(path, agent):
    report_dir = path if os.path.isdir(path) else os.path.dirname(path)
    index_path = os.path.join(path, "index.json") if os.path.isdir(path) else path
    try:
        with open(index_path) as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        die("cannot read report %s: %s" % (index_path, e))
    if not isinstance(index, dict) or not index:
        die("%s holds no agent" % index_path)
    if agent is None:
        if len(index) != 1:
            die("%s holds several agents (%s); pick one with --agent"
                % (index_path, ", ".join(sorted(index))))
        agent = next(iter(index))
    elif agent not in index:
        die("agent %r not in %s (has: %s)" % (agent, index_path, ", ".join(sorted(index))))
    return agent, index[agent], report_dir, index_path


def case_report(report_dir, entry):
    """The per-case report JSON (description, result, resultClose, ...) or {}."""
    rf = entry.get("reportfile")
    if not rf:
        return {}
    try:
        with open(os.path.join(report_dir, rf)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def detail(report_dir, entry):
    """Indented lines: description, results and HTML page of one case."""
    d = case_report(report_dir, entry)
    parts = []
    if d.get("description"):
        parts.append("case: " + " ".join(re.sub(r"<[^>]*>", "", str(d["description"])).split()))
    if d.get("result"):
        parts.append("result: " + str(d["result"]))
    if d.get("resultClose"):
        parts.append("close: " + str(d["resultClose"]))
    rf = entry.get("reportfile") or ""
    html = os.path.join(report_dir, rf[:-5] + ".html") if rf.endswith(".json") else ""
    if html and os.path.exists(html):
        parts.append("html: " + html)
    return "".join("\n        " + p for p in parts)


def brief(report_dir, entry):
    """One-line result text of one case."""
    d = case_report(report_dir, entry)
    return " | ".join(str(d[k]) for k in ("result", "resultClose") if d.get(k))


def fmt(v):
    return "%s/%s" % (v.get("behavior"), v.get("behaviorClose")) if v else "(absent)"


def write_expected(path, data):
    # One case per line, natural case order: small, readable git diffs.
    lines = ["  %s: %s" % (json.dumps(cid), json.dumps({k: data[cid][k] for k in FIELDS}))
             for cid in sorted(data, key=case_key)]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")
    os.replace(tmp, path)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, usage=argparse.SUPPRESS,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report")
    ap.add_argument("expected")
    ap.add_argument("--update", action="store_true")
    ap.add_argument("--allow-bad", action="store_true")
    ap.add_argument("--agent")
    ap.add_argument("--cases", default='["*"]')
    ap.add_argument("--exclude", default="[]")
    a = ap.parse_args(argv)
    try:
        cases, exclude = json.loads(a.cases), json.loads(a.exclude)
        assert isinstance(cases, list) and isinstance(exclude, list)
    except (ValueError, AssertionError):
        die("--cases/--exclude must be JSON lists of strings, e.g. '[\"1.*\",\"12.1.*\"]'")
    subset = cases != ["*"] or exclude != []

    agent, raw, report_dir, index_path = load_report(a.report, a.agent)
    actual = {}
    for cid, entry in raw.items():
        actual[cid] = {k: entry.get(k) for k in FIELDS}
    print("report: %s  agent: %r  cases: %d%s" % (
        index_path, agent, len(actual), "  (subset %s minus %s)" % (a.cases, a.exclude) if subset else ""))
    if not actual:
        print("FAIL: the report holds no case at all")
        return 1

    # Verdict policy.
    bad = [cid for cid in sorted(actual, key=case_key)
           if any(actual[cid][k] not in GOOD for k in FIELDS)]
    if bad:
        print("%s: %d case(s) with a verdict other than %s:" % (
            "WARNING (--allow-bad)" if a.allow_bad else "FAIL", len(bad), "/".join(GOOD)))
        for cid in bad:
            print("  %-8s %-22s %s" % (cid, fmt(actual[cid]), brief(report_dir, raw[cid])))
    bad_fail = bool(bad) and not a.allow_bad

    # Expected results.
    expected = None
    if os.path.exists(a.expected):
        try:
            with open(a.expected) as f:
                expected = json.load(f)
            assert isinstance(expected, dict)
        except (OSError, ValueError, AssertionError) as e:
            if not a.update:
                die("cannot read expected results %s: %s" % (a.expected, e))
            expected = None

    if a.update:
        if bad_fail:
            print("NOT updating %s: fix the bad verdicts or pass --allow-bad" % a.expected)
            return 1
        if subset and expected is not None:
            merged = {cid: v for cid, v in expected.items() if not selected(cid, cases, exclude)}
            merged.update(actual)
            write_expected(a.expected, merged)
            print("updated %s: %d case(s) from this run merged, %d total" % (
                a.expected, len(actual), len(merged)))
        else:
            if subset:
                print("WARNING: %s did not exist; writing only the subset that ran" % a.expected)
            write_expected(a.expected, actual)
            print("wrote %s: %d case(s)" % (a.expected, len(actual)))
        return 0

    if expected is None:
        print("FAIL: no expected results at %s (create them with --update)" % a.expected)
        return 1
    want = {cid: v for cid, v in expected.items() if selected(cid, cases, exclude)}
    changed = [cid for cid in sorted(set(want) & set(actual), key=case_key)
               if any(want[cid].get(k) != actual[cid].get(k) for k in FIELDS)]
    missing = sorted(set(want) - set(actual), key=case_key)
    new = sorted(set(actual) - set(want), key=case_key)
    diff_fail = bool(changed or missing or new)
    if len(want) != len(actual):
        print("FAIL: case count differs: expected %d, report has %d" % (len(want), len(actual)))
    if changed:
        print("CHANGED (%d)  case: expected behavior/close -> actual behavior/close" % len(changed))
        for cid in changed:
            print("  ~ %-8s %s -> %s%s" % (cid, fmt(want[cid]), fmt(actual[cid]),
                                          detail(report_dir, raw[cid])))
    if missing:
        print("MISSING from report (%d): %s" % (len(missing), " ".join(missing)))
    if new:
        print("NOT IN %s (%d): %s" % (os.path.basename(a.expected), len(new), " ".join(new)))
    if diff_fail:
        print("FAIL: report differs from %s (if intended: rerun with --update and commit it)"
              % a.expected)
    elif bad and not bad_fail:
        print("PASS (--allow-bad): %d case(s) match %s" % (len(actual), a.expected))
    elif not bad:
        print("PASS: %d case(s) match %s, all verdicts %s" % (len(actual), a.expected, "/".join(GOOD)))
    return 1 if (diff_fail or bad_fail) else 0


if __name__ == "__main__":
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # quiet when piped into head
    sys.exit(main(sys.argv[1:]))
