#!/usr/bin/env python3
"""Seeded data for the SQL load benchmark.

Writes OUT/base.csv (ROWS rows x 6 columns: id, name, email, city, amount,
score) and OUT/changed.csv: the same file with 1% of the rows changed
(ROWS/100 updates, ROWS/1000 inserts, ROWS/1000 deletes). The same seed
always gives the same files.

usage: gen.py OUT [ROWS] [SEED]
"""

import csv
import os
import random
import sys

CITIES = ["Aarhus", "Odense", "Malmö", "Bergen", "Tampere", "Zürich", "Lyon", "Kraków", "Porto", "Gent"]
NAMES = ["Anna", "Bo", "Carla", "Dmitri", "Elif", "Finn", "Greta", "Hiro", "Ines", "Jonas", "Kai", "Lena"]


def row(rng, i):
    first = rng.choice(NAMES)
    return [
        f"c{i:08d}",
        f"{first} {rng.choice(NAMES)}sen",
        f"{first.lower()}.{i}@example.com",
        rng.choice(CITIES),
        str(rng.randint(-100000, 1000000)),
        f"{rng.random() * 100:.4f}",
    ]


def main():
    out = sys.argv[1]
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42
    rng = random.Random(seed)
    os.makedirs(out, exist_ok=True)
    header = ["id", "name", "email", "city", "amount", "score"]
    data = [row(rng, i) for i in range(rows)]
    with open(os.path.join(out, "base.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(data)

    updates = rows // 100
    inserts = deletes = rows // 1000
    picked = rng.sample(range(rows), updates + deletes)
    deleted = set(picked[:deletes])
    for i in picked[deletes:]:
        data[i] = data[i][:4] + [str(int(data[i][4]) + 1), data[i][5]]
    changed = [r for i, r in enumerate(data) if i not in deleted]
    changed += [row(rng, rows + i) for i in range(inserts)]
    with open(os.path.join(out, "changed.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(changed)
    print(f"{out}/base.csv: {rows} rows; {out}/changed.csv: {updates} updated, {inserts} inserted, {deletes} deleted")


if __name__ == "__main__":
    main()
