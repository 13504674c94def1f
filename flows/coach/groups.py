"""Learning groups: /newgroup, /groups (members, removing a learner), /invite (link and QR
code), and for learners joining with `/start join_<code>` and choosing what to share
(/sharing)."""

from __future__ import annotations

import secrets
from typing import ClassVar

from flows import parsing
from flows.charts import Flyer, FlyerCode, flyer_files
from flows.coach.access import (
    CHANNEL_NAMES,
    StartLink,
    coached,
    own_membership,
    start_links,
)
from flows.coach.choice import GroupChoice, active_groups
from flows.coach.sessions import plan_reminders_for
from flows.engine import COACH, LEARNER, Context, Flow
from flows.i18n import N_
from flows.messages import Event, OutFile, parse_id
from storage.models import Group, Membership

MAX_GROUP_NAME = 80
MAX_PLACE = 120
SHARES = ("goals", "reflections", "evidence")
SHARE_LABELS = {
    "goals": N_("my goals"),
    "reflections": N_("my reflections"),
    "evidence": N_("my evidence"),
}


def parse_time(text: str) -> str | None:
    """Reads a time like 18:30, 9.15, 19h00 or 18u30 (flows/parsing.py) as "HH:MM", or None."""
    at = parsing.parse_time(text)
    return at.strftime("%H:%M") if at else None


def describe(ctx: Context, group: Group) -> str:
    """One line about a group: name, day, time and place, in the coach's language."""
    parts = [group.name]
    if group.session_weekday is not None:
        parts.append(ctx.t.weekday(group.session_weekday))
    if group.session_time:
        parts.append(group.session_time)
    if group.place:
        parts.append(group.place)
    return " · ".join(parts)


def no_camera(ctx: Context, link: StartLink, group: Group) -> str:
    """What a learner without a camera types instead of scanning the link's QR code."""
    if link.channel == "whatsapp":
        return ctx._(
            "No camera? Send this to {number} in WhatsApp: /start join_{code}",
            number=link.to,
            code=group.join_code,
        )
    # The handle is one placeholder, "@" included: in a right-to-left sentence an "@" outside
    # it would stand on the name's other side ("opstap_bot@").
    return ctx._(
        "No camera? Send this to {bot} in Telegram: /start join_{code}",
        bot=link.to,
        code=group.join_code,
    )


async def send_invite(ctx: Context, group: Group) -> None:
    """Says the group's join links (one per channel Opstap runs on) and sends a flyer with
    a QR code for each, the coach's own channel first (PNG and a one-page PDF); without the
    bot's name or number there is no link to put in one, and the coach is told what learners
    can type."""
    payload = f"join_{group.join_code}"
    links = start_links(ctx, payload)
    if not links:
        ctx.say(
            ctx._(
                "I do not know the bot's Telegram name or WhatsApp number yet, so I cannot "
                "make a link or a QR code. Learners can send this to the bot: /start join_{code}",
                code=group.join_code,
            )
        )
        return
    flyer = Flyer(
        heading=ctx._("Scan me to join"),
        group=group.name,
        details=describe(ctx, group).removeprefix(group.name).removeprefix(" · "),
        codes=tuple(
            FlyerCode(CHANNEL_NAMES[link.channel], link.url, no_camera(ctx, link, group))
            for link in links
        ),
        rtl=ctx.t.rtl,
    )
    png, pdf = await flyer_files(ctx.files, flyer, owner_id=ctx.user.id)
    first, *others = links
    text = ctx._(
        "Send this link to the learners of {group}, or print the flyer: {link}",
        group=group.name,
        link=first.url,
    )
    for other in others:
        text += "\n\n" + ctx._(
            "Learners who use {channel} can join with this link: {link}",
            channel=CHANNEL_NAMES[other.channel],
            link=other.url,
        )
    ctx.say(text, file=OutFile(png, kind="photo"))
    ctx.say(
        ctx._("The flyer as a page to print."),
        file=OutFile(pdf, kind="document", file_name=f"opstap-{group.join_code}.pdf"),
    )


