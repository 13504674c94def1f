"""Personal messages between a coach and a learner: the coach writes (/message, or from the
risk list), the learner gets it with the coach's name and a reply button (/reply), and the
reply goes back to the coach with an answer button. Both go through the outbox."""

from __future__ import annotations

from typing import ClassVar

from flows.coach.access import Coached, coached
from flows.coach.choice import LearnerChoice
from flows.coach.prompts import VOICE
from flows.coach.risk import coach_contact
from flows.engine import COACH, LEARNER, Context, Flow
from flows.i18n import N_
from flows.messages import Event, OutFile, parse_id
from flows.uploads import UploadRejected, rejection_text, store_upload

MAX_MESSAGE = 2000


def voice_key(*, upload_id: int, coach_id: int) -> str:
    """The outbox key of a voice note relayed to a coach; it is also the coach's permission
    to listen to that one upload."""
    return f"voice:{upload_id}:{coach_id}"


def message_text(ctx: Context, event: Event) -> str | None:
    """The typed message, or None after saying what did not fit."""
    text = event.text.strip()
    if event.kind != "text" or not text:
        ctx.say(ctx._("Please type your message."))
        return None
    if len(text) > MAX_MESSAGE:
        ctx.say(
            ctx.n_(
                "Please keep it under {limit} character.",
                "Please keep it under {limit} characters.",
                MAX_MESSAGE,
                limit=MAX_MESSAGE,
            )
        )
        return None
    return text


class CoachMessage(LearnerChoice, Flow):
    """A coach writes a personal message to one of their learners."""

    name = "message"
    commands: ClassVar = {"message": N_("Write a personal message to a learner")}
    roles = frozenset({COACH})

    action = "message"

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Checks the learner is the coach's, then asks for the message."""
        if parse_id(args) is None:
            await ctx.begin(self, "pick")
            return
        found = await coached(ctx, parse_id(args), action="message")
        if found is None:
            await ctx.finish()
            return
        await ctx.begin(self, "text", data={"learner_id": found.learner.id})

    async def with_learner(self, ctx: Context, found: Coached) -> None:
        """Asks for the message to the chosen learner."""
        ctx.data["learner_id"] = found.learner.id
        await ctx.go("text")

    async def ask_text(self, ctx: Context) -> None:
        """Asks for the message."""
        learner = await ctx.uow.users.get(ctx.data["learner_id"])
        ctx.say(
            ctx._(
                "Type your message to {name}. I send it in your name.",
                name=learner.display_name if learner and learner.display_name else "?",
            )
        )

    async def on_text(self, ctx: Context, event: Event) -> None:
        """Relays the message with the coach's name and logs the contact."""
        text = message_text(ctx, event)
        if text is None:
            await ctx.repeat()
            return
        found = await coached(ctx, ctx.data.get("learner_id"), action="message")
        if found is None:
            await ctx.finish()
            return
        await ctx.notify(
            found.learner.id,
            N_("Message from your coach {coach}:\n\n{text}"),
            kind="coach_message",
            buttons=[[N_("Reply"), "reply"]],
            coach=ctx.user.display_name or "",
            text=text,
        )
        await coach_contact(ctx, found.learner.id, "message")
        ctx.say(ctx._("Sent. Their answer comes to you here."))
        await ctx.finish()


class LearnerReply(Flow):
    """A learner writes to their coach; the coach gets it with an answer button."""

    name = "reply"
    commands: ClassVar = {"reply": N_("Write to your coach")}
    roles = frozenset({LEARNER})

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Asks for the message, if the learner has a coach."""
        coach_id = await ctx.uow.memberships.coach_id_for(ctx.user.id)
        if coach_id is None:
            ctx.say(ctx._("You are not in a group. Your coach gives you a link to join."))
            await ctx.finish()
            return
        await ctx.begin(self, "text", data={"coach_id": coach_id})

    async def ask_text(self, ctx: Context) -> None:
        """Asks for the message."""
        coach = await ctx.uow.users.get(ctx.data["coach_id"])
        ctx.say(
            ctx._(
                "What do you want to tell {coach}? Type your message, or send a voice note.",
                coach=coach.display_name if coach and coach.display_name else "?",
            )
        )

    async def on_text(self, ctx: Context, event: Event) -> None:
        """Relays the message (text or a voice note) to the coach of the learner's group."""
        coach_id = await ctx.uow.memberships.coach_id_for(ctx.user.id)
        if coach_id is None:
            await ctx.finish()
            return
        if event.kind in ("voice", "audio") and event.file is not None:
            try:
                upload, _ = await store_upload(ctx, event.file, accept=VOICE)
            except UploadRejected as error:
                await ctx.invalid(rejection_text(ctx, error))
                return
            await ctx.notify(
                coach_id,
                N_("{name} sent you a voice note."),
                kind="learner_voice",
                about=ctx.user.id,
                dedup_key=voice_key(upload_id=upload.id, coach_id=coach_id),
                buttons=[
                    [N_("Listen"), f"listen {upload.id}"],
                    [N_("Answer"), f"message {ctx.user.id}"],
                ],
                name=ctx.user.display_name or "",
            )
            ctx.say(ctx._("Sent to your coach."))
            await ctx.finish()
            return
        text = message_text(ctx, event)
        if text is None:
            await ctx.repeat()
            return
        await ctx.notify(
            coach_id,
            N_("{name} wrote to you:\n\n{text}"),
            kind="learner_message",
            about=ctx.user.id,
            buttons=[[N_("Answer"), f"message {ctx.user.id}"]],
            name=ctx.user.display_name or "",
            text=text,
        )
        ctx.say(ctx._("Sent to your coach."))
        await ctx.finish()


class Listen(Flow):
    """A coach listens to a voice note a learner sent them."""

    name = "listen"
    commands: ClassVar = {"listen": N_("Listen to a voice note from a learner")}
    roles = frozenset({COACH})

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Sends the recording, if it was sent to this coach by one of their learners."""
        upload_id = parse_id(args)
        upload = await ctx.uow.uploads.get(upload_id) if upload_id is not None else None
        key = voice_key(upload_id=upload_id or 0, coach_id=ctx.user.id)
        relayed = upload is not None and await ctx.uow.outbox.by_dedup_key(key) is not None
        found = await coached(
            ctx, upload.owner_id if upload and relayed else None, action="listen"
        )
        if found is None or upload is None:
            await ctx.finish()
            return
        ctx.say(
            found.learner.display_name or "?",
            file=OutFile(ctx.files.path(upload.relpath), kind="document"),
        )
        await ctx.finish()
