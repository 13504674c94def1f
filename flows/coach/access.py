"""Who may see what: every coach action goes through these checks, which log each look at a
learner and each refusal (a log line and an access-log row the learner can see)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import quote

from flows.engine import Context
from storage.models import AccessLog, Group, Membership, User
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Coached:
    """A learner the coach may act on: the learner, their active membership and group."""

    learner: User
    membership: Membership
    group: Group


#: The channels' own names, the same in every language.
CHANNEL_NAMES = {"telegram": "Telegram", "whatsapp": "WhatsApp"}


@dataclass(frozen=True)
class StartLink:
    """A link that opens a chat with Opstap with `/start <payload>` ready to send."""

    channel: str  # "telegram" or "whatsapp"
    url: str
    #: Whom to send `/start <payload>` to by hand: "@opstap_bot", "+32 470 12 34 56".
    to: str


def digits(number: str) -> str:
    """A phone number's digits: "+32 470 12 34 56" -> "32470123456"."""
    return re.sub(r"\D", "", number)


def telegram_link(username: str | None, payload: str) -> str:
    """Telegram's deep link: the bot starts with `payload`; `<bot>` stands in where the
    username is unknown."""
    return f"https://t.me/{username or '<bot>'}?start={payload}"


def whatsapp_link(number: str | None, payload: str) -> str:
    """WhatsApp's link to a chat with the business number, `/start <payload>` typed in (the
    learner taps send); `<number>` stands in where the number is unknown."""
    text = quote(f"/start {payload}", safe="")
    return f"https://wa.me/{digits(number or '') or '<number>'}?text={text}"


def start_links(ctx: Context, payload: str) -> list[StartLink]:
    """One link per channel whose bot name or number is known, the asker's own channel
    first."""
    links = []
    username, number = ctx.config.bot_username, ctx.config.whatsapp_number
    if username:
        links.append(StartLink("telegram", telegram_link(username, payload), f"@{username}"))
    if number and digits(number):
        shown = number if number.startswith("+") else f"+{digits(number)}"
        links.append(StartLink("whatsapp", whatsapp_link(number, payload), shown))
    return sorted(links, key=lambda link: link.channel != ctx.user.channel)


async def record(
    ctx: Context,
    action: str,
    *,
    learner_id: int | None = None,
    group_id: int | None = None,
    allowed: bool = True,
    detail: str | None = None,
    uow: UnitOfWork | None = None,
) -> None:
    """Writes one access-log row for the current coach (in `uow`, by default the event's)."""
    await (uow or ctx.uow).access_log.add(
        AccessLog(
            coach_id=ctx.user.id,
            what=action,
            at=ctx.now,
            learner_id=learner_id,
            group_id=group_id,
            allowed=allowed,
            detail=detail,
        )
    )


async def refuse(
    ctx: Context, action: str, *, learner_id: int | None = None, group_id: int | None = None
) -> None:
    """Logs a refused coach action and tells the coach kindly."""
    log.warning(
        "refused coach action %s of user %s on learner %s / group %s",
        action,
        ctx.user.id,
        learner_id,
        group_id,
    )
    learner = await ctx.uow.users.get(learner_id) if learner_id is not None else None
    group = await ctx.uow.groups.get(group_id) if group_id is not None else None
    await record(
        ctx,
        action,
        learner_id=learner.id if learner else None,
        group_id=group.id if group else None,
        allowed=False,
    )
    ctx.say(ctx._("You can only do this for your own groups and learners."))


async def own_group(ctx: Context, group_id: int | None, *, action: str) -> Group | None:
    """The group if the current user coaches it; else None, logged and said."""
    group = await ctx.uow.groups.get(group_id) if group_id is not None else None
    if group is None or group.coach_id != ctx.user.id or group.archived_at is not None:
        await refuse(ctx, action, group_id=group_id)
        return None
    return group


async def coached(
    ctx: Context, learner_id: int | None, *, action: str, share: str | None = None
) -> Coached | None:
    """The learner if they are in one of the coach's groups (and share `share`, when given).

    Every allowed call is recorded in the access log too, so learners see who looked.
    """
    learner = await ctx.uow.users.get(learner_id) if learner_id is not None else None
    membership = await ctx.uow.memberships.active_for(learner.id) if learner else None
    group = await ctx.uow.groups.get(membership.group_id) if membership else None
    if (
        learner is None
        or membership is None
        or group is None
        or group.coach_id != ctx.user.id
        or (share is not None and not getattr(membership, f"share_{share}", False))
    ):
        await refuse(ctx, action, learner_id=learner_id)
        return None
    await record(ctx, action, learner_id=learner.id, group_id=group.id, detail=share)
    return Coached(learner=learner, membership=membership, group=group)


async def own_membership(ctx: Context) -> Membership | None:
    """The learner's active membership; else None, after saying kindly how to join."""
    membership = await ctx.uow.memberships.active_for(ctx.user.id)
    if membership is None:
        ctx.say(ctx._("You are not in a group. Your coach gives you a link to join."))
        await ctx.finish()
    return membership
