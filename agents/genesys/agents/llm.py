"""LLM access for the design session: the only module that imports litellm.

    client = LLMClient(evolution.spec.designer.llm, transcript=events.append, seed=session_seed)
    reply = client.complete("coder", [{"role": "user", "content": "..."}], template=TemplateRef("coder/unit", h))
    reply.text, reply.cost_usd, client.spent_usd

Reliability is done here, not by litellm (its retries, budgets and cost helpers were found
not to hold): litellm's own retries are off; rate limits, timeouts, 5xx and connection
errors are retried with exponential backoff and jitter, honouring Retry-After; an
authentication, bad-request or context-window error fails at once. Cost comes from usage:
litellm's price when it knows the model, else the spec's `prices`, else tokens only
(cost_source "unknown"). A call that could cross a cost cap is refused *before* it is made.
API keys are read from the environment variable a role names and never appear in an
exception, a log line or the transcript.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from genesys.api.evolution import LLM_ROLES, LLMDesignerSpec, LLMRoleSettings

# litellm fetches its price map from GitHub at import unless told to use its bundled copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm  # noqa: E402

litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on errors
litellm.telemetry = False

Messages = Sequence[Mapping[str, Any]]
Transcript = Callable[[dict[str, Any]], None]
REDACTED = "[redacted]"


class TemplateRef(NamedTuple):
    """The prompt template a call was rendered from, for the transcript."""

    name: str
    sha256: str

    @classmethod
    def of(cls, name: str, source: str) -> TemplateRef:
        return cls(name, hashlib.sha256(source.encode()).hexdigest())


@dataclass(frozen=True)
class Reply:
    """One completed call: the text and what it cost."""

    role: str
    model: str
    text: str
    tokens_in: int
    tokens_out: int
    cost_usd: float
    cost_source: str  # "litellm" | "spec" | "unknown" (tokens counted, price not known)
    latency_s: float
    attempts: int


class LLMError(RuntimeError):
    """A call that failed for good; `reason` is short and fixed ("rate limited", "timeout", ...)."""

    def __init__(self, reason: str, detail: str = "", *, role: str | None = None, model: str | None = None):
        self.reason, self.detail, self.role, self.model = reason, detail, role, model
        who = f"{role} call to {model}" if role and model else (model or role or "LLM call")
        super().__init__(f"{who}: {reason}" + (f" ({detail})" if detail else ""))


class BudgetExceeded(LLMError):
    """A call refused before it was made because it could cross a cost cap."""


class PreflightError(LLMError):
    """The LLM designer cannot start: a key is missing or a model is unreachable."""


# Failures worth another try, and those that fail at once; the first match wins (subclasses first).
_RETRIED: tuple[tuple[type[BaseException], str], ...] = (
    (litellm.RateLimitError, "rate limited"),
    (litellm.Timeout, "timeout"),
    (litellm.ServiceUnavailableError, "server error"),
    (litellm.BadGatewayError, "server error"),
    (litellm.InternalServerError, "server error"),
    (litellm.APIConnectionError, "connection error"),
)
_FATAL: tuple[tuple[type[BaseException], str], ...] = (
    (litellm.AuthenticationError, "authentication failed"),
    (litellm.PermissionDeniedError, "permission denied"),
    (litellm.ContextWindowExceededError, "context window exceeded"),
    (litellm.NotFoundError, "model not found"),
    (litellm.BadRequestError, "bad request"),
    (litellm.UnprocessableEntityError, "bad request"),
)


def classify(exc: BaseException) -> tuple[str, bool]:
    """(reason, whether another try may succeed) of a litellm exception."""
    for kind, reason in _RETRIED:
        if isinstance(exc, kind):
            return reason, True
    for kind, reason in _FATAL:
        if isinstance(exc, kind):
            return reason, False
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status >= 500:
        return "server error", True
    if status == 429:
        return "rate limited", True
    return f"unexpected error ({type(exc).__name__})", False


def retry_after(exc: BaseException) -> float | None:
    """Seconds a server asked us to wait (Retry-After or retry-after-ms), if it did."""
    headers: Any = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    if not headers:
        return None
    lowered = {str(k).lower(): v for k, v in dict(headers).items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        if "retry-after" in lowered:
            return max(0.0, float(lowered["retry-after"]))
    except (TypeError, ValueError):
        return None  # an HTTP date: fall back to our own backoff
    return None


def _price(spec: LLMDesignerSpec, model: str, tokens_in: int, tokens_out: int) -> tuple[float, str]:
    """Cost in USD of `tokens_in` + `tokens_out` on `model`, and where the price came from."""
    try:
        prompt, completion = litellm.cost_per_token(model=model, prompt_tokens=tokens_in,
                                                    completion_tokens=tokens_out)
        return float(prompt) + float(completion), "litellm"
    except Exception:  # litellm raises for models it has no price for
        pass
    price = spec.prices.get(model)
    if price is not None:
        return (tokens_in * price.input + tokens_out * price.output) / 1e6, "spec"
    return 0.0, "unknown"


def _count_tokens(model: str, messages: Messages) -> int:
    try:
        return int(litellm.token_counter(model=model, messages=list(messages)))
    except Exception:  # no tokenizer for this model: about 4 characters a token
        return sum(len(str(m.get("content") or "")) for m in messages) // 4 + 4 * len(messages)


class LLMClient:
    """Calls the LLM of a role with retries, cost accounting and caps; one per design session.

    `transcript` receives one event dict per call, made or refused (role, model, template, messages,
    reply, tokens, cost and its source, latency of the last try, tries, error); `spent_before_usd`
    is what earlier sessions of the evolution spent (for the evolution cap); the session's
    wall-clock limit starts with the client; `clock` and `sleep` are injectable for tests.
    """

    def __init__(self, spec: LLMDesignerSpec, *, transcript: Transcript | None = None, seed: int = 0,
                 spent_before_usd: float = 0.0, environ: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.spec = spec
        self.transcript = transcript
        self.spent_usd = 0.0
        self.spent_before_usd = spent_before_usd
        self._environ = os.environ if environ is None else environ
        self._rng = random.Random(seed)
        self._jitter = random.Random(seed + 1)
        self._clock, self._sleep = clock, sleep
        self._deadline = clock() + spec.session_wall_minutes * 60
        self._settings = {role: spec.role(role) for role in LLM_ROLES}

    # -- the public surface ---------------------------------------------------------------
    def choose_model(self, role: str) -> str:
        """A model of `role`, drawn by weight from the client's seeded generator."""
        choices = self._role(role).models or []
        return self._rng.choices([c.model for c in choices], weights=[c.weight for c in choices])[0]

    def complete(self, role: str, messages: Messages, *, template: TemplateRef | None = None) -> Reply:
        """One completion for `role`; raises LLMError (or BudgetExceeded) with a reason when it fails."""
        settings = self._role(role)
        model = self.choose_model(role)
        event: dict[str, Any] = {"event": "call", "role": role, "model": model, "messages": list(messages),
                                 "template": template._asdict() if template else None}
        try:
            self._check_time(role, model)
            self._check_caps(role, model, settings, messages)
            reply = self._call_with_retries(role, model, settings, messages)
        except LLMError as err:
            self._emit({**event, "error": err.reason, "detail": err.detail, "cost_usd": 0.0})
            raise
        self.spent_usd += reply.cost_usd
        self._emit({**event, "reply": reply.text, "tokens_in": reply.tokens_in, "tokens_out": reply.tokens_out,
                    "cost_usd": reply.cost_usd, "cost_source": reply.cost_source, "latency_s": reply.latency_s,
                    "attempts": reply.attempts, "error": None})
        return reply

    # -- pieces -----------------------------------------------------------------------------
    def _role(self, role: str) -> LLMRoleSettings:
        if role not in self._settings:
            raise ValueError(f"unknown LLM role {role!r}; the roles are {', '.join(LLM_ROLES)}")
        return self._settings[role]

    def _secrets(self) -> list[str]:
        names = {s.api_key_env for s in self._settings.values() if s.api_key_env}
        return [v for v in (self._environ.get(n) for n in names) if v]

    def redact(self, text: str) -> str:
        """`text` with every API key this client can see replaced."""
        for secret in self._secrets():
            text = text.replace(secret, REDACTED)
        return text

    def _emit(self, event: dict[str, Any]) -> None:
        if self.transcript is None:
            return
        for key in ("error", "detail", "reply"):
            if isinstance(event.get(key), str):
                event[key] = self.redact(event[key])
        self.transcript(event)

    def _check_time(self, role: str, model: str) -> None:
        if self._clock() >= self._deadline:
            raise LLMError("session time limit", f"{self.spec.session_wall_minutes:g} minutes "
                           "(llm.sessionWallMinutes) are up", role=role, model=model)

    def worst_case_usd(self, model: str, settings: LLMRoleSettings, messages: Messages) -> float | None:
        """The most a call can cost: its prompt plus a full-length reply; None when the price is unknown."""
        cost, source = _price(self.spec, model, _count_tokens(model, messages), settings.max_tokens or 0)
        return None if source == "unknown" else cost

    def _check_caps(self, role: str, model: str, settings: LLMRoleSettings, messages: Messages) -> None:
        worst = self.worst_case_usd(model, settings, messages)
        if worst is None:
            return  # no price: the call is counted in tokens only
        caps = (("llm.sessionCostCapUSD", self.spec.session_cost_cap_usd, self.spent_usd),
                ("llm.evolutionCostCapUSD", self.spec.evolution_cost_cap_usd, self.spent_before_usd + self.spent_usd))
        for name, cap, spent in caps:
            if cap is not None and spent + worst > cap:
                raise BudgetExceeded(
                    "budget exceeded",
                    f"{name} is ${cap:g}, ${spent:.6f} spent; this call could cost up to ${worst:.6f}",
                    role=role, model=model)

    def probe(self, role: str, model: str) -> Reply:
        """A one-token call to `model` with `role`'s settings, outside the caps (for preflight)."""
        settings = self._role(role).model_copy(update={"max_tokens": 1})
        return self._call_with_retries(role, model, settings, [{"role": "user", "content": "Reply with OK."}])

    def _call_with_retries(self, role: str, model: str, settings: LLMRoleSettings, messages: Messages) -> Reply:
        retry = self.spec.retry
        kwargs = self._kwargs(model, settings, messages)
        for attempt in range(1, retry.tries + 1):
            start = self._clock()
            kwargs["timeout"] = min(settings.timeout_seconds or 120.0, max(1.0, self._deadline - start))
            try:
                response = litellm.completion(**kwargs)
            except Exception as exc:  # litellm maps every provider failure onto its exception types
                reason, transient = classify(exc)
                detail = self.redact(str(exc))[:500]
                if not transient:
                    raise LLMError(reason, detail, role=role, model=model) from None
                if attempt == retry.tries:
                    detail = f"after {retry.tries} tries; last: {detail}"
                    raise LLMError(reason, detail, role=role, model=model) from None
                self._sleep(self._backoff(attempt, retry_after(exc)))
                self._check_time(role, model)
                continue
            return self._reply(role, model, messages, response, self._clock() - start, attempt)
        raise AssertionError("unreachable: retry.tries >= 1")

    def _backoff(self, attempt: int, asked: float | None) -> float:
        retry = self.spec.retry
        if asked is not None:
            return min(asked, retry.max_delay_seconds)
        delay = retry.base_delay_seconds * 2 ** (attempt - 1)
        return min(delay * (0.5 + self._jitter.random()), retry.max_delay_seconds)

    def _kwargs(self, model: str, settings: LLMRoleSettings, messages: Messages) -> dict[str, Any]:
        """litellm.completion's arguments, its own retries off; the key from the role's variable."""
        kwargs: dict[str, Any] = {"model": model, "messages": list(messages), "num_retries": 0, "max_retries": 0,
                                  "timeout": settings.timeout_seconds, "max_tokens": settings.max_tokens}
        if settings.temperature is not None:
            kwargs["temperature"] = settings.temperature
        if settings.api_base:
            kwargs["api_base"] = settings.api_base
        if settings.api_key_env:
            key = self._environ.get(settings.api_key_env)
            if not key:
                raise LLMError("API key missing", f"the environment variable {settings.api_key_env} is not set",
                               model=model)
            kwargs["api_key"] = key
        return kwargs

    def _reply(self, role: str, model: str, messages: Messages, response: Any, latency: float,
               attempts: int) -> Reply:
        choices = getattr(response, "choices", None) or []
        text = (choices[0].message.content if choices else None) or ""
        usage = getattr(response, "usage", None)
        tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0) if usage else _count_tokens(model, messages)
        tokens_out = int(getattr(usage, "completion_tokens", 0) or 0) if usage else len(text) // 4
        cost, source = _price(self.spec, model, tokens_in, tokens_out)
        return Reply(role=role, model=model, text=text, tokens_in=tokens_in, tokens_out=tokens_out,
                     cost_usd=cost, cost_source=source, latency_s=latency, attempts=attempts)


