"""Generate the small, deterministic, synthetic sample files of the example pipelines.

    python tests/samples/generate.py            # or: ... generate.py OUT_DIR (writes OUT_DIR/<pipeline>/samples/...)

rewrites ``pipelines/<pipeline>/samples/<landing key path>`` (the same keys a user would drop into the landing
bucket). Everything is derived from a fixed seed, so the output is byte-for-byte stable; commit it.

The numbers are chosen so that every STEDI and weblogs table is non-empty and every expectation passes:

STEDI (24 customers, ids 0..23)
  * customer ``i`` consents to research when ``i % 3 != 0``; the share-with-public/friends keys are present for
    some customers only and are *omitted* (not null) otherwise.
  * ``customers-2.json`` re-exports customer 1 without research consent (consent revoked: not trusted) and
    customer 2 with a new phone number (still trusted, de-duplicated by e-mail).
  * as in the project's real exports: e-mails are First.Last@test.com, phones are ten digits, every fifth customer
    has the placeholder birthday 1399-01-01 (a date before the Gregorian reform), a share date may be an explicit
    null, and accelerometer readings are mostly whole numbers (-1.0, 0.0, 1.0).
  * customers 0..11 have 8 accelerometer readings each (0, 3, 6 and 9 never consented, 1 revoked), in a time
    window of their own; the serial numbers of customers 0..13 have 10 step-trainer readings each, the first 8 at
    the accelerometer timestamps of the same customer.
  => customer_trusted 15, accelerometer_trusted 56, customer_curated 7, step_trainer_trusted 70,
     machine_learning_curated 56.
weblogs: 30 user profiles (one with a zip code missing from the reference data), 14 zip codes (one decommissioned, one
military without coordinates; zip codes lose their leading zeros, as in the workshop's file, so 02108 in a profile
finds no 2108), 200 requests, a few of them by guests without a profile.
retail's samples are the classicmodels sample database's own rows, bundled as exported, not generated.
"""
from __future__ import annotations

import csv
import io
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = ROOT / "pipelines"
SEED = 20261122

FIRST = ["Ana", "Ben", "Chloe", "Dev", "Eva", "Farid", "Grace", "Hiro", "Ines", "Jon", "Kemi", "Luca",
         "Mara", "Nils", "Olga", "Pedro", "Quinn", "Rosa", "Sami", "Tara", "Uma", "Viktor", "Wen", "Yara"]
LAST = ["Abbott", "Baker", "Castro", "Diaz", "Evans", "Fischer", "Garcia", "Huang", "Ivanova", "Jensen",
        "Kim", "Lopez", "Moreau", "Novak", "Okafor", "Patel", "Quist", "Rossi", "Silva", "Tanaka"]

EPOCH_2026 = 1767225600000  # 2026-01-01T00:00:00Z in epoch milliseconds


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")
    print(f"wrote {path} ({len(text.encode())} bytes)")


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)


