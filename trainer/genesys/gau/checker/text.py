"""English text for the stability check: docstrings of Python standard-library modules.

Deterministic for a Python version, needs no download, read with the tokenizer
(modules are never imported). A later issue replaces it with the project corpus.
"""

from __future__ import annotations

import ast
import importlib.util
import tokenize
from functools import cache

import torch

MODULES = (
    "argparse", "asyncio", "base64", "bisect", "calendar", "cmd", "collections", "configparser", "contextlib",
    "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "doctest", "email", "enum", "fractions",
    "ftplib", "functools", "getopt", "gettext", "glob", "gzip", "heapq", "hmac", "html", "imaplib", "inspect",
    "ipaddress", "json", "locale", "logging", "mailbox", "netrc", "optparse", "pathlib", "pdb", "pickle",
    "pickletools", "pprint", "pydoc", "queue", "random", "re", "sched", "shlex", "shutil", "smtplib",
    "socket", "socketserver", "statistics", "string", "subprocess", "tarfile", "tempfile", "textwrap",
    "threading", "timeit", "tokenize", "trace", "typing", "unittest", "urllib", "uuid", "warnings", "weakref",
    "xmlrpc", "zipfile", "_pydecimal", "_pyio", "selectors", "secrets", "sqlite3", "wave",
)


def _module_docstring(name: str) -> str:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return ""
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return ""
    try:
        with open(spec.origin, "rb") as f:
            for tok in tokenize.tokenize(f.readline):
                if tok.type in (tokenize.ENCODING, tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE):
                    continue
                return ast.literal_eval(tok.string) if tok.type == tokenize.STRING else ""
    except (OSError, SyntaxError, ValueError, tokenize.TokenError):
        return ""
    return ""


@cache
def stdlib_text() -> bytes:
    """About 70 KB of English prose (with some code examples), as UTF-8 bytes."""
    docs = (_module_docstring(m).strip() for m in MODULES)
    return "\n\n".join(d for d in docs if d).encode("utf-8")


def text_batches(steps: int, batch: int, seq_len: int, seed: int = 0) -> list[torch.Tensor]:
    """`steps` batches of random windows, each (batch, seq_len + 1) byte ids."""
    data = torch.frombuffer(bytearray(stdlib_text()), dtype=torch.uint8).long()
    if data.numel() < seq_len + 2:  # a stripped Python without sources: fall back to a fixed sentence
        data = torch.tensor(list(b"The quick brown fox jumps over the lazy dog. " * 64), dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, data.numel() - seq_len - 1, (steps, batch), generator=gen)
    return [torch.stack([data[s : s + seq_len + 1] for s in row.tolist()]) for row in starts]