def preflight(spec: LLMDesignerSpec, *, environ: Mapping[str, str] | None = None) -> list[Reply]:
    """One tiny call per distinct model (and endpoint) of `spec`; raises one PreflightError on the first problem.

    Keys are checked before any call: a role naming `apiKeyEnv` needs that variable set; a role
    without one needs the provider's usual variables (litellm.validate_environment).
    """
    env = os.environ if environ is None else environ
    targets: dict[tuple[str, str | None, str | None], tuple[str, LLMRoleSettings]] = {}
    for role in LLM_ROLES:
        settings = spec.role(role)
        for choice in settings.models or []:
            targets.setdefault((choice.model, settings.api_base, settings.api_key_env), (role, settings))
    for (model, api_base, key_env), (role, _) in targets.items():
        own = getattr(spec.roles, role)
        where = f"llm.roles.{role}" if own is not None and own.api_key_env else "llm.roles.default"
        if key_env and not env.get(key_env):
            raise PreflightError("API key missing", f"{model} needs the environment variable {key_env} "
                                 f"({where}.apiKeyEnv); set it (cluster: a key of the Secret in llm.secret)",
                                 model=model)
        if not key_env and not api_base:
            missing = litellm.validate_environment(model).get("missing_keys") or []
            if missing:
                raise PreflightError("API key missing", f"{model} needs {', '.join(missing)} in the environment, "
                                     f"or set {where}.apiKeyEnv to the variable holding its key", model=model)
    probe = spec.model_copy(update={"retry": spec.retry.model_copy(update={"tries": min(spec.retry.tries, 2)})})
    client = LLMClient(probe, environ=env)
    replies = []
    for (model, api_base, _), (role, _) in targets.items():
        try:
            replies.append(client.probe(role, model))
        except LLMError as err:
            raise PreflightError(err.reason, f"{model} at {api_base or 'its provider'} did not answer a "
                                 f"test call: {err.detail}", model=model) from None
    return replies
