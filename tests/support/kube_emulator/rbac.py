"""Opt-in RBAC: the requests of chosen user agents are limited to granted (group, resource, verb) triples.

The server enforces nothing by default. `Grants.grant("kopf", triples)` makes it answer kopf's
other requests with a real server's 403, so an operator meets its Role's limits as in a cluster
(kopf, for one, falls back when it may not list namespaces). Triples may use "*" for any part.
"""

from __future__ import annotations

from collections.abc import Iterable

from kube_emulator.errors import ApiError, qualified
from kube_emulator.routing import Route

Triple = tuple[str, str, str]


class Grants:
    def __init__(self) -> None:
        self.rules: list[tuple[str, frozenset[Triple]]] = []

    def grant(self, user_agent: str, triples: Iterable[Triple]) -> None:
        """Limit the requests of user agents starting with `user_agent` to `triples` (the first match applies)."""
        self.rules.append((user_agent, frozenset(triples)))

    def allows(self, user_agent: str, group: str, resource: str, verb: str) -> bool:
        if group == "authorization.k8s.io" and resource.startswith("selfsubject"):
            return True  # every authenticated user may ask what it may do (system:basic-user)
        for prefix, granted in self.rules:
            if user_agent.startswith(prefix):
                return any(all(g in ("*", w) for g, w in zip(t, (group, resource, verb), strict=True))
                           for t in granted)
        return True


def forbidden(user_agent: str, route: Route, resource: str, verb: str) -> ApiError:
    """The 403 a real server answers a request RBAC does not allow."""
    target = qualified(resource.split("/")[0], route.group)
    if route.name:
        target = f'{target} "{route.name}"'
    scope = f'in the namespace "{route.namespace}"' if route.namespace else "at the cluster scope"
    return ApiError(403, "Forbidden", f'{target} is forbidden: User "{user_agent}" cannot {verb} resource '
                    f'"{resource}" in API group "{route.group}" {scope}',
                    {"name": route.name or "", "group": route.group, "kind": route.plural})
