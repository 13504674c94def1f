"""The learner sees what Opstap heard in their voice note, and keeps or corrects it.

When a voice note arrives with a transcript (flows/transcription.py), `offer_transcript` shows
it ("I heard: ...") with two buttons that run `/heard keep <id>` or `/heard fix <id>`. They
are command buttons, so they stay usable while the flow that took the voice note goes on to its
next question. "Keep" marks the transcript as checked and asks the current question again;
"Correct" steps aside into this flow, takes the typed words as the transcript (checked and
corrected by the learner), and then returns to the place the learner left.
"""

from __future__ import annotations

from typing import Any, ClassVar

from flows.engine import LEARNER, Context, Flow
from flows.i18n import N_, shorten
from flows.messages import Event, parse_id
from storage.models import Upload

#: The transcript in the "I heard" message is cut to this many characters (all is kept).
SHOWN = 1000


def offer_transcript(ctx: Context, upload: Upload) -> None:
    """Shows what was heard in a voice note that just arrived, with Keep and Correct."""
    if not upload.transcript or upload.transcript_checked:
        return
    ctx.say(
        ctx._("I heard: “{text}”", text=shorten(upload.transcript, SHOWN)),
        buttons=[
            [ctx.command_button(ctx._("Keep it"), f"heard keep {upload.id}")],
            [ctx.command_button(ctx._("Correct it"), f"heard fix {upload.id}")],
        ],
    )


class HeardFlow(Flow):
    """Keeps or corrects the transcript of one of the learner's voice notes."""

    name = "heard"
    commands: ClassVar = {"heard": N_("Check what I heard in a voice note")}
    roles = frozenset({LEARNER})
    listed = False  # reached through the buttons under "I heard: …"

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Keeps the transcript, or asks for the right words."""
        action, _, number = args.strip().partition(" ")
        if not action:
            await self.offer_latest(ctx)
            return
        upload = await self.transcribed(ctx, parse_id(number))
        if upload is None or action not in ("keep", "fix"):
            ctx.say(ctx._("This question is closed."))
            await ctx.repeat()
            return
        if ctx.conversation.flow == self.name:  # "Correct" twice: return where they were
            place = ctx.data.get("place")
        else:
            place = ctx.suspended()
            self.forget_draft(ctx, place)
        if action == "fix":
            await ctx.begin(self, "fix", data={"upload": upload.id, "place": place})
            return
        upload.transcript_checked = True
        ctx.say(ctx._("Good. I keep it like this."))
        if ctx.conversation.flow != self.name:
            await ctx.repeat()
        elif not await ctx.resume(place):
            await ctx.finish()

    async def offer_latest(self, ctx: Context) -> None:
        """`/heard` typed: shows the newest transcript the learner has not checked yet."""
        unchecked = [
            upload
            for upload in await ctx.uow.uploads.of_owner(ctx.user.id)
            if upload.transcript and not upload.transcript_checked
        ]
        if unchecked:
            offer_transcript(ctx, max(unchecked, key=lambda upload: upload.id))
        else:
            ctx.say(ctx._("There is no transcript for you to check."))
        await ctx.repeat()

    async def transcribed(self, ctx: Context, upload_id: int | None) -> Upload | None:
        """The learner's own voice note with a transcript, or None."""
        upload = await ctx.uow.uploads.get(upload_id) if upload_id is not None else None
        if upload is None or upload.owner_id != ctx.user.id or not upload.transcript:
            return None
        return upload

    async def ask_fix(self, ctx: Context) -> None:
        """Asks the learner to type what they said."""
        ctx.say(
            ctx._("Please type what you said in the voice note. I keep your words."),
            buttons=[[ctx.button(ctx._("Keep what I heard"), "keep", short=ctx._("Keep it"))]],
        )

    async def on_fix(self, ctx: Context, event: Event) -> None:
        """Stores the typed words as the transcript, then goes back to where the learner was."""
        upload = await self.transcribed(ctx, ctx.data.get("upload"))
        if upload is None:
            await ctx.finish()
            return
        if event.value == "keep":
            upload.transcript_checked = True
            ctx.say(ctx._("Good. I keep it like this."))
        elif event.kind == "text" and event.text.strip():
            upload.transcript = event.text.strip()
            upload.transcript_checked = True
            upload.transcript_corrected = True
            ctx.say(ctx._("Thank you. I changed it to your words."))
        else:
            await ctx.invalid(ctx._("Please type it, or tap “Keep what I heard”."))
            return
        place = ctx.data.get("place")
        if not await ctx.resume(place):
            await ctx.finish()

    @staticmethod
    def forget_draft(ctx: Context, place: dict[str, Any] | None) -> None:
        """Drops the draft the command just kept of the place the learner returns to."""
        flow = ctx.flow
        if flow is not None and place is not None and ctx.draft(flow) == place:
            ctx.drop_draft(flow)