def _csv(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------- STEDI
def stedi(rng: random.Random) -> None:
    out = PIPELINES / "stedi" / "samples" / "stedi"
    customers = []
    for i in range(24):
        first, last = FIRST[i], LAST[i % len(LAST)]
        registered = EPOCH_2026 + i * 86_400_000 + rng.randrange(3_600_000)
        c = {
            "customerName": f"{first} {last}",
            "email": f"{first}.{last}{i}@test.com",
            "phone": f"80155512{i:02d}",
            "birthDay": "1399-01-01" if i % 5 == 0 else
            f"{rng.randrange(1930, 2005)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            "serialNumber": "-".join(f"{rng.getrandbits(bits):0{bits // 4}x}" for bits in (32, 16, 16, 16, 48)),
            "registrationDate": registered,
            "lastUpdateDate": registered + 3_600_000,
        }
        if i % 3 != 0:
            c["shareWithResearchAsOfDate"] = registered + 60_000
        if i % 2 == 0:
            c["shareWithPublicAsOfDate"] = registered + 120_000
        if i % 4 == 1:
            c["shareWithFriendsAsOfDate"] = registered + 180_000
        elif i % 4 == 3:
            c["shareWithFriendsAsOfDate"] = None  # present and null, next to customers where the key is absent
        customers.append(c)

    revoked = {k: v for k, v in customers[1].items() if k != "shareWithResearchAsOfDate"}
    revoked["lastUpdateDate"] = customers[1]["lastUpdateDate"] + 30 * 86_400_000
    new_phone = dict(customers[2], phone="8015559999", lastUpdateDate=customers[2]["lastUpdateDate"] + 86_400_000)
    _write(out / "customer" / "customers-1.json", _jsonl(customers[:18]))
    _write(out / "customer" / "customers-2.json", _jsonl(customers[18:] + [revoked, new_phone]))

    accel, steps = [], []
    for i in range(14):
        window = EPOCH_2026 + 100 * 86_400_000 + i * 600_000  # a window of its own per customer
        if i < 12:
            for k in range(8):
                whole = rng.random() < 0.7  # the phone's readings are mostly whole numbers
                x, y, z = ((float(rng.choice((-1, 0, 1))), float(rng.choice((-1, 0, 1))), float(rng.choice((-1, 0))))
                           if whole else tuple(round(rng.uniform(-1, 1), 3) for _ in range(3)))
                accel.append({"user": customers[i]["email"], "timestamp": window + k * 200, "x": x, "y": y, "z": z})
        for k in range(10):
            steps.append({"sensorReadingTime": window + k * 200, "serialNumber": customers[i]["serialNumber"],
                          "distanceFromObject": rng.randrange(180, 300)})
    _write(out / "accelerometer" / "accelerometer-1.json", _jsonl(accel[:48]))
    _write(out / "accelerometer" / "accelerometer-2.json", _jsonl(accel[48:]))
    _write(out / "step_trainer" / "step_trainer-1.json", _jsonl(steps[:70]))
    _write(out / "step_trainer" / "step_trainer-2.json", _jsonl(steps[70:]))


# --------------------------------------------------------------------------------------------------- weblogs
ZIPS = [("98101", "SEATTLE", "WA", 47.61, -122.33), ("98052", "REDMOND", "WA", 47.67, -122.12),
        ("97201", "PORTLAND", "OR", 45.51, -122.69), ("94105", "SAN FRANCISCO", "CA", 37.79, -122.39),
        ("90012", "LOS ANGELES", "CA", 34.06, -118.24), ("10001", "NEW YORK", "NY", 40.75, -73.99),
        ("14201", "BUFFALO", "NY", 42.90, -78.88), ("73301", "AUSTIN", "TX", 30.27, -97.74),
        ("75201", "DALLAS", "TX", 32.79, -96.80), ("60601", "CHICAGO", "IL", 41.89, -87.62),
        ("33101", "MIAMI", "FL", 25.78, -80.19), ("02108", "BOSTON", "MA", 42.36, -71.06)]
PAGES = {"Cats": ["DryFood", "WetFood", "Treats"], "Dogs": ["DryFood", "CannedFood", "FoodToppers"],
         "Fish": ["Food", "Feeders", "PlantCare"], "Bird": ["Food", "Treats", "Etc"]}
MONTHS = ["Jan", "Feb", "Mar"]
# A profile username is the first initial, the last name and the base-36 row index, as in the workshop's
# sample-data/profile.csv (jhabden0, croper1, ..., bsheera, ..., wshilstone10).
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int) -> str:
    return _BASE36[n] if n < 36 else _base36(n // 36) + _BASE36[n % 36]


def _public_ip(rng: random.Random) -> str:
    return ".".join(str(part) for part in (rng.randrange(1, 224), rng.randrange(256), rng.randrange(256),
                                           rng.randrange(256)))


def weblogs(rng: random.Random) -> None:
    """The workshop's three extracts in their published shapes (aws-samples/amazon-serverless-datalake-workshop):

    - zipcodedata.csv: the zip code as a number, so leading zeros are gone (705, 7675), booleans as FALSE/TRUE,
      military APO rows with empty Lat, Long and Location;
    - userprofile.csv: phone 274-218-6653, card number 6835-5177-8166-5873, gender F/M;
    - useractivity.csv: the day of month unpadded (6/Jan/2018:06:51:54, the Glue lab parses d/MMM/yyyy), the
      request in double quotes as the workshop's log writer emits it, public IPv4 addresses, one per user.
    """
    out = PIPELINES / "weblogs" / "samples" / "weblogs"
    ziprows = [[str(int(z)), "STANDARD", city, st, "PRIMARY", lat, lon, f"NA-US-{st}-{city}", "FALSE"]
               for z, city, st, lat, lon in ZIPS]
    # a decommissioned zip code and a military one that no profile uses (the key is Zipcode: no duplicates)
    ziprows.append(["98000", "PO BOX", "SEATTLE", "WA", "PRIMARY", 47.61, -122.33, "NA-US-WA-SEATTLE", "TRUE"])
    ziprows.append(["9848", "MILITARY", "APO", "AE", "PRIMARY", "", "", "", "FALSE"])
    _write(out / "zipcodes" / "zipcodes.csv",
           _csv(["Zipcode", "ZipCodeType", "City", "State", "LocationType", "Lat", "Long", "Location",
                 "Decommisioned"], ziprows))

    users = []
    for i in range(30):
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
        digits = "".join(str(rng.randrange(10)) for _ in range(16))
        users.append([first, last, f"{first[0].lower()}{last.lower()}{_base36(i)}", f"{first}{last}@example.com",
                      "FM"[i % 2], f"{rng.randrange(200, 1000)}-{rng.randrange(100, 1000)}-{rng.randrange(10000):04d}",
                      ZIPS[i % len(ZIPS)][0], "-".join(digits[k:k + 4] for k in range(0, 16, 4)),
                      "".join(rng.choice("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
                              for _ in range(rng.randrange(6, 13))),
                      f"{rng.randrange(100, 900)}-{rng.randrange(10, 100)}-{rng.randrange(1000, 10000)}",
                      rng.randrange(18, 80)])
    users[29][6] = "59999"  # a zip code missing from the reference data
    _write(out / "userprofile" / "userprofile.csv",
           _csv(["first_name", "last_name", "username", "email", "gender", "phone", "zip", "cc", "password",
                 "ssn", "age"], users))

    visitors = [(u[2], _public_ip(rng)) for u in users] + [(f"guest{_base36(rng.randrange(10**6))}", _public_ip(rng))
                                                             for _ in range(2)]  # guests have no profile
    lines = ["ip_address,username,timestamp,request,http,bytes"]
    for _ in range(200):
        page = rng.choice(sorted(PAGES))
        name, ip = rng.choice(visitors)
        stamp = (f"{rng.randrange(1, 29)}/{rng.choice(MONTHS)}/2018:{rng.randrange(24):02d}:{rng.randrange(60):02d}:"
                 f"{rng.randrange(60):02d}")
        request = f"{rng.choice(['GET', 'GET', 'GET', 'POST'])} /petstore/{page}/{rng.choice(PAGES[page])}"
        status = rng.choice([200, 200, 200, 200, 304, 404, 500])
        lines.append(f'{ip},{name},{stamp},"{request}",{status},{rng.randrange(300, 1001)}')
    _write(out / "useractivity" / "useractivity.csv", "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    global PIPELINES
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        PIPELINES = Path(argv[0])
    stedi(random.Random(SEED))
    weblogs(random.Random(SEED + 1))


if __name__ == "__main__":
    main()
