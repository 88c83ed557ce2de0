"""Derivative sweeps compiled once per graph: flat lists with every rule bound.

A plan is the primal schedule (dcalc/evaluation.py: slot k holds the k-th needed
node, each operation a ``(slot, bound impl, operand slots)`` step) plus one sweep
step per operation that a derivative passes through:
``(slot, operand slots, ((operand slot, bound rule), ...))``. Forward mode walks
the sweep in order, pushing tangents from operands to the node; reverse mode
walks it backwards, sending the node's cotangent to its operands. Running a plan
is a loop over lists: no dictionary lookups, no attribute chains, no rule lookups.

Only what the requested derivative needs is in a sweep: operations that depend on
an input differentiated with respect to, and edges from such operands. Plans are
cached on the graph, keyed by everything that shapes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..evaluation import Schedule, compile_graph
from ..graph import Graph, Node
from .rules import Rule, cotangent_rule, tangent_rule

SweepStep = tuple  # (slot, operand slots, ((operand slot, rule), ...))


@dataclass
class Plan:
    schedule: Schedule
    sweep: list[SweepStep]  # topological order (forward mode walks it as it is, reverse backwards)
    wrt_slots: list[int]
    output_slots: list[int]
    swept_size: int = 0  # entries of every node the sweep passes through: memory per direction

    @property
    def nodes(self) -> list[Node]:
        return self.schedule.nodes


def sweep_edges(nodes: Sequence[Node], wrt: Sequence[Node], edge) -> tuple[dict[int, int], list]:
    """The slot of each node (by index), and ``(slot, operand slots, edges)`` for each
    node that depends on an input of ``wrt``: ``edge(slot, node, position, operand
    slots)`` makes the edge from an operand that does (None: no edge, the derivative
    is identically zero)."""
    slot_of = {node.index: slot for slot, node in enumerate(nodes)}
    moving = bytearray(len(nodes))  # depends on an input differentiated
    for node in wrt:
        if node.index in slot_of:
            moving[slot_of[node.index]] = 1
    sweep = []
    for slot, node in enumerate(nodes):
        if node.is_input or node.is_const:
            continue
        operand_slots = tuple(slot_of[operand.index] for operand in node.inputs)
        edges = [made for position, operand_slot in enumerate(operand_slots) if moving[operand_slot] and (made := edge(slot, node, position, operand_slots)) is not None]
        if edges:
            moving[slot] = 1
            sweep.append((slot, operand_slots, tuple(edges)))
    return slot_of, sweep


def compile_plan(
    graph: Graph, outputs: Sequence[Node], wrt: Sequence[Node], mode: str, xp=np, batch_ndim: int = 1, guarded: bool = False
) -> Plan:
    """The plan for d outputs / d wrt in ``mode`` ("forward" or "reverse"); arrays
    carry ``batch_ndim`` trailing axes (points, then the engine's direction axis)."""
    key = ("plan", mode, id(xp), batch_ndim, guarded, len(graph.nodes), tuple(n.index for n in outputs), tuple(n.index for n in wrt))
    return graph.cached(key, lambda: _plan(graph, outputs, wrt, mode, xp, batch_ndim, guarded))


def _plan(graph: Graph, outputs: Sequence[Node], wrt: Sequence[Node], mode: str, xp, batch_ndim: int, guarded: bool) -> Plan:
    schedule = compile_graph(graph, outputs, xp, batch_ndim)
    bind = tangent_rule if mode == "forward" else cotangent_rule

    def edge(slot, node, position, operand_slots):
        rule: Rule | None = bind(node, position, mode, guarded, batch_ndim, xp)
        return None if rule is None else (operand_slots[position], rule)

    slot_of, sweep = sweep_edges(schedule.nodes, wrt, edge)
    swept = sum(schedule.nodes[slot].size for slot, _, _ in sweep)
    return Plan(schedule, sweep, [slot_of.get(node.index, -1) for node in wrt], list(schedule.output_slots), swept)


def push_tangents(plan: Plan, primal: list, seeds: dict[int, object]) -> list:
    """Forward mode: every slot's tangent (None where zero) from the seeds' (by slot).
    (Callers hold np.errstate(all="ignore"): IEEE arithmetic, no warnings.)"""
    tangent: list = [None] * len(primal)
    for slot, seed in seeds.items():
        tangent[slot] = seed
    for slot, operands, edges in plan.sweep:
        args = [primal[operand] for operand in operands]
        out = primal[slot]
        total = None
        for operand, rule in edges:
            incoming = tangent[operand]
            if incoming is None:
                continue
            contribution = rule(incoming, args, out)
            if contribution is not None:
                total = contribution if total is None else total + contribution
        tangent[slot] = total
    return tangent


def pull_cotangents(plan: Plan, primal: list, seeds: dict[int, object]) -> list:
    """Reverse mode: the cotangents that reach every slot the sweep does not pass
    through (the inputs), from the seeds' (by slot)."""
    adjoint: list = [None] * len(primal)
    for slot, seed in seeds.items():  # one per slot (the caller sums seeds that meet)
        adjoint[slot] = seed
    for slot, operands, edges in reversed(plan.sweep):
        cotangent = adjoint[slot]
        if cotangent is None:
            continue
        adjoint[slot] = None  # spent: its memory can go
        args = [primal[operand] for operand in operands]
        out = primal[slot]
        for operand, rule in edges:
            contribution = rule(cotangent, args, out)
            if contribution is None:
                continue
            previous = adjoint[operand]
            adjoint[operand] = contribution if previous is None else previous + contribution
    return adjoint
