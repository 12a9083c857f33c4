"""Generate the WordNet class-similarity tables shipped in ``rtl_jax/resources/``.

The paper (Section 5.5, Fig. 3) compares ticket-mask Jaccard matrices with a semantic similarity
between class names: WordNet *path similarity*, ``1 / (1 + d)`` where ``d`` is the length of the
shortest path between two synsets in the noun hypernym/hyponym graph (NLTK's ``path_similarity``).
The paper does not say which synset stands for each class name; we choose them by hand below and
record them (with their definitions) in the table.

This script is run by hand, offline, and its output is committed. The library never imports nltk:
it reads the JSON (see :func:`rtl_jax.alignment.load_wordnet_table`).

Requirements (not project dependencies):

* Debian's ``wordnet-base`` package (``apt-get install wordnet-base``): the WordNet 3.0 database in
  ``/usr/share/wordnet`` and the ``lexnames(5WN)`` manual page.
* ``nltk`` from PyPI, installed outside the project venv, e.g.
  ``python3 -m venv /tmp/nltkvenv && /tmp/nltkvenv/bin/pip install nltk``.

Two workarounds are needed to read Debian's database with NLTK 3.10, both recorded in the output:

* Debian's ``wordnet-base`` does not ship the ``lexnames`` file that NLTK's reader opens at start-up.
  Its content (45 lines ``NN<TAB>name<TAB>category``) is the table printed in the ``lexnames(5WN)``
  manual page that the same package ships; we regenerate it from there. Path similarity does not use
  lexicographer file names at all; only the reader's start-up needs the file.
* NLTK's reader compares the database version ("3.0") with the name "wordnet" and, finding them
  different, tries to load NLTK's own downloaded "wordnet" corpus to build an Open-Multilingual-WordNet
  sense mapping. We load WordNet 3.0 itself, so no mapping is needed: a subclass turns it off.
* NLTK 3.10 only reads corpora under ``nltk.data.path``; the copied database directory is added to it.

Usage::

    /tmp/nltkvenv/bin/python scripts/make_wordnet_table.py [--wordnet-dir /usr/share/wordnet]
        [--lexnames-man /usr/share/man/man5/lexnames.5WN.gz] [--out rtl_jax/resources]
"""
from __future__ import annotations

import argparse
import datetime
import gzip
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

#: Class names as the datasets define them, with the synset chosen for each (and why, where not obvious).
TABLES: dict[str, dict] = {
    "cifar10": {
        "dataset": "CIFAR-10",
        "classes": [
            ("airplane", "airplane.n.01", "only noun sense"),
            ("automobile", "car.n.01", "only noun sense of 'automobile'"),
            ("bird", "bird.n.01", "first sense; the animal"),
            ("cat", "cat.n.01", "first sense; the feline"),
            ("deer", "deer.n.01", "only noun sense"),
            ("dog", "dog.n.01", "first sense; the domestic dog"),
            ("frog", "frog.n.01", "first sense; the amphibian"),
            ("horse", "horse.n.01", "first sense; the animal"),
            ("ship", "ship.n.01", "only noun sense"),
            ("truck", "truck.n.01", "first sense; the motor vehicle"),
        ],
    },
    "fashion_mnist": {
        "dataset": "Fashion-MNIST",
        "classes": [
            ("T-shirt/top", "jersey.n.03", "the synset of lemmas 'tee_shirt'/'T-shirt' (close-fitting pullover shirt)"),
            ("Trouser", "trouser.n.01", "first sense; the garment"),
            ("Pullover", "pullover.n.01", "only noun sense (sweater)"),
            ("Dress", "dress.n.01", "first sense; one-piece garment"),
            ("Coat", "coat.n.01", "first sense; outer garment"),
            ("Sandal", "sandal.n.01", "only noun sense"),
            ("Shirt", "shirt.n.01", "only noun sense"),
            ("Sneaker", "gym_shoe.n.01", "the synset of lemma 'sneaker' (canvas shoe, rubber sole)"),
            ("Bag", "bag.n.04", "handbag/purse sense, the fashion item; bag.n.01 is any flexible container"),
            ("Ankle boot", "boot.n.01", "WordNet has no 'ankle boot'; boot.n.01 is footwear covering foot and leg"),
        ],
    },
}

