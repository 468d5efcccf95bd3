#!/usr/bin/env python3
"""Opens every CSV file of a report with Python's csv module (as Excel-minded users will) and
checks its totals: the last row against the report's own totals (expected.json, written by
tests/report.rs from the model), and each additive column's cells against its total where no
cell of that column is suppressed.

usage: check_csv.py DIR STEM  (reads DIR/STEM-TABLE.csv and DIR/expected.json)
"""
import csv
import json
import sys
from pathlib import Path

d, stem = Path(sys.argv[1]), sys.argv[2]
expected = json.loads((d / "expected.json").read_text(encoding="utf-8"))
checked = 0
for table in expected["tables"]:
    path = d / f"{stem}-{table['id']}.csv"
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    header, body, total = rows[0], rows[1:-1], rows[-1]
    assert len(header) == len(table["additive"]) + 1, (path, header)
    assert total[1:] == table["total"], (path, total, table["total"])
    assert len(body) == table["rows"], (path, len(body))
    for i, additive in enumerate(table["additive"]):
        cells = [r[i + 1] for r in body]
        if not additive or any(c.startswith("<") for c in cells) or total[i + 1].startswith("<"):
            continue
        assert sum(int(c) for c in cells) == int(total[i + 1]), (path, header[i + 1], cells, total[i + 1])
        checked += 1
assert checked > 0, "no column was summed"
print(f"{len(expected['tables'])} CSV files read, {checked} column totals match")
