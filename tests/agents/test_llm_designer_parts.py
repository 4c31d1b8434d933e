"""The LLM designer's parts without an LLM: flow rules of the tree under construction, reply parsing, prompts."""

from __future__ import annotations

import re

import jinja2
import pytest

from genesys.agents.llm_designer.context import reusable_units
from genesys.agents.llm_designer.prompting import Prompts
from genesys.agents.llm_designer.replies import (
    ProposalReply,
    ReviewReply,
    SearchRequest,
    json_object,
    parse_code,
    parse_json,
    parse_proposal,
)
from genesys.agents.llm_designer.tree_edit import FlowError, WorkTree
from llm_session_fixtures import CHANNEL_GATE, GATED_MLP_WITH_GATE


@pytest.fixture
def work(seeds) -> WorkTree:
    return WorkTree.start("mutation", [seeds["gpt2"]], "GatedMLP")


def test_a_mutation_protects_every_unit_but_its_selection(work):
    assert work.pending == ("GatedMLP",) and "RMSNorm" in work.protected and "GatedMLP" not in work.protected
    with pytest.raises(FlowError, match="not to be written now"):
        work.with_unit("RMSNorm", CHANNEL_GATE.replace("ChannelGate", "RMSNorm"))


def test_new_children_become_placeholders_and_the_queue_empties(work):
    step = work.with_unit("GatedMLP", GATED_MLP_WITH_GATE)
    assert step.pending == ("ChannelGate",) and step.placeholders() == ["ChannelGate"]
    assert step.units["ChannelGate"].code == "" and step.written == ("GatedMLP",)
    done = step.with_unit("ChannelGate", CHANNEL_GATE)
    assert done.done() and done.tree().units["ChannelGate"].code.startswith("\nimport torch")
    assert work.units["GatedMLP"].children == []  # edits are values: the start is unchanged (rollback)


def test_a_misnamed_class_is_renamed_to_its_slot(work):
    step = work.with_unit("GatedMLP", GATED_MLP_WITH_GATE.replace("class GatedMLP", "class GatedOutputMLP"))
    assert "class GatedMLP(GAUBase)" in step.units["GatedMLP"].code


@pytest.mark.parametrize(("code", "message"), [
    ("class GatedMLP(GAUBase:\n", "line 1: syntax error"),
    ("x = 1\n", "defines none"),
    (GATED_MLP_WITH_GATE + "\n\nclass Other(GAUBase):\n    pass\n", "defines 2 (GatedMLP, Other)"),
    (GATED_MLP_WITH_GATE.replace("CHILDREN_DECLARATIONS = [", "CHILDREN = ["), "no CHILDREN_DECLARATIONS"),
    (GATED_MLP_WITH_GATE.replace('unitname="ChannelGate"', 'unitname="GPT2Block"'), "makes a cycle"),
])
def test_flow_rules_name_the_unit_and_the_rule(work, code, message):
    with pytest.raises(FlowError, match=re.escape(message)):
        work.with_unit("GatedMLP", code)


def test_reuse_copies_a_library_unit_and_its_subtree(seeds):
    start = WorkTree.start("scratch", [], "HybridBlock")
    refs = reusable_units([seeds["mamba2"]])
    library = {k: v for k, v in refs.items() if "." not in k}
    done = start.with_reuse("HybridBlock", refs["GPT2Block"], library)
    assert done.done() and set(done.units) >= {"HybridBlock", "MultiHeadAttention", "RotaryEmbedding", "GatedMLP"}
    assert "class HybridBlock(GAUBase)" in done.units["HybridBlock"].code
    assert "mamba2.Mamba2Mixer" in refs  # a parent's units are reusable by design.Unit


def test_json_replies_parse_from_fences_or_bare_and_errors_say_what_is_wrong():
    assert json_object('Sure.\n```json\n{"rating": 4, "review": "ok"}\n```') == {"rating": 4, "review": "ok"}
    assert parse_json('{"rating": 4.5, "review": "fine"}', ReviewReply).rating == 4.5
    for text, error in [("", "empty"), ("no braces", "no JSON object"), ('{"rating": 4,', "does not parse"),
                        ('{"rating": 4,}', "does not parse"),
                        ('{"rating": 9, "review": "x"}', "rating: Input should be less than or equal to 5")]:
        with pytest.raises(ValueError, match=error):
            parse_json(text, ReviewReply)
    assert isinstance(parse_proposal('{"search": ["ssm decay"]}'), SearchRequest)
    reply = parse_proposal('{"title": "Gate", "motivation": "m", "plan": "p", "selection": "GatedMLP"}')
    assert isinstance(reply, ProposalReply) and reply.selection == "GatedMLP"


def test_code_replies_take_each_python_block():
    reply = parse_code("Two units.\n```python\nclass A: pass\n```\nand\n```py\nclass B: pass\n```")
    assert reply.units == ["class A: pass", "class B: pass"] and reply.rationale.startswith("Two units.")
    with pytest.raises(ValueError, match="no ```python block"):
        parse_code("class A: pass")


def test_every_template_renders_and_a_missing_variable_is_an_error():
    prompts = Prompts()
    assert prompts.names() == ["coder/direct", "coder/system", "coder/unit", "observer/observe", "observer/system",
                               "planner/plan", "planner/system", "proposer/propose", "proposer/system",
                               "reviewer/review", "reviewer/system"]
    with pytest.raises(jinja2.UndefinedError, match="'outline' is undefined"):
        prompts.render("coder", "unit", proposal={"title": "t", "plan": "p"})
    with pytest.raises(KeyError, match="no prompt template coder/nothing.j2"):
        prompts.render("coder", "nothing")
    # the hash covers the role's sources: direct extends unit, so both change together
    assert prompts.ref("coder", "unit").sha256 == prompts.ref("coder", "direct").sha256
    assert prompts.ref("coder", "unit").sha256 != prompts.ref("planner", "plan").sha256