class NewGroup(Flow):
    """Makes a learning group: name, session weekday and time, place."""

    name = "newgroup"
    commands: ClassVar = {"newgroup": N_("Make a new learning group")}
    menu: ClassVar = {"newgroup": N_("New group")}
    roles = frozenset({COACH})

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Asks the name of the new group."""
        await ctx.begin(self, "name")

    async def ask_name(self, ctx: Context) -> None:
        """Asks the name of the group."""
        ctx.say(ctx._("What is the name of the group?"))

    async def on_name(self, ctx: Context, event: Event) -> None:
        """Keeps the name and asks the weekday."""
        name = " ".join(event.text.split())
        if event.kind != "text" or not name or len(name) > MAX_GROUP_NAME:
            await ctx.invalid(
                ctx.n_(
                    "Please type a name of at most {limit} character.",
                    "Please type a name of at most {limit} characters.",
                    MAX_GROUP_NAME,
                    limit=MAX_GROUP_NAME,
                )
            )
            return
        ctx.data["name"] = name
        await ctx.go("weekday")

    async def ask_weekday(self, ctx: Context) -> None:
        """Asks the weekday of the sessions, one button per day."""
        days = [ctx.button(ctx.t.weekday_label(day), f"d:{day}") for day in range(7)]
        ctx.say(
            ctx._("On which day does the group meet?"),
            buttons=[
                days[0:3],
                days[3:5],
                days[5:7],
                [ctx.button(ctx._("No fixed day"), "d:-")],
                [ctx.way_out_button()],
            ],
        )

    async def on_weekday(self, ctx: Context, event: Event) -> None:
        """Keeps the weekday and asks the time."""
        value = (event.value or "").removeprefix("d:")
        if value == "-":
            ctx.data["weekday"] = None
        elif value.isdigit() and int(value) < 7:
            ctx.data["weekday"] = int(value)
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        await ctx.go("time")

    async def ask_time(self, ctx: Context) -> None:
        """Asks the start time: common times as buttons, or typed."""
        times = [ctx.button(t, f"t:{t}") for t in ("09:30", "13:30", "18:00", "19:00")]
        ctx.say(
            ctx._("At what time does it start? Tap one or type it, like 18:30."),
            buttons=[times, [ctx.way_out_button()]],
        )

    async def on_time(self, ctx: Context, event: Event) -> None:
        """Keeps the time and asks the place."""
        time = parse_time((event.value or "").removeprefix("t:") or event.text)
        if time is None:
            await ctx.invalid(ctx._("Please type the time like 18:30."))
            return
        ctx.data["time"] = time
        await ctx.go("place")

    async def ask_place(self, ctx: Context) -> None:
        """Asks where the group meets; it can be skipped."""
        ctx.say(
            ctx._("Where do you meet? Type the place."),
            buttons=[[ctx.button(ctx._("Skip"), "skip")], [ctx.way_out_button()]],
        )

    async def on_place(self, ctx: Context, event: Event) -> None:
        """Makes the group and shows its join link and QR code."""
        place = None if event.value == "skip" else " ".join(event.text.split())
        if event.value != "skip" and (not place or len(place) > MAX_PLACE):
            await ctx.invalid(
                ctx.n_(
                    "Please type a place of at most {limit} character.",
                    "Please type a place of at most {limit} characters.",
                    MAX_PLACE,
                    limit=MAX_PLACE,
                )
            )
            return
        group = await ctx.uow.groups.add(
            Group(
                name=ctx.data["name"],
                coach_id=ctx.user.id,
                join_code=secrets.token_urlsafe(12),
                session_weekday=ctx.data.get("weekday"),
                session_time=ctx.data.get("time"),
                place=place,
                created_at=ctx.now,
            )
        )
        ctx.say(ctx._("The group is ready: {group}", group=describe(ctx, group)))
        await send_invite(ctx, group)
        await ctx.finish()


class Groups(GroupChoice, Flow):
    """Lists the coach's groups; per group the members, with a way to remove one."""

    name = "groups"
    commands: ClassVar = {"groups": N_("Your groups and their learners")}
    menu: ClassVar = {"groups": N_("My groups")}
    roles = frozenset({COACH})
    action = "groups"

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Lists the groups, with a button per group."""
        groups = await active_groups(ctx)
        if not groups:
            ctx.say(ctx._("You have no groups yet. Make one with /newgroup."))
            await ctx.finish()
            return
        lines = [ctx._("Your groups:")]
        for group in groups:
            count = len(await ctx.uow.memberships.active_in(group.id))
            lines.append(
                "• "
                + describe(ctx, group)
                + " - "
                + ctx.n_("{n} learner", "{n} learners", count, n=count)
            )
        ctx.say("\n".join(lines))
        await ctx.begin(self, "group")

    async def with_group(self, ctx: Context, group: Group) -> None:
        """Shows the members of the chosen group."""
        ctx.data["group_id"] = group.id
        await ctx.go("members")

    async def ask_members(self, ctx: Context) -> None:
        """Shows the members of the chosen group, each with a button."""
        group = await ctx.uow.groups.get(ctx.data["group_id"])
        assert group is not None
        members = await ctx.uow.coaching.members(group.id)
        if not members:
            ctx.say(ctx._("Nobody has joined {group} yet. Send them /invite.", group=group.name))
        rows = [[ctx.button(user.display_name or "?", f"l:{user.id}")] for _, user in members]
        ctx.say(
            ctx._("{group}: tap a learner to see or remove them.", group=group.name),
            buttons=[*rows, [ctx.way_out_button()]],
        )

    async def on_members(self, ctx: Context, event: Event) -> None:
        """Opens a member, after checking they are in this coach's group."""
        value = event.value or ""
        if not value.startswith("l:"):
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        found = await coached(ctx, parse_id(value[2:]), action="member")
        if found is None or found.group.id != ctx.data.get("group_id"):
            await ctx.finish()
            return
        ctx.data["learner_id"] = found.learner.id
        await ctx.go("member")

    async def ask_member(self, ctx: Context) -> None:
        """Offers the profile or removing the learner from the group."""
        learner = await ctx.uow.users.get(ctx.data["learner_id"])
        name = learner.display_name if learner and learner.display_name else "?"
        ctx.say(
            name,
            buttons=[
                [ctx.command_button(ctx._("Open profile"), f"learner {ctx.data['learner_id']}")],
                [ctx.button(ctx._("Remove from the group"), "remove")],
                [ctx.way_out_button()],
            ],
        )

    async def on_member(self, ctx: Context, event: Event) -> None:
        """Removes the learner from the group after checking the coach owns it."""
        if event.value != "remove":
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        found = await coached(ctx, ctx.data.get("learner_id"), action="remove")
        if found is None:
            await ctx.finish()
            return
        found.membership.left_at = ctx.now
        found.membership.left_reason = "removed"
        await ctx.notify(
            found.learner.id,
            N_("Your coach took you out of the group {group}."),
            kind="group_removed",
            group=found.group.name,
        )
        ctx.say(
            ctx._(
                "{name} is no longer in {group}.",
                name=found.learner.display_name or "?",
                group=found.group.name,
            )
        )
        await ctx.finish()


