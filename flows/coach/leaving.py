"""/stop: a learner leaves the programme, optionally saying why (the drop-out reasons of the
pilot, in plain words); the coach is told, with the reason, and coordinators see the totals."""

from __future__ import annotations

from typing import ClassVar

from flows import signals
from flows.engine import LEARNER, Context, Flow
from flows.i18n import N_
from flows.messages import Event
from flows.nudges import translated

#: Drop-out reasons (DOMAIN.md, report 6.2), as the learner chooses them.
REASONS = {
    "work_family": N_("Work and family take too much time"),
    "job": N_("Too much pressure at work, or a new job"),
    "health": N_("My health"),
    "language": N_("The Dutch is too hard for me"),
    "level": N_("The level does not fit me"),
    "duration": N_("It takes too long"),
    "expectations": N_("It is not what I expected"),
    "motivation": N_("I lost my motivation"),
    "urgency": N_("I do not need it any more"),
    "confidence": N_("I do not feel confident enough"),
    "none": N_("I would rather not say"),
}
#: The older two-message notice, kept in the catalogs for rows already queued with it.
RETIRED = (N_("{name} left the group {group}. The reason follows."),)


class Stop(Flow):
    """A learner leaves, and may say why."""

    name = "stop"
    commands: ClassVar = {"stop": N_("Leave the programme")}
    roles = frozenset({LEARNER})

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Asks to confirm first."""
        await ctx.begin(self, "confirm")

    async def ask_confirm(self, ctx: Context) -> None:
        """Asks whether the learner really wants to stop."""
        ctx.say(
            ctx._(
                "Do you want to stop with Opstap? Your data stays until you delete it "
                "with /delete. You can come back with /start."
            ),
            buttons=[
                [ctx.button(ctx._("Yes, I stop"), "yes")],
                [ctx.button(ctx._("No, I go on"), "no")],
            ],
        )

    async def on_confirm(self, ctx: Context, event: Event) -> None:
        """Goes on to the reason, or keeps the learner in."""
        if event.value == "no":
            ctx.say(ctx._("Good to have you here!"))
            await ctx.finish()
        elif event.value == "yes":
            await ctx.go("reason")
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def ask_reason(self, ctx: Context) -> None:
        """Offers the reasons as buttons; saying none is one of them. Back returns to the
        question before: "Yes, I stop" tapped by mistake is not the end yet."""
        ctx.say(
            ctx._("May I ask why? It helps us do better. You do not have to say."),
            buttons=[
                *([ctx.button(ctx._(label), key)] for key, label in REASONS.items()),
                [ctx.way_out_button()],
            ],
        )

    async def on_reason(self, ctx: Context, event: Event) -> None:
        """Ends the membership, records the reason and tells the coach."""
        reason = event.value or ""
        if reason not in REASONS:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        membership = await ctx.uow.memberships.active_for(ctx.user.id)
        group = await ctx.uow.groups.get(membership.group_id) if membership else None
        if membership is not None:
            membership.left_at = ctx.now
            membership.left_reason = reason
        ctx.user.status = "left"
        await ctx.signal(signals.LEFT, reason=reason)
        if group is not None:
            # One message, the reason in the coach's language: two could arrive swapped.
            await ctx.notify(
                group.coach_id,
                N_("{name} left the group {group}. Their reason: “{reason}”"),
                kind="learner_left",
                about=ctx.user.id,
                dedup_key=f"left:{membership.id if membership else 0}",
                name=ctx.user.display_name or "",
                group=group.name,
                reason=translated(REASONS[reason]),
            )
        await ctx.finish(menu=False)
        ctx.say(ctx._("Thank you for everything you did. Good luck! Send /start to come back."))
