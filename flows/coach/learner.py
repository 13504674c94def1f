"""/learner: a learner's profile, the sections other features register (only what the learner
shares), and a timeline of contacts; from there the coach answers a goal, a reflection or a
piece of evidence with text or a voice note (/feedback). Every view is in the access log."""

from __future__ import annotations

from typing import Any, ClassVar

from flows import coachview, signals
from flows.coach.access import Coached, coached
from flows.coach.choice import LearnerChoice
from flows.coach.risk import BARRIER_LABELS
from flows.engine import COACH, Context, Flow
from flows.i18n import LANGUAGES, N_, shorten
from flows.messages import Event, parse_id
from flows.uploads import UploadRejected, rejection_text, store_upload
from storage.models import Feedback

MAX_FEEDBACK = 2000
TIMELINE = 12
ITEM_TYPES = frozenset({"goal", "reflection", "evidence"})
FEEDBACK_NOTICES = {
    "goal": N_("Your coach {coach} answered your goal “{title}”: {text}"),
    "reflection": N_("Your coach {coach} answered your reflection “{title}”: {text}"),
    "evidence": N_("Your coach {coach} answered your evidence “{title}”: {text}"),
}
VOICE_NOTICES = {
    "goal": N_("Your coach {coach} sent a voice note about your goal “{title}”."),
    "reflection": N_("Your coach {coach} sent a voice note about your reflection “{title}”."),
    "evidence": N_("Your coach {coach} sent a voice note about your evidence “{title}”."),
}
#: Where the learner finds the item with the feedback beside it.
FEEDBACK_BUTTONS = {
    "goal": [[N_("My goal"), "goal"]],
    "reflection": [[N_("Reflect"), "reflect"]],
    "evidence": [[N_("My portfolio"), "portfolio"]],
}
SIGNAL_WORDS = {
    signals.GOAL_SET: N_("set a goal"),
    signals.GOAL_REACHED: N_("reached a goal"),
    signals.GOAL_PARTLY: N_("partly reached a goal"),
    signals.GOAL_MISSED: N_("missed a goal"),
    signals.CHECKIN_NO_TIME: N_("said: no time this week"),
    signals.CHECKIN_STUCK: N_("said: I am stuck"),
    signals.ASKED_FOR_COACH: N_("asked for you"),
    signals.REFLECTION_SAVED: N_("wrote a reflection"),
    signals.EVIDENCE_ADDED: N_("added evidence"),
    signals.SESSION_PRESENT: N_("came to the session"),
    signals.SESSION_ABSENT: N_("missed the session"),
    signals.BLOCKED_BOT: N_("blocked the bot"),
    signals.NUDGE_SENT: N_("got a reminder from Opstap"),
    signals.INACTIVE: N_("inactive"),
    signals.COACH_CONTACT: N_("contact with the coach"),
    signals.PAUSED: N_("paused"),
    signals.RESUMED: N_("started again"),
    signals.LEFT: N_("left"),
}
CONTACT_WORDS = {
    "called": N_("the coach called"),
    "met": N_("the coach met them"),
    "message": N_("the coach wrote a message"),
    "reminder": N_("the coach sent a reminder"),
}
STATUS_WORDS = {
    "new": N_("new"),
    "onboarding": N_("getting started"),
    "active": N_("active"),
    "paused": N_("paused"),
    "unreachable": N_("unreachable (blocked the bot)"),
    "left": N_("left"),
    "declined": N_("did not agree"),
}
OUTBOX_WORDS = {
    "coach_message": N_("your message"),
    "coach_reminder": N_("your reminder"),
    "session_reminder": N_("session reminder"),
    "session_missed": N_("“we missed you” message"),
    "group_prompt": N_("group question"),
}


