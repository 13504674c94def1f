"""Choosing one of the coach's groups: from a command argument, the only group, or a
question with one button per group (checked against forged buttons)."""

from __future__ import annotations

from typing import ClassVar

from flows.coach.access import own_group, parse_id
from flows.engine import Context, Flow
from flows.messages import Button, Event
from storage.models import Group


async def active_groups(ctx: Context) -> list[Group]:
    """The coach's groups that are not archived."""
    return [g for g in await ctx.uow.groups.of_coach(ctx.user.id) if g.archived_at is None]


async def choose_group(ctx: Context, flow: Flow, args: str, *, action: str) -> Group | None:
    """The coach's group named by `args`, or their only group; else None after asking which
    one (the flow's `group` step) or saying there is none."""
    group_id = parse_id(args)
    if group_id is not None:
        group = await own_group(ctx, group_id, action=action)
        if group is None:
            await ctx.finish()
        return group
    groups = await active_groups(ctx)
    if not groups:
        ctx.say(ctx._("You have no groups yet. Make one with /newgroup."))
        await ctx.finish()
        return None
    if len(groups) == 1:
        return groups[0]
    await ctx.begin(flow, "group")
    return None


async def learner_buttons(ctx: Context, *, limit: int = 50) -> list[list[Button]]:
    """One button per learner in the coach's groups (`l:<id>`), name and group."""
    rows = []
    for group in await active_groups(ctx):
        for _, user in await ctx.uow.coaching.members(group.id):
            rows.append([ctx.button(f"{user.display_name or '?'} ({group.name})", f"l:{user.id}")])
    return rows[:limit]


class GroupChoice:
    """Mixin for a flow: a step `group` that asks which of the coach's groups, checks the
    answer and hands it to `with_group`."""

    action: ClassVar[str] = "group"

    async def ask_group(self, ctx: Context) -> None:
        """One button per group."""
        groups = await active_groups(ctx)
        ctx.say(ctx._("Which group?"), buttons=[[ctx.button(g.name, f"g:{g.id}")] for g in groups])

    async def on_group(self, ctx: Context, event: Event) -> None:
        """Checks the coach owns the chosen group, then goes on with it."""
        value = event.value or ""
        if not value.startswith("g:"):
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        group = await own_group(ctx, parse_id(value[2:]), action=self.action)
        if group is None:
            await ctx.finish()
            return
        await self.with_group(ctx, group)

    async def with_group(self, ctx: Context, group: Group) -> None:
        """Goes on with the chosen group."""
        raise NotImplementedError
