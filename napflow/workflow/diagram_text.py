"""Workflow outlines for people: a plain-text listing and a Mermaid state diagram.

transitions' own GraphMachine can draw Mermaid too, but its labels carry only trigger names;
coordinators need to see who may fire each trigger and under which conditions, so the
diagram is written from the definition here.
"""

from __future__ import annotations

from napflow.workflow.definition import TransitionDef, WorkflowDefinition


def _rule(t: TransitionDef) -> str:
    parts = [" or ".join(t.roles)]
    if t.after_days is not None:
        parts = [f"by napflow, {t.after_days} days after entering"]
    elif t.on_missed is not None:
        parts = [f"by napflow, when the {t.on_missed} deadline is missed"]
    parts.extend(c.describe() for c in t.conditions)
    return "; ".join(parts)


def text_outline(definition: WorkflowDefinition) -> str:
    """Return states and transitions as indented text, one transition per line."""
    lines = [
        f"{definition.title} (workflow {definition.name} v{definition.version})",
        "",
        "Roles:",
        *(f"  {name}: {text}" for name, text in definition.roles),
        "",
        "States and transitions:",
    ]
    for state in definition.states:
        marks = []
        if state.name == definition.initial:
            marks.append("initial")
        if state.final:
            marks.append("final")
        suffix = f" ({', '.join(marks)})" if marks else ""
        lines.append(f"  {state.name}{suffix}: {state.title}")
        for t in definition.transitions_from(state.name):
            dest = "(stays)" if t.dest is None else f"-> {t.dest}"
            lines.append(f"    {t.trigger} {dest}  [{_rule(t)}]")
    return "\n".join(lines)


def _label(text: str) -> str:
    # Mermaid labels end at a newline and treat ':' and ';' specially.
    return text.replace("\n", " ").replace(":", " ").replace(";", ",")


def mermaid(definition: WorkflowDefinition) -> str:
    """Return a Mermaid ``stateDiagram-v2`` of the workflow, roles and conditions on edges."""
    lines = [
        "---",
        f"title: {_label(definition.title)}",
        "---",
        "stateDiagram-v2",
        "  direction LR",
    ]
    lines.extend(f'  state "{_label(s.title)}" as {s.name}' for s in definition.states)
    lines.append(f"  [*] --> {definition.initial}")
    for t in definition.transitions:
        for src in t.sources:
            dest = src if t.dest is None else t.dest
            lines.append(f"  {src} --> {dest}: {t.trigger} ({_label(_rule(t))})")
    lines.extend(f"  {s.name} --> [*]" for s in definition.states if s.final)
    return "\n".join(lines)