class LearnerView(LearnerChoice, Flow):
    """Shows one learner to their coach and takes feedback on their items."""

    name = "learner"
    commands: ClassVar = {
        "learner": N_("A learner's profile, work and timeline"),
        "feedback": N_("Answer a learner's goal, reflection or evidence"),
    }
    roles = frozenset({COACH})

    action = "view"

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Shows the named learner, or asks which one."""
        learner_id = parse_id(args)
        if learner_id is None:
            await ctx.begin(self, "pick")
            return
        found = await coached(ctx, learner_id, action="view")
        if found is None:
            await ctx.finish()
            return
        await ctx.begin(self, "item", data=await self._show(ctx, found))

    async def with_learner(self, ctx: Context, found: Coached) -> None:
        """Shows the chosen learner."""
        ctx.data = await self._show(ctx, found)
        await ctx.go("item")

    async def _show(self, ctx: Context, found: Coached) -> dict[str, Any]:
        """Says the profile, the shared sections and the timeline; returns the items."""
        learner, membership = found.learner, found.membership
        word = STATUS_WORDS.get(learner.status)
        status = ctx._(word) if word else learner.status
        lines = [
            f"{learner.display_name or '?'} · {found.group.name}",
            ctx._(
                "Language: {language}", language=LANGUAGES.get(learner.language, learner.language)
            ),
            ctx._("In the group since {date}", date=ctx.t.date(membership.joined_at)),
            ctx._(
                "Last seen: {date}",
                date=ctx.t.date(learner.last_seen_at) if learner.last_seen_at else "-",
            ),
            ctx._("Status: {status}", status=status),
        ]
        shared = [
            ctx._(w)
            for k, w in (
                ("goals", N_("goals")),
                ("reflections", N_("reflections")),
                ("evidence", N_("evidence")),
            )
            if getattr(membership, f"share_{k}")
        ]
        lines.append(ctx._("Shares with you: {what}", what=", ".join(shared) or "-"))
        ctx.say("\n".join(lines))
        items = []
        for section in await coachview.sections_for(ctx, learner, membership):
            ctx.say("\n".join([section.title, *section.lines]))
            items.extend(section.items)
        ctx.say(await self._timeline(ctx, learner.id))
        return {
            "learner_id": learner.id,
            "items": {
                f"{i.item_type}:{i.item_id}": i.title for i in items if i.item_type in ITEM_TYPES
            },
        }

    async def _timeline(self, ctx: Context, learner_id: int) -> str:
        """Signals and messages sent, newest first."""
        entries = []
        for signal in await ctx.uow.signals.of_user(learner_id):
            if signal.kind == signals.BARRIER:
                label = BARRIER_LABELS.get(str(signal.details.get("barrier")))
                text = ctx._("intake: {barrier}", barrier=ctx._(label)) if label else None
            else:
                how = signal.details.get("how") if signal.kind == signals.COACH_CONTACT else None
                word = CONTACT_WORDS.get(str(how)) or SIGNAL_WORDS.get(signal.kind)
                text = ctx._(word) if word else None
            if text:
                entries.append((signal.at, text))
        for message in await ctx.uow.coaching.outbox_of(learner_id, limit=TIMELINE):
            word = OUTBOX_WORDS.get(message.kind)
            if word:
                entries.append((message.due_at, ctx._("sent: {what}", what=ctx._(word))))
        entries.sort(key=lambda entry: entry[0], reverse=True)
        lines = [ctx._("Timeline:")]
        lines += [f"• {ctx.t.date(at)}: {text}" for at, text in entries[:TIMELINE]]
        if not entries:
            lines.append("-")
        return "\n".join(lines)

    async def ask_item(self, ctx: Context) -> None:
        """Offers feedback on each shared item."""
        items = ctx.data.get("items", {})
        rows = [
            [ctx.button(ctx._("Answer: {title}", title=shorten(title)), f"i:{key}")]
            for key, title in list(items.items())[:20]
        ]
        if not rows:
            ctx.say(ctx._("There is nothing to give feedback on yet."))
            await ctx.finish()
            return
        ctx.say(ctx._("Give feedback on one of these?"), buttons=rows)

    async def on_item(self, ctx: Context, event: Event) -> None:
        """Keeps the chosen item and asks for the feedback."""
        key = (event.value or "").removeprefix("i:")
        if key not in ctx.data.get("items", {}):
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        ctx.data["item"] = key
        await ctx.go("feedback")

    async def ask_feedback(self, ctx: Context) -> None:
        """Asks for text or a voice note."""
        ctx.say(
            ctx._("Type your feedback, or send a voice note."), buttons=[[ctx.way_out_button()]]
        )

    async def on_feedback(self, ctx: Context, event: Event) -> None:
        """Stores the feedback (text or voice) and tells the learner."""
        item_type, _, item_id = ctx.data["item"].partition(":")
        share = {"goal": "goals", "reflection": "reflections", "evidence": "evidence"}[item_type]
        found = await coached(ctx, ctx.data.get("learner_id"), action="feedback", share=share)
        if found is None:
            await ctx.finish()
            return
        title = ctx.data["items"][ctx.data["item"]]
        feedback = Feedback(
            learner_id=found.learner.id,
            coach_id=ctx.user.id,
            item_type=item_type,
            item_id=int(item_id),
            created_at=ctx.now,
        )
        if event.kind in ("voice", "audio") and event.file is not None:
            try:
                upload, _ = await store_upload(ctx, event.file)
            except UploadRejected as error:
                await ctx.invalid(rejection_text(ctx, error))
                return
            feedback.upload_id = upload.id
            message = VOICE_NOTICES[item_type]
        elif event.kind == "text" and event.text.strip():
            if len(event.text) > MAX_FEEDBACK:
                await ctx.invalid(
                    ctx.n_(
                        "Please keep it under {limit} character.",
                        "Please keep it under {limit} characters.",
                        MAX_FEEDBACK,
                        limit=MAX_FEEDBACK,
                    )
                )
                return
            feedback.text = event.text.strip()
            message = FEEDBACK_NOTICES[item_type]
        else:
            await ctx.invalid(ctx._("Type your feedback, or send a voice note."))
            return
        await ctx.uow.feedback.add(feedback)
        await ctx.notify(
            found.learner.id,
            message,
            kind="coach_feedback",
            buttons=FEEDBACK_BUTTONS[item_type],
            coach=ctx.user.display_name or "",
            title=title,
            text=feedback.text or "",
        )
        ctx.say(
            ctx._("Thank you. {name} gets your feedback.", name=found.learner.display_name or "?")
        )
        await ctx.finish()
