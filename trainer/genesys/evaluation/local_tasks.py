"""The `local` task set: lm-eval tasks generated from held-out documents, fully offline.

    counts = write_local_tasks(heldout_docs, "run/tasks", seed=0, n_items=500)
    TaskManager(include_path="run/tasks", include_defaults=False).load(list(counts))

Writes one JSONL file and one lm-eval YAML per task. The YAMLs hold absolute paths:
lm-eval resolves a relative `data_files` against the working directory, not the YAML.
Items are a pure function of (documents, seed, sizes).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

BPB, LASTWORD, NEXTSENT, WORDORDER = "genesys_bpb", "genesys_lastword", "genesys_nextsent", "genesys_wordorder"
LOCAL_TASKS = (BPB, LASTWORD, NEXTSENT, WORDORDER)
LOCAL_TAG = "genesys_local"


@dataclass(frozen=True)
class LocalTaskOptions:
    """How the items are cut from the documents (sizes are per task)."""

    passage_chars: int = 1200  # bpb: passages of whole paragraphs up to this many characters
    lastword_context_words: int = 80  # lastword: about this much context before the target word
    nextsent_context_sentences: int = 3  # nextsent: sentences shown before the true continuation
    lastword_choices: int = 4  # lastword: the true word + (choices - 1) other words of the context
    nextsent_choices: int = 4  # nextsent: the true sentence + (choices - 1) from elsewhere
    min_words: int = 6  # a usable sentence has this many words...
    max_words: int = 30  # ... and at most this many


# Splits after ., ! or ? (optionally closed by a quote or bracket) before a capital letter.
_SENTENCE_END = re.compile(
    r"(?<=[.!?])\s+(?=[\"'\u201c\u2018(]?[A-Z])|(?<=[.!?][\"'\u201d\u2019)])\s+(?=[\"'\u201c\u2018(]?[A-Z])"
)
_ABBREVIATION = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Mt|Jr|Sr|Prof|Capt|Col|Gen|Lt|Rev|No|vs|Vol|Ch)|\b[A-Z])\.$")
_WORD = re.compile(r"[A-Za-z]+")
_LAST_WORD = re.compile(r"^(?P<head>.*\s)(?P<word>[A-Za-z]{3,})(?P<tail>[.!?]+[\"'\u201d\u2019)]*)$")


def paragraphs(document: str) -> list[str]:
    """Paragraphs (blank-line separated), verbatim but stripped."""
    return [p.strip() for p in re.split(r"\n\s*\n", document) if p.strip()]


def sentences(document: str) -> list[str]:
    """The document's sentences in order, whitespace collapsed; abbreviations do not end one."""
    out: list[str] = []
    for para in paragraphs(document):
        pending = ""
        for piece in _SENTENCE_END.split(" ".join(para.split())):
            pending = f"{pending} {piece}" if pending else piece
            if not _ABBREVIATION.search(pending):
                out.append(pending)
                pending = ""
        if pending:
            out.append(pending)
    return out


def is_prose(sentence: str, min_words: int, max_words: int) -> bool:
    """A plain sentence: capitalised, ended by . ! or ?, mostly letters, of a usable length."""
    words = sentence.split()
    if not (min_words <= len(words) <= max_words) or not re.search(r"[.!?][\"'\u201d\u2019)]*$", sentence):
        return False
    if not re.match(r"[\"'\u201c\u2018(]?[A-Z]", sentence):
        return False
    letters = sum(c.isalpha() for c in sentence)
    return letters >= 0.75 * len(sentence.replace(" ", "")) and not re.search(r"\d", sentence)


