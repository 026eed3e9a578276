#!/usr/bin/env python3
"""Print what an Autobahn TestSuite run found, per agent, without judging it.

usage: summarize.py REPORT   (wstest's output directory, or its index.json)

For each agent in index.json, one line that starts at column 0:

    AGENT: cases=N behavior OK=.. INFORMATIONAL=.. ... | close OK=.. ...

(scripts/test.sh shows that line from each suite's log), then one indented line per
verdict other than OK / INFORMATIONAL, listing its cases. Whether the run passes is
compare.py's decision against the committed expectations; this only reports. Python 3
standard library only.
"""
import json
import os
import sys

GOOD = ("OK", "INFORMATIONAL")
# Verdicts in the order a reader wants them; anything else wstest says comes after.
ORDER = GOOD + ("NON-STRICT", "UNIMPLEMENTED", "WRONG CODE", "UNCLEAN", "FAILED")


def natural(case_id):
    # "9.10.1" after "9.2.1": compare the numeric parts as numbers.
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in case_id.split(".")]


def rank(verdict):
    return (ORDER.index(verdict), "") if verdict in ORDER else (len(ORDER), str(verdict))


def tally(cases, field):
    """verdict -> sorted case ids, for one field of every case."""
    by_verdict = {}
    for case_id, result in cases.items():
        by_verdict.setdefault(result.get(field), []).append(case_id)
    return {v: sorted(ids, key=natural) for v, ids in by_verdict.items()}


def counts(by_verdict):
    return " ".join("%s=%d" % (v, len(by_verdict[v])) for v in sorted(by_verdict, key=rank))


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 2
    path = argv[1]
    if os.path.isdir(path):
        path = os.path.join(path, "index.json")
    try:
        with open(path) as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        print("summarize.py: cannot read %s: %s" % (path, e), file=sys.stderr)
        return 2
    for agent in sorted(index):
        cases = index[agent]
        behavior, close = tally(cases, "behavior"), tally(cases, "behaviorClose")
        print("%s: cases=%d behavior %s | close %s" % (agent, len(cases), counts(behavior), counts(close)))
        for label, by_verdict in (("behavior", behavior), ("close", close)):
            for verdict in sorted(by_verdict, key=rank):
                if verdict not in GOOD:
                    print("    %s %s: %s" % (label, verdict, " ".join(by_verdict[verdict])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
