"""Becoming a coach: one-time invitations (`opstap coach-invite`), opened with the deep link
`/start coach_<code>`, then a short coach consent and the name learners will see."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import ClassVar

from flows.engine import COACH, COORDINATOR, EVERYONE, OPEN_COMMANDS, Context, Flow
from flows.i18n import N_
from flows.messages import Event, Reply
from flows.onboarding import CONSENT_VERSION, MAX_NAME_LENGTH, LanguageStep
from storage.models import CoachInvite, CoachInviteFailure
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

INVITE_VALID = timedelta(days=7)
#: Failed attempts allowed per user per hour.
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(hours=1)
CODE = re.compile(r"^coach_([A-Za-z0-9_-]{16,64})$")


def hash_code(code: str) -> str:
    """The stored form of an invitation code."""
    return hashlib.sha256(code.encode()).hexdigest()


async def create_invite(
    uow: UnitOfWork, *, now: datetime, name: str | None = None, role: str = COACH
) -> str:
    """Stores a new invitation (hashed) for a coach or a coordinator and returns its code:
    128 random bits."""
    if role not in (COACH, COORDINATOR):
        raise ValueError(f"an invitation is for a coach or a coordinator, not {role!r}")
    code = secrets.token_urlsafe(16)
    await uow.coach_invites.add(
        CoachInvite(
            code_hash=hash_code(code),
            expires_at=now + INVITE_VALID,
            name=name,
            created_at=now,
            role=role,
        )
    )
    return code


class BecomeCoach(LanguageStep, Flow):
    """Opens a coach invitation: checks it, makes the user a coach, asks consent and name."""

    name = "become_coach"
    roles = EVERYONE
    deep_links: ClassVar = ("coach_",)

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Checks the code (rate-limited), uses it up and starts the coach introduction."""
        since = ctx.now - FAILURE_WINDOW
        failures = await ctx.uow.coach_invites.failures_since(user_id=ctx.user.id, since=since)
        if failures >= MAX_FAILURES:
            log.warning("coach code attempts blocked for user %s", ctx.user.id)
            ctx.say(ctx._("Too many wrong codes. Please wait an hour and try again."))
            return
        match = CODE.match(args.strip())
        invite = await ctx.uow.coach_invites.by_hash(hash_code(match.group(1))) if match else None
        if invite is None or invite.used_at is not None or invite.expires_at <= ctx.now:
            await ctx.uow.coach_invites.add_failure(
                CoachInviteFailure(user_id=ctx.user.id, at=ctx.now)
            )
            log.warning("wrong, used or expired coach code from user %s", ctx.user.id)
            ctx.say(
                ctx._(
                    "This coach link does not work: it is wrong, used or expired. "
                    "Please ask for a new one."
                )
            )
            return
        if ctx.user.role == (invite.role or COACH):
            ctx.say(ctx._("You are a coach already."))
            return
        invite.used_at = ctx.now
        invite.used_by = ctx.user.id
        ctx.user.role = invite.role or COACH
        ctx.user.status = "active"
        ctx.user.pending_join_code = None
        first = "consent" if ctx.user.language_chosen else "language"
        await ctx.begin(self, first, data={"name": invite.name})

    async def ask_consent(self, ctx: Context) -> None:
        """Says what a coach sees and that every look is logged. Back returns to the
        language; "Not now" leaves it for later (a coach command asks again: `gate`)."""
        if ctx.user.role == COORDINATOR:
            ctx.say(
                ctx._(
                    "Welcome, coordinator! With Opstap you see the numbers of every learning "
                    "group: who joined, who takes part, who left and why."
                )
            )
            ctx.say(
                ctx._(
                    "You see numbers, not what learners write or send. Do you agree to use "
                    "them only to follow the programme?"
                ),
                buttons=[[ctx.button(ctx._("Yes, I agree"), "yes")], [ctx.way_out_button()]],
            )
            return
        ctx.say(
            ctx._(
                "Welcome, coach! With Opstap you follow your learning groups: who needs "
                "attention and why, their goals, reflections and evidence."
            )
        )
        ctx.say(
            ctx._(
                "You see only the learners of your own groups, and only what they choose to "
                "share. Each time you open a learner's data, this is logged and the learner "
                "can see it. Do you agree?"
            ),
            buttons=[[ctx.button(ctx._("Yes, I agree"), "yes")], [ctx.way_out_button()]],
        )

    async def on_consent(self, ctx: Context, event: Event) -> None:
        """Stores the coach's consent and asks for the name learners will see."""
        if event.value != "yes":
            await ctx.invalid(ctx._("Please tap the button when you agree."))
            return
        ctx.user.consent_version = CONSENT_VERSION
        ctx.user.consent_at = ctx.now
        await ctx.go("name")

    async def ask_name(self, ctx: Context) -> None:
        """Asks the name learners see, offering the one from the invitation."""
        name = ctx.data.get("name")
        buttons = [[ctx.button(name, "keep")]] if name else []
        ctx.say(ctx._("Which name should your learners see?"), buttons=buttons)

    async def on_name(self, ctx: Context, event: Event) -> None:
        """Stores the name and shows the coach menu and commands."""
        name = ctx.data.get("name") if event.value == "keep" else " ".join(event.text.split())
        if not name:
            await ctx.invalid(ctx._("Please type the name you want learners to see."))
            return
        if len(name) > MAX_NAME_LENGTH:
            await ctx.invalid(
                ctx.n_(
                    "That name is a bit long. Please use at most {limit} character.",
                    "That name is a bit long. Please use at most {limit} characters.",
                    MAX_NAME_LENGTH,
                    limit=MAX_NAME_LENGTH,
                )
            )
            return
        ctx.user.display_name = name
        then = ctx.data.get("then")
        text = (
            ctx._("Done, {name}. Start with /newgroup to make a learning group.", name=name)
            if ctx.user.role == COACH
            else ctx._("Done, {name}. Send /stats for the numbers of every group.", name=name)
        )
        if then:
            text = ctx._("Thank you, {name}. Let us go on.", name=name)
        ctx.replies.append(
            Reply(text=text, rtl=ctx.t.rtl, command_menu=(ctx.user.role, ctx.user.language))
        )
        await ctx.finish(menu=not then)
        if then:  # the command the missing consent held back
            await ctx.run_command(str(then[0]), str(then[1]))

    async def gate(self, ctx: Context, event: Event) -> bool:
        """A coach or coordinator who never agreed to the coach consent is asked for it
        before any coach command; the command runs right after."""
        user = ctx.user
        if user.role not in (COACH, COORDINATOR) or user.has_consented:
            return False
        if event.kind == "command":
            command, args = event.command or "", event.text
        elif event.kind == "button" and (event.value or "").startswith("/"):
            command, _, args = (event.value or "")[1:].partition(" ")
        else:
            return False
        if command in OPEN_COMMANDS or command not in ctx.engine.commands:
            return False
        ctx.say(ctx._("Before you go on, please read this and agree."))
        name = ctx.data.get("name") if ctx.conversation.flow == self.name else None
        data = {"name": name or user.display_name, "then": [command, args]}
        await ctx.begin(self, "consent", data=data)
        return True


class CoachMenu(Flow):
    """The coach's menu: what they can do, as buttons."""

    name = "coach"
    commands: ClassVar = {"coach": N_("Your coach menu")}
    roles = frozenset({COACH})

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Shows the coach menu, after the coach's consent if it is still missing."""
        if not ctx.user.has_consented:
            flow = ctx.engine.flows["become_coach"]
            await ctx.begin(flow, "consent", data={"name": ctx.user.display_name})
            return
        await ctx.finish()
