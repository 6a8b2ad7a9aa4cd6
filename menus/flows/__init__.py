"""The borrower's flows, declared as data, gathered into one table of nodes by id."""

from __future__ import annotations

from menus.flows import account, home, insurance, learn, loans, registration, savings, survey
from menus.flows.titles import FLOW_TITLES
from menus.nodes import Node

NODES: dict[str, Node] = {
    node.id: node
    for module in (home, registration, loans, account, savings, insurance, survey, learn)
    for node in module.NODES
}

from menus.flows import lender  # noqa: E402 - the lender menu registers after the borrower's

NODES.update({node.id: node for node in lender.NODES})

HOME = "home"
GATE = "pin"
RESTING = frozenset({"home", "welcome", "resume", "pin", "more"})
"""Flows (node-id prefixes) that are not a task in progress: nothing there to resume."""


def flow_of(node_id: str) -> str:
    """The flow a node belongs to: the prefix of its id."""
    return node_id.split(".", 1)[0]


__all__ = ["FLOW_TITLES", "GATE", "HOME", "NODES", "RESTING", "flow_of"]