class Invite(GroupChoice, Flow):
    """Gives a group's join link and QR code."""

    name = "invite"
    commands: ClassVar = {"invite": N_("The join link and QR code of a group")}
    menu: ClassVar = {"invite": N_("Invite learners")}
    roles = frozenset({COACH})
    action = "invite"

    async def with_group(self, ctx: Context, group: Group) -> None:
        """Sends the link and QR code of the chosen group."""
        await send_invite(ctx, group)
        await ctx.finish()


class Join(Flow):
    """A learner joins a group from its link and chooses what the coach may see."""

    name = "join"
    roles = frozenset({LEARNER})
    deep_links: ClassVar = ("join_",)

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Onboards first when needed (the code waits); else joins the group now."""
        if command == "start" and not (ctx.user.has_consented and ctx.user.display_name):
            await ctx.start_flow("onboarding", command="start", args=args)
            return
        if args.startswith("join_"):
            ctx.user.pending_join_code = args.removeprefix("join_")[:64]
        code = ctx.user.pending_join_code
        ctx.user.pending_join_code = None
        then_intake = command == "join"
        group = await ctx.uow.groups.by_join_code(code) if code else None
        if group is None or group.archived_at is not None:
            ctx.say(ctx._("This group link does not work. Please ask your coach for a new one."))
            await self._done(ctx, then_intake=then_intake)
            return
        current = await ctx.uow.memberships.active_for(ctx.user.id)
        if current is not None and current.group_id == group.id:
            ctx.say(ctx._("You are already in the group {group}.", group=group.name))
            await self._done(ctx, then_intake=then_intake)
            return
        # Nothing is shared until the learner switches it on.
        data = {"group_id": group.id, "intake": then_intake, "share": []}
        await ctx.begin(self, "move" if current is not None else "share", data=data)

    async def _done(self, ctx: Context, *, then_intake: bool) -> None:
        """Goes on to the intake after onboarding, else ends with the menu."""
        if then_intake and await ctx.start_flow("intake", command="start"):
            return
        await ctx.finish()

    async def ask_move(self, ctx: Context) -> None:
        """Asks whether to leave the current group for the new one."""
        group = await ctx.uow.groups.get(ctx.data["group_id"])
        assert group is not None
        ctx.say(
            ctx._(
                "You can be in one group at a time. Leave your group and join {group}?",
                group=group.name,
            ),
            buttons=[
                [
                    ctx.button(ctx._("Yes, move"), "yes"),
                    ctx.button(ctx._("No, stay"), "no"),
                ]
            ],
        )

    async def on_move(self, ctx: Context, event: Event) -> None:
        """Moves on to the sharing choice, or keeps the current group."""
        if event.value == "no":
            ctx.say(ctx._("Fine, you stay in your group."))
            await self._done(ctx, then_intake=ctx.data.get("intake", False))
        elif event.value == "yes":
            await ctx.go("share")
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def ask_share(self, ctx: Context) -> None:
        """Asks what the coach may see."""
        await ask_sharing(ctx, ctx.data["share"])

    async def on_share(self, ctx: Context, event: Event) -> None:
        """Toggles a share choice, or joins the group with the choices."""
        if await toggle_sharing(ctx, event, ctx.data["share"]):
            return
        group = await ctx.uow.groups.get(ctx.data["group_id"])
        assert group is not None
        current = await ctx.uow.memberships.active_for(ctx.user.id)
        if current is not None:
            current.left_at = ctx.now
            current.left_reason = "moved"
        if ctx.user.status == "left":
            ctx.user.status = "active"
        shares = set(ctx.data["share"])
        await ctx.uow.memberships.add(
            Membership(
                group_id=group.id,
                learner_id=ctx.user.id,
                joined_at=ctx.now,
                share_goals="goals" in shares,
                share_reflections="reflections" in shares,
                share_evidence="evidence" in shares,
            )
        )
        await plan_reminders_for(ctx, group=group, learner=ctx.user)
        await ctx.notify(
            group.coach_id,
            N_("{name} joined your group {group}."),
            kind="group_joined",
            about=ctx.user.id,
            name=ctx.user.display_name or "?",
            group=group.name,
        )
        ctx.say(
            ctx._(
                "Welcome to {group}! You can change what your coach sees with /sharing.",
                group=group.name,
            )
        )
        await self._done(ctx, then_intake=ctx.data.get("intake", False))


async def ask_sharing(ctx: Context, chosen: list[str]) -> None:
    """Asks what the coach may see, one toggle button per kind of data."""
    rows = [
        [ctx.button(("✅ " if kind in chosen else "⬜ ") + ctx._(SHARE_LABELS[kind]), f"s:{kind}")]
        for kind in SHARES
    ]
    ctx.say(
        ctx._(
            "What may your coach see? Tap to switch on or off. Your coach can help you "
            "better when they see your work."
        ),
        buttons=[*rows, [ctx.button(ctx._("Done"), "done")]],
    )


async def toggle_sharing(ctx: Context, event: Event, chosen: list[str]) -> bool:
    """Switches one choice and asks again (True), or returns False on "done"."""
    value = event.value or ""
    if value == "done":
        return False
    kind = value.removeprefix("s:")
    if kind not in SHARES:
        await ctx.invalid(ctx._("Please tap one of the buttons."))
        return True
    if kind in chosen:
        chosen.remove(kind)
    else:
        chosen.append(kind)
    ctx.save()
    await ctx.repeat(replace=True)
    return True


class Sharing(Flow):
    """Lets a learner change what their coach sees."""

    name = "sharing"
    commands: ClassVar = {"sharing": N_("Choose what your coach sees")}
    roles = frozenset({LEARNER})

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Shows the current choices as toggles."""
        membership = await own_membership(ctx)
        if membership is None:
            return
        chosen = [kind for kind in SHARES if getattr(membership, f"share_{kind}")]
        await ctx.begin(self, "share", data={"share": chosen})

    async def ask_share(self, ctx: Context) -> None:
        """Asks what the coach may see."""
        await ask_sharing(ctx, ctx.data["share"])

    async def on_share(self, ctx: Context, event: Event) -> None:
        """Toggles a choice, or stores them all."""
        if await toggle_sharing(ctx, event, ctx.data["share"]):
            return
        membership = await ctx.uow.memberships.active_for(ctx.user.id)
        if membership is not None:
            for kind in SHARES:
                setattr(membership, f"share_{kind}", kind in ctx.data["share"])
        ctx.say(ctx._("Saved. Your coach sees what you chose, and nothing else."))
        await ctx.finish()


__all__ = ["Groups", "Invite", "Join", "NewGroup", "Sharing"]
