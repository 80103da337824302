"""Per kernel of an Nsight Compute source page (``ncu -i REPORT --page source --csv --print-source sass``, gzipped):
instructions executed, warp-state samples, and the share of samples in each stall reason (the largest first).
``python3 stall_summary.py SOURCE.csv.gz [LABEL ...]``: one label a kernel, in launch order."""

import collections
import csv
import gzip
import io
import sys


def kernels(path: str) -> list[list[str]]:
    """The rows of each kernel's table (one after each "Kernel Name" line; a table printed twice taken once)."""
    tables, current = [], None
    with gzip.open(path, "rt") as page:
        lines = page.read().splitlines()
    for line in lines:
        if line.startswith('"Kernel Name"'):
            current = []
            tables.append(current)
        elif current is not None:
            current.append(line)
    unique = [table for k, table in enumerate(tables) if k == 0 or table != tables[k - 1]]  # ncu repeats a table
    return [list(csv.reader(io.StringIO("\n".join(table)))) for table in unique]


def main() -> None:
    path, labels = sys.argv[1], sys.argv[2:]
    for k, (head, *rows) in enumerate(kernels(path)):
        column = {name: i for i, name in enumerate(head)}
        rows = [row for row in rows if len(row) == len(head)]
        reasons = [name for name in head if name.startswith("stall_") and "Not Issued" not in name]
        stalls = collections.Counter({name[6:]: sum(int(row[column[name]] or 0) for row in rows) for name in reasons})
        executed = sum(int(row[column["Instructions Executed"]] or 0) for row in rows)
        samples = sum(int(row[column["Warp Stall Sampling (All Samples)"]] or 0) for row in rows)
        label = labels[k] if k < len(labels) else f"kernel {k}"
        shares = ", ".join(f"{name} {count / samples:.2f}" for name, count in stalls.most_common(6))
        print(f"{label}: {executed / 1e6:.2f}M instructions, {samples} samples: {shares}")


if __name__ == "__main__":
    main()