def bpb_items(documents: Sequence[str], options: LocalTaskOptions) -> list[dict]:
    """Passages of whole paragraphs (verbatim), each at most `passage_chars` long."""
    items = []
    limit = options.passage_chars
    for doc in documents:
        passage = ""
        for para in paragraphs(doc):
            while len(para) > limit:  # a paragraph longer than a passage: cut at a line end or space
                cut = para.rfind("\n", 0, limit)
                cut = cut if cut > limit // 2 else para.rfind(" ", 0, limit)
                cut = cut if cut > 0 else limit
                if passage:
                    items.append(passage)
                    passage = ""
                items.append(para[:cut].rstrip())
                para = para[cut:].lstrip()
            if passage and len(passage) + 2 + len(para) > limit:
                items.append(passage)
                passage = ""
            passage = f"{passage}\n\n{para}" if passage else para
        if passage:
            items.append(passage)
    return [{"text": p} for p in items if len(p) >= limit // 4]


def lastword_items(per_doc: Sequence[list[str]], options: LocalTaskOptions, rng: random.Random) -> list[dict]:
    """LAMBADA-style cloze: which word of the context ends the sentence?

    LAMBADA kept passages whose last word humans could only guess with the whole
    passage; "the word occurred earlier" is the automatic stand-in. Scoring is a choice
    among the target and other words of the same context (not LAMBADA's greedy exact
    match, which every model at the cpu rungs scores 0 on), so copying "some word from
    the context" earns nothing: the model must pick the one that fits.
    """
    items = []
    k = options.lastword_choices - 1
    for sents in per_doc:
        for j, sent in enumerate(sents):
            match = _LAST_WORD.match(sent)
            if not match or not is_prose(sent, options.min_words, 10**6):
                continue
            before: list[str] = []
            n_words = len(match["head"].split())
            for prev in reversed(sents[:j]):
                if n_words >= options.lastword_context_words:
                    break
                before.insert(0, prev)
                n_words += len(prev.split())
            context = " ".join([*before, match["head"].rstrip()])
            word = match["word"]
            seen = sorted({w for w in _WORD.findall(context) if len(w) >= 3})
            others = sorted({w.lower(): w for w in seen if w.lower() != word.lower()}.values())
            if n_words < options.lastword_context_words // 2 or word.lower() not in {w.lower() for w in seen}:
                continue
            if len(others) < k:
                continue
            choices = [f" {w}" for w in [word, *rng.sample(others, k)]]
            rng.shuffle(choices)
            items.append({"context": context, "choices": choices, "label": choices.index(f" {word}")})
    return items


def nextsent_items(per_doc: Sequence[list[str]], options: LocalTaskOptions, rng: random.Random) -> list[dict]:
    """The true next sentence against corrupted copies of it, after a few sentences of context.

    Each corrupted copy swaps one inner word of the true sentence for a word of the
    same length from elsewhere in the same document, so every choice shares the document's names and
    style, and the copies differ from the truth in one word: the model must judge
    which word fits the sentence and its context. (Whole sentences drawn from elsewhere
    as distractors left every model at the cpu rungs at chance: they win or lose on
    the topic and genre of a sentence, not on language modelling.)
    """
    k = options.nextsent_choices - 1
    n_ctx = options.nextsent_context_sentences
    items = []
    for sents in per_doc:
        by_length: dict[int, list[str]] = {}
        for w in sorted({w for s in sents for w in s.split() if _WORD.fullmatch(w) and w.islower()}):
            by_length.setdefault(len(w), []).append(w)
        for j in range(n_ctx, len(sents)):
            true = sents[j]
            if not is_prose(true, options.min_words, options.max_words):
                continue
            words = true.split()
            # a swap keeps the word's length, so no choice wins (acc_norm) or loses by length
            spots = [
                i
                for i in range(1, len(words) - 1)
                if _WORD.fullmatch(words[i]) and words[i].islower() and len(by_length[len(words[i])]) > 1
            ]
            if len(spots) < k:
                continue
            choices = [true]
            for i in rng.sample(spots, k):
                swap = rng.choice([w for w in by_length[len(words[i])] if w != words[i]])
                choices.append(" ".join([*words[:i], swap, *words[i + 1 :]]))
            rng.shuffle(choices)
            context = " ".join(sents[j - n_ctx : j])
            items.append({"context": context, "choices": choices, "label": choices.index(true)})
    return items


def wordorder_items(per_doc: Sequence[list[str]], options: LocalTaskOptions, rng: random.Random) -> list[dict]:
    """BLiMP-style minimal pairs: a sentence vs the same with two adjacent inner words swapped.

    Only two plain words inside the sentence swap (never the first, capitalised word
    or the last, punctuated one), so the pair differs in word order alone.
    """
    items = []
    for sents in per_doc:
        for sent in sents:
            if not is_prose(sent, options.min_words, options.max_words):
                continue
            words = sent.split()
            plain = [bool(_WORD.fullmatch(w)) for w in words]
            spots = [
                i
                for i in range(1, len(words) - 2)
                if plain[i] and plain[i + 1] and words[i].lower() != words[i + 1].lower()
            ]
            if not spots:
                continue
            i = rng.choice(spots)
            bad = [*words[:i], words[i + 1], words[i], *words[i + 2 :]]
            items.append({"sentence_good": sent, "sentence_bad": " ".join(bad)})
    return items


def task_yaml(task: str, data_file: Path, cache_dir: Path) -> dict:
    """The lm-eval config of one local task over its JSONL file."""
    base = {
        "task": task,
        "tag": [LOCAL_TAG],
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_file)}, "cache_dir": str(cache_dir)},
        "test_split": "test",
        "num_fewshot": 0,
        "metadata": {"version": 1.0},
    }
    acc = {"metric": "acc", "aggregation": "mean", "higher_is_better": True}
    specific = {
        BPB: {
            "output_type": "loglikelihood_rolling",
            "doc_to_text": "",
            "doc_to_target": "text",
            "metric_list": [
                {"metric": "word_perplexity", "aggregation": "weighted_perplexity", "higher_is_better": False},
                {"metric": "byte_perplexity", "aggregation": "weighted_perplexity", "higher_is_better": False},
                {"metric": "bits_per_byte", "aggregation": "bits_per_byte", "higher_is_better": False},
            ],
        },
        LASTWORD: {
            "output_type": "multiple_choice",
            "doc_to_text": "context",
            "doc_to_choice": "choices",
            "doc_to_target": "label",
            "target_delimiter": "",  # each choice carries its own leading space
            "metric_list": [acc, {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}],
        },
        NEXTSENT: {
            "output_type": "multiple_choice",
            "doc_to_text": "context",
            "doc_to_choice": "choices",
            "doc_to_target": "label",
            "metric_list": [acc, {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}],
        },
        WORDORDER: {
            "output_type": "multiple_choice",
            "doc_to_text": "",
            "doc_to_choice": "{{[sentence_good, sentence_bad]}}",
            "doc_to_target": 0,
            "target_delimiter": "",  # each sentence is scored as a whole document, right after EOS
            "metric_list": [acc],
        },
    }
    return {**base, **specific[task]}


