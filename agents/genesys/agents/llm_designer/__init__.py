"""The LLM designer: the paper's multi-agent design session on litellm (any provider).

    from genesys.agents.llm_designer import LLMDesigner
    result = LLMDesigner(evolution.spec.designer).design(request, transcript.record)

Imports litellm (through genesys.agents.llm): only sessions with designer.kind llm load it.
"""

from genesys.agents.llm_designer.designer import LLMDesigner

__all__ = ["LLMDesigner"]
