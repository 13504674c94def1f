"""Small answers shared by several flows."""

from __future__ import annotations

from flows.engine import Context
from flows.messages import Event

#: Button values that pick one of the earlier answers kept in `ctx.data["choices"]`.
CHOICE_PREFIX = "o:"


async def short_answer(ctx: Context, event: Event, *, limit: int) -> str | None:
    """A short typed answer (an organisation, a role), or an earlier one chosen by button
    (`ctx.data["choices"]`, offered as `o:<index>`); None after asking again kindly."""
    choices: list[str] = ctx.data.get("choices") or []
    value = " ".join(event.text.split())
    number = (event.value or "").removeprefix(CHOICE_PREFIX)
    if event.value and event.value.startswith(CHOICE_PREFIX) and number.isdigit():
        index = int(number)
        value = choices[index] if index < len(choices) else ""
    if not value:
        await ctx.invalid(ctx._("Please type a name, or tap one of the buttons."))
        return None
    if len(value) > limit:
        await ctx.invalid(
            ctx.n_(
                "Please keep it under {limit} character.",
                "Please keep it under {limit} characters.",
                limit,
                limit=limit,
            )
        )
        return None
    return value
