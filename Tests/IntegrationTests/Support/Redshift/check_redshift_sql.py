#!/usr/bin/env python3
"""Checks the statements the Redshift emulation accepted against sqlfluff's Redshift grammar.

    check_redshift_sql.py STATEMENTS_LOG [STATEMENTS_LOG ...]

Reads the emulator's statements log (JSON lines: session, statement, outcome), parses every
statement whose outcome is "accepted" with sqlfluff's redshift dialect (parsing only: no lint
rules), and exits 1 listing each statement that does not parse (its text, credentials already
masked by the emulator), 0 when all parse. Identical statements are parsed once.

The emulation's own intercepts (pg_last_copy_count(), redshift_emulation_fail_next_commit(n)) are
plain function calls and parse like any SELECT.
"""

import json
import sys


def load(paths):
    statements = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    sys.stderr.write(f"{path}:{n}: not JSON, skipped\n")
                    continue
                if entry.get("outcome") == "accepted":
                    statements.append(entry["statement"])
    return statements


def problems_of(linter, sql):
    """Why sqlfluff's redshift grammar does not take the statement ([] when it does)."""
    parsed = linter.parse_string(sql.strip().rstrip(";") + "\n")
    problems = [v.desc() for v in parsed.violations]
    tree = parsed.tree
    if tree is not None:
        for seg in tree.recursive_crawl("unparsable"):
            problems.append(f"unparsable: {seg.raw[:120]!r}")
    return problems


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    statements = load(argv[1:])
    from sqlfluff.core import FluffConfig, Linter
    linter = Linter(config=FluffConfig(overrides={"dialect": "redshift"}))
    cache = {}
    failures = []
    for sql in statements:
        if sql not in cache:
            cache[sql] = problems_of(linter, sql)
        if cache[sql]:
            failures.append((sql, cache[sql]))
    seen = set()
    unique = [(s, p) for s, p in failures if not (s in seen or seen.add(s))]
    for sql, problems in unique:
        print("-- does not parse as Redshift SQL:")
        print(sql)
        for p in problems[:3]:
            print(f"   ({p})")
    print(f"{len(statements)} accepted statements, {len(cache)} distinct, "
          f"{len(unique)} not parsed by sqlfluff's redshift dialect")
    return 1 if unique else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
