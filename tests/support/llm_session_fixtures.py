"""Replies for scripted LLM design sessions: real unit code (so the real checker runs) and the JSON each role answers.

    with ScriptedLLM() as llm:
        script_mutation(llm)                        # a session that makes a two-unit design from gpt2
        designer = llm_designer(llm.url, limits={"coderAttempts": 2})

Each role has its own model name, so a role's replies are one queue of the server.
"""

from __future__ import annotations

import json
from typing import Any

from genesys.api.evolution import DesignerSpec

KEY_ENV = "GENESYS_TEST_LLM_KEY"
ROLES = ("proposer", "reviewer", "planner", "coder", "observer")


def model(role: str) -> str:
    return f"openai/test-{role}"


def llm_designer(url: str, limits: dict[str, Any] | None = None, check_scale: str = "quick",
                 **llm: Any) -> DesignerSpec:
    """An llm designer calling the scripted server at `url`, one model per role, litellm prices unknown."""
    roles: dict[str, Any] = {"default": {"apiBase": f"{url}/v1", "apiKeyEnv": KEY_ENV, "timeoutSeconds": 30,
                                         "maxTokens": 4000}}
    for role in ROLES:
        roles[role] = {"models": [{"model": model(role)}]}
    spec = {"roles": roles, "limits": {"searchRounds": 1, **(limits or {})},
            "retry": {"tries": 2, "baseDelaySeconds": 0.01, "maxDelaySeconds": 0.05}, **llm}
    return DesignerSpec.model_validate({"kind": "llm", "checkScale": check_scale, "llm": spec})


def as_json(**fields: Any) -> str:
    return "```json\n" + json.dumps(fields, indent=1) + "\n```"


def proposal(selection: str = "GatedMLP", title: str = "Channel-gated MLP output") -> str:
    return "Here is my proposal.\n" + as_json(
        title=title,
        motivation="A learned per-channel gate on the MLP's output lets each block damp channels that add noise "
                   "to the residual stream, as gated units do inside the MLP.",
        analysis="Output gating (GLU, Shazeer 2020) helps; gating the residual write is the next step.",
        plan="Rewrite GatedMLP with an output gate unit ChannelGate: a sigmoid of a learned logit per channel.",
        selection=selection)


def search(*queries: str) -> str:
    return as_json(search=list(queries))


def review(rating: float, text: str = "Sound, cheap and easy to test; new relative to its siblings.") -> str:
    return as_json(rating=rating, review=text, suggestions="Initialise the gate open.")


def plan(unit: str, action: str = "implement", reuse: str | None = None) -> str:
    fields: dict[str, Any] = {"unit": unit, "action": action, "instructions": f"Write {unit} as the plan says."}
    if reuse:
        fields["reuse"] = reuse
    return as_json(**fields)


def observation(rating: float, text: str = "Implements the plan; simple and efficient.") -> str:
    return as_json(rating=rating, review=text)


def code(*sources: str, words: str = "Here is the unit.") -> str:
    return words + "\n\n" + "\n\n".join(f"```python\n{s.strip()}\n```" for s in sources)


GATED_MLP_WITH_GATE = '''
import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class GatedMLP(GAUBase):
    """SwiGLU MLP whose output passes through a per-channel gate unit."""

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, hidden_mult: float = 2.0,
                 **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        hidden = 32 * -(-int(hidden_mult * embed_dim) // 32)
        self.up_proj = nn.Linear(embed_dim, 2 * hidden, bias=False, **self.factory_kwargs)
        self.down_proj = nn.Linear(hidden, embed_dim, bias=False, **self.factory_kwargs)
        self.gate = ChannelGate(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                **self.factory_kwargs, **kwarg_all)

    def _forward(self, X, **Z):
        a, b = self.up_proj(X).chunk(2, dim=-1)
        Y, Z = self.gate(self.down_proj(F.silu(a) * b), **Z)
        return Y, Z


CHILDREN_DECLARATIONS = [
    UnitDecl(unitname="ChannelGate", requirements="per-channel gate, (B, L, D) -> (B, L, D)"),
]
'''

CHANNEL_GATE = '''
import torch
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class ChannelGate(GAUBase):
    """Scales each channel by the sigmoid of a learned logit (initialised open)."""

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.logit = nn.Parameter(torch.full((embed_dim,), 2.0, **self.factory_kwargs))

    def _forward(self, X, **Z):
        return X * torch.sigmoid(self.logit)


CHILDREN_DECLARATIONS = []
'''

# Refused by the format check (imports os): a coder that always writes this never passes.
BAD_IMPORT = CHANNEL_GATE.replace("import torch\n", "import os\nimport torch\n", 1).replace(
    "return X * torch.sigmoid(self.logit)", "return X * torch.sigmoid(self.logit) + 0 * len(os.sep)")


def script_mutation(llm: Any, *, rating: float = 4.5) -> None:
    """A whole session from gpt2: one search round, a proposal accepted at `rating`, then GatedMLP (declaring
    the new ChannelGate) and ChannelGate, each planned, coded and observed."""
    llm.script(model("proposer"), [search("output gating of MLPs"), proposal()])
    llm.script(model("reviewer"), [review(rating)])
    llm.script(model("planner"), [plan("GatedMLP"), plan("ChannelGate")])
    llm.script(model("coder"), [code(GATED_MLP_WITH_GATE), code(CHANNEL_GATE)])
    llm.script(model("observer"), [observation(4), observation(4.5)])
