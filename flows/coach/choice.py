"""Choosing one of the coach's groups: from a command argument, the only group, or a
question with one button per group (checked against forged buttons)."""

from __future__ import annotations

from typing import ClassVar

from flows.coach.access import Coached, coached, own_group
from flows.engine import Context, Flow
from flows.messages import Button, Event, parse_id
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


#: Learners per page when a coach picks one: 40 learners would be 40 buttons at once.
PICK_PAGE = 10


async def learner_buttons(ctx: Context, *, page: int = 0) -> list[list[Button]]:
    """One button per learner in the coach's groups (`l:<id>`), name and group, by group and
    name, `PICK_PAGE` at a time; a "More" button (`more`) when there are more."""
    rows = []
    for group in sorted(await active_groups(ctx), key=lambda g: g.name.casefold()):
        members = sorted(
            (user for _, user in await ctx.uow.coaching.members(group.id)),
            key=lambda u: (u.display_name or "").casefold(),
        )
        for user in members:
            rows.append([ctx.button(f"{user.display_name or '?'} ({group.name})", f"l:{user.id}")])
    start = page * PICK_PAGE if page * PICK_PAGE < len(rows) else 0
    shown = rows[start : start + PICK_PAGE]
    if len(rows) > start + PICK_PAGE:
        shown.append([ctx.button(ctx._("More"), "more")])
    return shown


async def next_page(ctx: Context, event: Event) -> bool:
    """Turns the page of a learner question when "More" was pressed; says whether it did."""
    if event.value != "more":
        return False
    ctx.data["page"] = ctx.data.get("page", 0) + 1
    await ctx.repeat(replace=True)
    return True


class GroupChoice(Flow):
    """Mixin for a flow: a step `group` that asks which of the coach's groups, checks the
    answer and hands it to `with_group`."""

    action: ClassVar[str] = "group"

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Goes on with the named or only group, or asks which group."""
        group = await choose_group(ctx, self, args, action=self.action)
        if group is not None:
            await self.with_group(ctx, group)

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


class LearnerChoice(Flow):
    """Mixin for a flow: a step `pick` that asks which of the coach's learners (ten at a time),
    checks the coach may act on the chosen one, and hands them to `with_learner`."""

    action: ClassVar[str] = "view"

    async def ask_pick(self, ctx: Context) -> None:
        """One button per learner of the coach's groups."""
        rows = await learner_buttons(ctx, page=ctx.data.get("page", 0))
        if not rows:
            ctx.say(ctx._("No learners in your groups yet. Send them /invite."))
            await ctx.finish(menu=False)
            return
        ctx.say(ctx._("Which learner?"), buttons=rows)

    async def on_pick(self, ctx: Context, event: Event) -> None:
        """Checks the chosen learner is the coach's, then goes on with them."""
        if await next_page(ctx, event):
            return
        value = event.value or ""
        if not value.startswith("l:"):
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        found = await coached(ctx, parse_id(value[2:]), action=self.action)
        if found is None:
            await ctx.finish()
            return
        await self.with_learner(ctx, found)

    async def with_learner(self, ctx: Context, found: Coached) -> None:
        """Goes on with the chosen learner."""
        raise NotImplementedError
