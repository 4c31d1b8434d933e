"""The design session's prompts: Jinja2 templates under genesys/agents/prompts/<role>/, shipped as package data.

    prompts = Prompts()
    messages, ref = prompts.render("coder", "unit", unit="GatedMLP", feedback=None, ...)

Each call is a system message (the role's `system.j2`) and a user message (the task's
template). Templates render with StrictUndefined, so a variable missing from the context
is an error at the first render rather than an empty string in a prompt; the transcript
names each call's template and the SHA-256 of its sources, so a changed prompt is visible
in every later call.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any

import jinja2

from genesys.agents.llm import TemplateRef

PROMPTS_PACKAGE = "genesys.agents"
PROMPTS_DIR = "prompts"


class Prompts:
    def __init__(self) -> None:
        root = resources.files(PROMPTS_PACKAGE) / PROMPTS_DIR
        self._sources: dict[str, str] = {}
        for role_dir in root.iterdir():
            if not role_dir.is_dir():
                continue
            for item in role_dir.iterdir():
                if item.name.endswith(".j2"):
                    self._sources[f"{role_dir.name}/{item.name.removesuffix('.j2')}"] = item.read_text("utf-8")
        self.env = jinja2.Environment(loader=jinja2.DictLoader({f"{k}.j2": v for k, v in self._sources.items()}),
                                      undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                                      trim_blocks=True, lstrip_blocks=True, autoescape=False)

    def names(self) -> list[str]:
        """Every template, as role/name."""
        return sorted(self._sources)

    def ref(self, role: str, task: str) -> TemplateRef:
        """The template's name and a hash of its role's sources (a task may extend another of its role)."""
        self._source(f"{role}/{task}")
        digest = hashlib.sha256()
        for name in sorted(n for n in self._sources if n.startswith(f"{role}/")):
            digest.update(name.encode() + b"\0" + self._sources[name].encode() + b"\0")
        return TemplateRef(f"{role}/{task}", digest.hexdigest())

    def _source(self, name: str) -> str:
        if name not in self._sources:
            raise KeyError(f"no prompt template {name}.j2 under genesys/agents/{PROMPTS_DIR}/; "
                           f"the templates are {', '.join(self.names())}")
        return self._sources[name]

    def text(self, name: str, **context: Any) -> str:
        """One template rendered (raises jinja2.UndefinedError naming a missing variable)."""
        self._source(name)
        return self.env.get_template(f"{name}.j2").render(**context).strip()

    def render(self, role: str, task: str, **context: Any) -> tuple[list[dict[str, str]], TemplateRef]:
        """The messages of one call of `role` doing `task`, and the reference the transcript records."""
        messages = [{"role": "system", "content": self.text(f"{role}/system", **context)},
                    {"role": "user", "content": self.text(f"{role}/{task}", **context)}]
        return messages, self.ref(role, task)
