"""An op's VJP in words, one entry per input: what drawings and pages print.

Every Function declares its rule next to its `backward`:

    vjp_rule = VjpRule(
        {"a": "{g}·{b}", "b": "{g}·{a}"},
        plain="each input's gradient is the upstream gradient times the other input",
    )

An entry is the gradient of the loss with respect to that input, in the
order of the op's inputs, written with placeholders in braces: {g} is the
upstream gradient (the loss's gradient with respect to the op's result),
{a}, {b}, {x}, {W}... are the op's inputs by the names of the entries, and
{out} is the op's result. An entry of None is an input that gets no
gradient (a cross-entropy's target). `settings` names the op's settings
that the rule depends on, each with its default value (a setting at its
default is not mentioned: "stride 2, padding 1", not "dilation 1").

As a string, a rule reads with the placeholders as their plain names, as
docs/ops.md lists it: "dL/da = g·b, dL/db = g·a". `VjpRule.fill` writes it
with the real tensors' names and the op's settings instead:
"∂loss/∂conv.weight = input ⋆ ∂loss/∂conv_out (valid cross-correlation), stride 2, padding 1".
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["VjpRule"]

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _substitute(template: str, names: dict[str, str]) -> str:
    """Each {name} replaced by names[name] (by the plain name if it has none)."""
    return _PLACEHOLDER.sub(lambda match: names.get(match.group(1), match.group(1)), template)


def _setting_text(value: Any) -> str:
    """(2, 2) reads "2", (2, 1) reads "(2, 1)", None reads "all" (an axis of None: every axis)."""
    if value is None:
        return "all"
    if isinstance(value, (tuple, list)):
        if len(value) > 0 and all(v == value[0] for v in value):
            return str(value[0])
        return "(" + ", ".join(str(v) for v in value) + ")"
    return str(value)


def _at_default(value: Any, default: Any) -> bool:
    if default is None:
        return False  # no default: always mentioned
    if isinstance(value, (tuple, list)):
        return all(v == default for v in value)
    return bool(value == default)


class VjpRule(str):
    """An op's VJP rule: one entry per input, a plain-English line, and the
    settings it depends on. It is also the string docs/ops.md lists."""

    entries: dict[str, str | None]
    plain: str
    settings: dict[str, Any]

    def __new__(cls, entries: dict[str, str | None], plain: str, settings: dict[str, Any] | None = None) -> VjpRule:
        parts = [f"dL/d{name} = {_substitute(text, {})}" for name, text in entries.items() if text is not None]
        rule = super().__new__(cls, ", ".join(parts))
        rule.entries = dict(entries)
        rule.plain = plain
        rule.settings = dict(settings or {})
        return rule

    def templates(self, n_inputs: int) -> list[str]:
        """Each input's entry as a string with plain names ("dL/dW = x ⋆ g ..."),
        "" for an input that gets no gradient. An op with any number of inputs
        (concatenate) declares one entry, which every input gets."""
        entries = list(self.entries.items())
        if len(entries) == 1 and n_inputs > 1:
            entries = entries * n_inputs
        texts = []
        for name, text in entries[:n_inputs]:
            texts.append("" if text is None else f"dL/d{name} = {_substitute(text, {})}")
        return texts

    def fill(self, root: str, inputs: list[str], output: str, settings: dict[str, Any]) -> list[str]:
        """Each input's entry with the real names: the loss `root`, the op's
        input tensors `inputs` (in order), its result `output` and its
        settings. "" for an input that gets no gradient."""
        entries = list(self.entries.items())
        if len(entries) == 1 and len(inputs) > 1:
            entries = entries * len(inputs)
        names = {"g": f"∂{root}/∂{output}", "out": output}
        names.update({name: input_name for (name, _), input_name in zip(entries, inputs)})
        mentioned = [
            f"{name} {_setting_text(settings[name])}"
            for name, default in self.settings.items()
            if name in settings and not _at_default(settings[name], default)
        ]
        lines = []
        for (name, text), input_name in zip(entries, inputs):
            if text is None:
                lines.append("")
                continue
            line = f"∂{root}/∂{input_name} = {_substitute(text, names | {name: input_name})}"
            lines.append(", ".join([line] + mentioned))
        return lines