DB_FILES = (
    "data.adj", "data.adv", "data.noun", "data.verb",
    "index.adj", "index.adv", "index.noun", "index.verb",
    "adj.exc", "adv.exc", "noun.exc", "verb.exc",
)
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def lexnames_from_man(man_path: Path) -> str:
    """Rebuild WordNet's ``lexnames`` file from the table in the ``lexnames(5WN)`` manual page."""
    text = gzip.open(man_path, "rt").read() if man_path.suffix == ".gz" else man_path.read_text()
    lines = []
    for row in text.splitlines():
        fields = row.split("\t")
        if len(fields) >= 2 and len(fields[0]) == 2 and fields[0].isdigit():
            name = fields[1].strip()
            lines.append(f"{fields[0]}\t{name}\t{_CATEGORY[name.split('.')[0]]}")
    if len(lines) != 45 or [int(x.split("\t")[0]) for x in lines] != list(range(45)):
        raise ValueError(f"{man_path}: expected lexicographer files 00..44 in the manual page, found {len(lines)}")
    return "\n".join(lines) + "\n"


def open_wordnet(wordnet_dir: Path, lexnames_man: Path, work: Path):
    """A NLTK WordNet reader over a copy of ``wordnet_dir`` with a regenerated ``lexnames`` file."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class _Reader(WordNetCorpusReader):
        def map_wn(self, version="wordnet"):  # noqa: ARG002 - we load WordNet 3.0 itself: no OMW mapping
            return None

    for name in DB_FILES:
        src = wordnet_dir / name
        if not src.is_file():
            raise FileNotFoundError(f"WordNet database file {src} not found (apt-get install wordnet-base)")
        shutil.copyfile(src, work / name)
    (work / "lexnames").write_text(lexnames_from_man(lexnames_man))
    nltk.data.path.append(str(work))
    return _Reader(str(work), None)


def debian_version(package: str) -> str:
    """Installed Debian package version (``dpkg-query``); raises if the package is not installed."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout:
        raise FileNotFoundError(f"Debian package {package!r} is not installed: {out.stderr.strip()}")
    return out.stdout


def build_table(wn, spec: dict) -> dict:
    """Path-similarity matrix (and shortest-path lengths) for one dataset's chosen synsets."""
    synsets = [wn.synset(s) for _, s, _ in spec["classes"]]
    n = len(synsets)
    sim = [[0.0] * n for _ in range(n)]
    dist = [[0] * n for _ in range(n)]
    for i, a in enumerate(synsets):
        for j, b in enumerate(synsets):
            d = a.shortest_path_distance(b)
            s = a.path_similarity(b)
            if d is None or s is None:
                raise ValueError(f"no path between {a.name()} and {b.name()}")
            if abs(s - 1.0 / (1.0 + d)) > 1e-12:
                raise AssertionError(f"path_similarity {s} != 1/(1+{d}) for {a.name()}, {b.name()}")
            sim[i][j], dist[i][j] = s, d
    return {
        "dataset": spec["dataset"],
        "class_names": [c for c, _, _ in spec["classes"]],
        "synsets": [s for _, s, _ in spec["classes"]],
        "synset_definitions": [x.definition() for x in synsets],
        "synset_lemmas": [x.lemma_names() for x in synsets],
        "synset_choice_notes": [why for _, _, why in spec["classes"]],
        "measure": "path_similarity = 1 / (1 + shortest hypernym/hyponym path length), NLTK Synset.path_similarity",
        "path_length": dist,
        "matrix": sim,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wordnet-dir", type=Path, default=Path("/usr/share/wordnet"))
    ap.add_argument("--lexnames-man", type=Path, default=Path("/usr/share/man/man5/lexnames.5WN.gz"))
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "rtl_jax" / "resources")
    args = ap.parse_args(argv)

    import nltk

    provenance = {
        "generated_by": "scripts/make_wordnet_table.py",
        "date": datetime.date.today().isoformat(),
        "nltk_version": nltk.__version__,
        "debian_package": f"wordnet-base {debian_version('wordnet-base')}",
        "wordnet_dir": str(args.wordnet_dir),
        "lexnames": f"regenerated from {args.lexnames_man} (Debian's wordnet-base ships no lexnames file)",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wn = open_wordnet(args.wordnet_dir, args.lexnames_man, Path(tmp))
        provenance["wordnet_version"] = wn.get_version()
        for name, spec in TABLES.items():
            table = {"name": name, **build_table(wn, spec), "provenance": provenance}
            path = args.out / f"wordnet_{name}.json"
            path.write_text(json.dumps(table, indent=1) + "\n")
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
