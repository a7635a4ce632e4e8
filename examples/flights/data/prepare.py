#!/usr/bin/env python3
"""Derive plinth's compact copy of nycflights13 from ../shared/data/nycflights13.

Run from the repository root:  python3 examples/flights/data/prepare.py /work/shared/data/nycflights13

Writes, next to this script:
  flights-2013-MM.csv.gz  one file per month: every 3rd departed flight (by row order),
                          scheduled departure time in UTC, the arrival delay and the label
  weather.csv.gz          hourly weather at EWR, JFK and LGA, time in UTC
  planes.csv.gz           plane attributes
Only the standard library is used; the output is deterministic.
"""
import csv, gzip, io, os, sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

src = sys.argv[1]
out = os.path.dirname(os.path.abspath(__file__))
ny = ZoneInfo("America/New_York")


def gz_writer(name):
    # mtime=0 keeps the files byte-identical across runs.
    raw = open(os.path.join(out, name), "wb")
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9)
    return raw, gz, io.TextIOWrapper(gz, encoding="utf-8", newline="")


def num(s):
    return None if s in ("", "NA") else float(s)


def iso(t):
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


months = {}
with gzip.open(os.path.join(src, "flights.csv.gz"), "rt", newline="") as f:
    for i, r in enumerate(csv.DictReader(f)):
        if i % 3 or r["dep_time"] in ("", "NA") or r["arr_delay"] in ("", "NA"):
            continue  # a third of the flights; cancelled and diverted ones have no label
        dep = int(r["dep_time"])
        local = datetime(int(r["year"]), int(r["month"]), int(r["day"]), tzinfo=ny)
        actual = local + timedelta(hours=dep // 100, minutes=dep % 100)
        sched = actual - timedelta(minutes=float(r["dep_delay"]))
        arr_delay = float(r["arr_delay"])
        air = num(r["air_time"]) or 0
        # When the label becomes known: the flight's arrival.
        landed = actual + timedelta(minutes=air + 20)
        row = {
            "flight_id": f'{r["year"]}{int(r["month"]):02d}{int(r["day"]):02d}-{r["carrier"]}{r["flight"]}-{r["origin"]}',
            "sched_dep": iso(sched), "landed": iso(landed),
            "origin": r["origin"], "dest": r["dest"], "carrier": r["carrier"], "tailnum": r["tailnum"] or "",
            "distance": r["distance"], "sched_hour": sched.astimezone(ny).hour, "weekday": sched.astimezone(ny).isoweekday(),
            "dep_delay": r["dep_delay"], "arr_delay": r["arr_delay"], "delayed": int(arr_delay > 15),
        }
        months.setdefault(int(r["month"]), []).append(row)

cols = ["flight_id", "sched_dep", "landed", "origin", "dest", "carrier", "tailnum", "distance", "sched_hour", "weekday",
        "dep_delay", "arr_delay", "delayed"]
for m, rows in sorted(months.items()):
    raw, gz, w = gz_writer(f"flights-2013-{m:02d}.csv.gz")
    cw = csv.DictWriter(w, cols, lineterminator="\n")
    cw.writeheader()
    cw.writerows(rows)
    w.close(); raw.close()

raw, gz, w = gz_writer("weather.csv.gz")
cw = csv.writer(w, lineterminator="\n")
cw.writerow(["origin", "ts", "temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"])
with gzip.open(os.path.join(src, "weather.csv.gz"), "rt", newline="") as f:
    for r in csv.DictReader(f):
        cw.writerow([r["origin"], r["time_hour"]] + ["" if r[c] == "NA" else r[c] for c in
                    ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"]])
w.close(); raw.close()

raw, gz, w = gz_writer("planes.csv.gz")
cw = csv.writer(w, lineterminator="\n")
cw.writerow(["tailnum", "ts", "plane_year", "engines", "seats", "engine"])
with open(os.path.join(src, "planes.csv"), newline="") as f:
    for r in csv.DictReader(f):
        # Plane attributes hold for all of 2013: one event at its start.
        cw.writerow([r["tailnum"], "2013-01-01T00:00:00Z", "" if r["year"] in ("", "NA") else r["year"], r["engines"], r["seats"], r["engine"]])
w.close(); raw.close()