def item_counts(n_items: int | Mapping[str, int]) -> dict[str, int]:
    """Per-task item counts from one number or a partial mapping (others default to 500)."""
    if isinstance(n_items, int):
        return dict.fromkeys(LOCAL_TASKS, n_items)
    unknown = set(n_items) - set(LOCAL_TASKS)
    if unknown:
        raise ValueError(f"n_items names unknown tasks {sorted(unknown)}; local tasks are {list(LOCAL_TASKS)}")
    return {t: int(n_items.get(t, 500)) for t in LOCAL_TASKS}


def write_local_tasks(
    documents: Sequence[str],
    out_dir: str | Path,
    seed: int = 0,
    n_items: int | Mapping[str, int] = 500,
    options: LocalTaskOptions = LocalTaskOptions(),
) -> dict[str, int]:
    """Write `<task>.jsonl` and `<task>.yaml` for the four local tasks; return item counts.

    Raises ValueError, writing nothing, when the documents cannot fill a task.
    """
    if isinstance(documents, str):
        raise TypeError("documents is a list of held-out documents, not one string")
    counts = item_counts(n_items)
    out = Path(out_dir).resolve()
    rng = random.Random(seed)
    per_doc = [sentences(d) for d in documents]
    candidates = {
        BPB: bpb_items(documents, options),
        LASTWORD: lastword_items(per_doc, options, random.Random(rng.random())),
        NEXTSENT: nextsent_items(per_doc, options, random.Random(rng.random())),
        WORDORDER: wordorder_items(per_doc, options, random.Random(rng.random())),
    }
    short = {t: len(c) for t, c in candidates.items() if len(c) < counts[t]}
    if short:
        raise ValueError(
            f"the held-out documents ({len(documents)}, {sum(map(len, documents))} chars) yield only {short} items; "
            f"asked for {counts}: pass more held-out text or fewer items (n_items)"
        )
    chosen = {t: rng.sample(c, counts[t]) for t, c in candidates.items()}
    out.mkdir(parents=True, exist_ok=True)
    for task, items in chosen.items():
        data = out / f"{task}.jsonl"
        data.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
        config = task_yaml(task, data, out / ".datasets_cache")
        (out / f"{task}.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    digest = hashlib.sha256("\x00".join(documents).encode("utf-8")).hexdigest()
    manifest = {"seed": seed, "counts": counts, "documents": len(documents), "documents_sha256": digest}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return counts
