"""STARR reflections (/reflect): Situation, Task, Action, Result, Reflection, one short
question at a time, typed or spoken; a gentle follow-up on very short answers; themes and
competences; a summary; drafts kept step by step; past reflections to view, edit or delete.

`Reflection.extra` holds, per STARR step: `voice` {step: upload id} for an answer given as a
voice note, `followups` {step: text} and `followup_voice` {step: upload id} for the answer to
the follow-up question, `prompts` {"reflection": prompt id}; and `evidence_id` when the
reflection was written for a piece of evidence (`/reflect evidence:<id>`).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from flows import coachview, signals
from flows.competences import framework
from flows.engine import Context, Flow
from flows.goal_content import STARR_STEPS, starr_content
from flows.goals import feedback_lines, keep_voice, theme_name
from flows.i18n import N_, shorten
from flows.messages import Event, parse_id
from flows.transcription import transcript_note
from flows.uploads import duration_text
from storage.models import Reflection, User

PAGE_SIZE = 5
#: An answer is short (and gets a follow-up) below this many words or characters. Turkish and
#: Arabic say a lot in few words, so words alone are not enough.
SHORT_ANSWER_WORDS = 5
SHORT_ANSWER_CHARS = 30
MAX_TITLE = 60
#: The coach view shows this much of a transcript (the export holds all of it).
TRANSCRIPT_SHOWN = 300
VOICE_KINDS = frozenset({"voice", "audio"})

#: Each STARR step: its letter, name and question.
PARTS: dict[str, tuple[str, str, str]] = {
    "situation": (
        "S",
        N_("Situation"),
        N_("What happened? Where were you, and who was there?"),
    ),
    "task": ("T", N_("Task"), N_("What was your task in that situation?")),
    "action": ("A", N_("Action"), N_("What did you do? Tell it step by step.")),
    "result": ("R", N_("Result"), N_("What was the result? How did others react?")),
    "reflection": ("R", N_("Reflection"), N_("How do you look back on it?")),
}
#: One gentle follow-up question per step, for very short answers.
FOLLOW_UPS = {
    "situation": N_("Can you tell a bit more? Who was there? What did you say?"),
    "task": N_("What exactly was expected of you? Who asked it?"),
    "action": N_("What did you do first, and then? What did you say?"),
    "result": N_("What changed after that? How did the other person react?"),
    "reflection": N_("What would you do the same next time, and what not?"),
}
#: Prompts offered at the Reflection step.
PROMPTS = {
    "went_well": N_("What went well?"),
    "differently": N_("What would you do differently?"),
    "learned": N_("What did you learn about yourself?"),
}


def words(text: str | None) -> int:
    return len((text or "").split())


def hook(ctx: Context) -> str:
    """The arrow before a follow-up answer, turned for right-to-left languages."""
    return "\u21b2" if ctx.t.rtl else "\u21b3"


def is_short(text: str | None) -> bool:
    """True for an answer so short that a gentle follow-up question helps."""
    return words(text) < SHORT_ANSWER_WORDS or len((text or "").strip()) < SHORT_ANSWER_CHARS


def set_extra(reflection: Reflection, section: str, key: str, value: Any) -> None:
    """Sets `extra[section][key]` (None removes it), assigning a new dict so it is stored."""
    extra = copy.deepcopy(reflection.extra)
    part = extra.setdefault(section, {})
    if value is None:
        part.pop(key, None)
    else:
        part[key] = value
    reflection.extra = extra


#: The follow-up question of a step is the step `followup_<part>` (the part in its name, so
#: Back through several follow-ups lands on the right one).
FOLLOWUP = "followup_"


def followup_part(ctx: Context, step: str) -> str:
    """The STARR part a follow-up step is about, or "" when `step` is none."""
    if step.startswith(FOLLOWUP) and step.removeprefix(FOLLOWUP) in STARR_STEPS:
        return step.removeprefix(FOLLOWUP)
    if step == "followup":  # kept by a conversation from before the part was in the name
        part = ctx.data.get("part")
        return part if part in STARR_STEPS else STARR_STEPS[0]
    return ""


def answered(reflection: Reflection, part: str) -> bool:
    return bool(getattr(reflection, part)) or part in reflection.extra.get("voice", {})


class ReflectFlow(Flow):
    """Writes, lists, edits and deletes STARR reflections."""

    name = "reflect"
    commands: ClassVar = {"reflect": N_("Write or read a STARR reflection")}
    menu: ClassVar = {"reflect": N_("Reflect")}

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Starts a reflection (for a goal or a piece of evidence), a draft, or the list."""
        kind, _, ident = args.partition(":")
        if kind in ("evidence", "goal") and parse_id(ident) is not None:
            await self.new(ctx, **{f"{kind}_id": parse_id(ident)})
            return
        draft = await ctx.uow.reflections.draft_of(ctx.user.id)
        if draft is not None:
            await ctx.begin(self, "draft", data={"rid": draft.id})
        elif await ctx.uow.reflections.count_done(ctx.user.id):
            await ctx.begin(self, "home", data={"page": 0})
        else:
            await self.new(ctx)

    async def new(
        self, ctx: Context, *, goal_id: int | None = None, evidence_id: int | None = None
    ) -> None:
        """Creates a draft and asks its first step."""
        reflection = Reflection(
            learner_id=ctx.user.id,
            language=ctx.user.language,
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        if evidence_id is not None:
            reflection.extra = {"evidence_id": evidence_id}
            piece = await ctx.uow.evidence.get(evidence_id)
            if piece is not None and piece.learner_id == ctx.user.id:
                # The piece's themes and competences are chosen already; the learner can
                # still change them.
                reflection.themes = list(piece.themes)
                reflection.competences = list(piece.competences)
        goal = await ctx.uow.goals.get(goal_id) if goal_id is not None else None
        if goal is not None and goal.learner_id == ctx.user.id:
            reflection.goal_id = goal.id
            reflection.themes = [goal.theme_id]
        await ctx.uow.reflections.add(reflection)
        ctx.say(
            ctx._(
                "STARR helps you tell about one moment at work in five short steps: "
                "Situation, Task, Action, Result, Reflection. Type your answers or send "
                "voice notes. I keep every step, so you can stop and continue later."
            )
        )
        await ctx.begin(self, "situation", data={"rid": reflection.id})

    async def reflection(self, ctx: Context) -> Reflection:
        reflection = await ctx.uow.reflections.get(int(ctx.data["rid"]))
        assert reflection is not None and reflection.learner_id == ctx.user.id
        return reflection

    # the five steps share one pair of handlers -------------------------------------------
    async def ask(self, ctx: Context, step: str) -> None:
        if step in STARR_STEPS:
            await self.ask_part(ctx, step)
        elif followup_part(ctx, step):
            await self.ask_followup(ctx, followup_part(ctx, step))
        else:
            await super().ask(ctx, step)

    async def answer(self, ctx: Context, step: str, event: Event) -> None:
        if step in STARR_STEPS:
            await self.on_part(ctx, step, event)
        elif followup_part(ctx, step):
            await self.on_followup(ctx, followup_part(ctx, step), event)
        else:
            await super().answer(ctx, step, event)

    async def ask_part(self, ctx: Context, part: str) -> None:
        """Asks one STARR question, with an example and (at the end) prompts."""
        letter, name, question = PARTS[part]
        number = STARR_STEPS.index(part) + 1
        prompt = ctx.data.get("prompt")
        if part == "reflection" and prompt in PROMPTS:
            question = PROMPTS[prompt]
        text = f"{letter} · {ctx.t.with_dutch(name)} ({number}/5)\n{ctx._(question)}"
        rows = []
        if part == "reflection":
            rows += [[ctx.button(ctx._(label), f"p:{key}")] for key, label in PROMPTS.items()]
        rows.append([ctx.button(ctx._("Show an example"), "example")])
        if ctx.data.get("return") != "view":  # a saved reflection is no draft
            rows.append(
                [
                    ctx.button(
                        ctx._("Stop for now, keep as draft"),
                        "pause",
                        short=ctx._("Keep as draft"),
                    )
                ]
            )
        if ctx.conversation.history:
            rows.append([ctx.way_out_button()])
        ctx.say(text, buttons=rows)

    async def on_part(self, ctx: Context, part: str, event: Event) -> None:
        """Keeps the answer to one step, typed or spoken; short answers get a follow-up."""
        reflection = await self.reflection(ctx)
        value = event.value or ""
        if value == "example":
            example = starr_content().examples[part].get(ctx.user.language)
            ctx.say(ctx._("An example: {example}", example=example))
            await ctx.repeat()
            return
        if value == "pause":
            await self.pause(ctx)
            return
        if value.startswith("p:") and part == "reflection" and value[2:] in PROMPTS:
            ctx.data["prompt"] = value[2:]
            await ctx.repeat()
            return
        if event.kind in VOICE_KINDS and event.file is not None:
            upload_id = await keep_voice(ctx, event)
            if upload_id is None:
                return
            set_extra(reflection, "voice", part, upload_id)
            setattr(reflection, part, event.text.strip() or None)
        elif event.kind == "text" and event.text.strip():
            set_extra(reflection, "voice", part, None)
            setattr(reflection, part, event.text.strip())
        else:
            await ctx.invalid(ctx._("Please type your answer or send a voice note."))
            return
        if part == "reflection" and ctx.data.get("prompt") in PROMPTS:
            set_extra(reflection, "prompts", part, ctx.data.pop("prompt"))
        set_extra(reflection, "followups", part, None)
        set_extra(reflection, "followup_voice", part, None)
        reflection.updated_at = ctx.now
        voice = part in reflection.extra.get("voice", {})
        if not voice and is_short(getattr(reflection, part)):
            await ctx.go(f"{FOLLOWUP}{part}")
            return
        await self.after_part(ctx, part)

    async def after_part(self, ctx: Context, part: str) -> None:
        """Goes on to the next step, or back to where an edit started."""
        if ctx.data.get("return"):
            await ctx.go(ctx.data.pop("return"))
            return
        index = STARR_STEPS.index(part)
        if index + 1 < len(STARR_STEPS):
            await ctx.go(STARR_STEPS[index + 1])
        else:
            await ctx.go("themes")

    async def pause(self, ctx: Context) -> None:
        """Stops; the draft stays."""
        ctx.say(ctx._("Your reflection is kept as a draft. Send /reflect to continue."))
        await ctx.finish()

    # follow-up ---------------------------------------------------------------------------
    async def ask_followup(self, ctx: Context, part: str) -> None:
        """Asks one gentle question to dig a little deeper; it can be skipped."""
        rows = [[ctx.button(ctx._("Skip"), "skip")], [ctx.way_out_button()]]
        ctx.say(ctx._(FOLLOW_UPS[part]), buttons=rows)

    async def on_followup(self, ctx: Context, part: str, event: Event) -> None:
        """Keeps the extra answer, or skips it."""
        reflection = await self.reflection(ctx)
        if event.value == "skip":
            pass
        elif event.kind in VOICE_KINDS and event.file is not None:
            upload_id = await keep_voice(ctx, event)
            if upload_id is None:
                return
            set_extra(reflection, "followup_voice", part, upload_id)
        elif event.kind == "text" and event.text.strip():
            set_extra(reflection, "followups", part, event.text.strip())
        else:
            await ctx.invalid(ctx._("Please type your answer, send a voice note, or tap Skip."))
            return
        reflection.updated_at = ctx.now
        ctx.data.pop("part", None)  # where a conversation from before kept it
        await self.after_part(ctx, part)

    # themes and competences --------------------------------------------------------------
    async def ask_themes(self, ctx: Context) -> None:
        """Asks which themes the reflection shows; the goal's theme comes first. The order
        stays put while the learner taps, so a button does not move under their thumb."""
        reflection = await self.reflection(ctx)
        chosen = set(reflection.themes)
        order = [theme.id for theme in framework().themes]
        if ctx.data.get("theme_order") and set(ctx.data["theme_order"]) == set(order):
            order = list(ctx.data["theme_order"])
        else:
            order.sort(key=lambda theme_id: theme_id not in chosen)
            ctx.data["theme_order"] = order
        rows = [
            [ctx.button(("✅ " if t in chosen else "") + theme_name(ctx, t), f"t:{t}")]
            for t in order
        ]
        rows.append([ctx.button(ctx._("Done"), "done")])
        ctx.say(ctx._("Which themes does this show? Tap all that fit, then Done."), buttons=rows)

    async def on_themes(self, ctx: Context, event: Event) -> None:
        """Toggles a theme, or goes on when at least one is chosen."""
        reflection = await self.reflection(ctx)
        value = event.value or ""
        themes = list(reflection.themes)
        if value.startswith("t:") and value[2:] in {t.id for t in framework().themes}:
            theme = value[2:]
            themes = [t for t in themes if t != theme] if theme in themes else [*themes, theme]
            reflection.themes = themes
            reflection.competences = [
                c for c in reflection.competences if str(c).split(".", 1)[0] in themes
            ]
            await ctx.repeat(replace=True)
        elif value == "done" and themes:
            await ctx.go("competences")
        elif value == "done":
            await ctx.invalid(ctx._("Please choose at least one theme."))
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    def competence_ids(self, reflection: Reflection) -> list[str]:
        return [
            competence.id
            for theme in framework().themes
            if theme.id in reflection.themes
            for competence in theme.competences
        ]

    async def ask_competences(self, ctx: Context) -> None:
        """Lists the competences of the chosen themes by number, to tap."""
        reflection = await self.reflection(ctx)
        ids = self.competence_ids(reflection)
        lines = [ctx._("Which competences did you use? Tap the numbers, then Done.")]
        buttons = []
        for number, competence_id in enumerate(ids, start=1):
            text = framework().competence(competence_id).text.get(ctx.user.language)
            mark = "✅" if competence_id in reflection.competences else "▫️"
            lines.append(f"{mark} {number}. {text}")
            buttons.append(ctx.button(f"{'✅ ' if mark == '✅' else ''}{number}", f"c:{number}"))
        rows = [buttons[i : i + 4] for i in range(0, len(buttons), 4)]
        rows.append([ctx.button(ctx._("Done"), "done")])
        ctx.say("\n".join(lines), buttons=rows)

    async def on_competences(self, ctx: Context, event: Event) -> None:
        """Toggles a competence, or goes on to the summary."""
        reflection = await self.reflection(ctx)
        ids = self.competence_ids(reflection)
        value = (event.value or "").removeprefix("c:")
        if event.value == "done":
            await ctx.go("summary")
        elif value.isdigit() and 1 <= int(value) <= len(ids):
            competence = ids[int(value) - 1]
            chosen = list(reflection.competences)
            reflection.competences = (
                [c for c in chosen if c != competence]
                if competence in chosen
                else [*chosen, competence]
            )
            await ctx.repeat(replace=True)
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    # summary and saving ------------------------------------------------------------------
    async def summary(self, ctx: Context, reflection: Reflection) -> str:
        """The reflection in a tidy, readable form."""
        lines = []
        for part in STARR_STEPS:
            letter, name, _ = PARTS[part]
            prompt = reflection.extra.get("prompts", {}).get(part)
            heading = f"{letter} · {ctx.t.with_dutch(name)}"
            if prompt in PROMPTS:
                heading += f" ({ctx._(PROMPTS[prompt])})"
            lines.append(f"{heading}:")
            voice = reflection.extra.get("voice", {}).get(part)
            if voice:
                lines.append(await self.voice_label(ctx, voice))
            if getattr(reflection, part):
                lines.append(str(getattr(reflection, part)))
            if not voice and not getattr(reflection, part):
                lines.append("-")
            followup = reflection.extra.get("followups", {}).get(part)
            if followup:
                lines.append(f"{hook(ctx)} {followup}")
            followup_voice = reflection.extra.get("followup_voice", {}).get(part)
            if followup_voice:
                lines.append(f"{hook(ctx)} " + await self.voice_label(ctx, followup_voice))
        if reflection.themes:
            names = ctx.t.join([theme_name(ctx, t) for t in reflection.themes])
            lines.append(ctx._("Themes: {themes}", themes=names))
        for competence_id in reflection.competences:
            competence = framework().competence(str(competence_id))
            lines.append(f"• {competence.text.get(ctx.user.language)}")
        return "\n".join(lines)

    async def voice_label(self, ctx: Context, upload_id: int) -> str:
        upload = await ctx.uow.uploads.get(int(upload_id))
        seconds = upload.duration if upload is not None and upload.duration else 0
        return ctx._("🎤 voice note ({duration})", duration=duration_text(seconds))

    async def ask_summary(self, ctx: Context) -> None:
        """Shows the whole reflection before saving; Back (or "Not now", which keeps the
        draft) leaves it undecided."""
        reflection = await self.reflection(ctx)
        ctx.say(
            ctx._("Your STARR reflection:") + "\n\n" + await self.summary(ctx, reflection),
            buttons=[
                [ctx.button(ctx._("💾 Save"), "save")],
                [ctx.button(ctx._("Change a step"), "edit")],
                [ctx.button(ctx._("Delete"), "delete")],
                [ctx.way_out_button()],
            ],
        )

    async def on_summary(self, ctx: Context, event: Event) -> None:
        """Saves, changes a step, or deletes."""
        if event.value == "save":
            await self.save(ctx)
        elif event.value == "edit":
            ctx.data["return"] = "summary"
            await ctx.go("pick_part")
        elif event.value == "delete":
            ctx.data["after_delete"] = "finish"
            await ctx.go("confirm_delete")
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def save(self, ctx: Context) -> None:
        """Marks the reflection done, records the signal, and offers it as evidence."""
        reflection = await self.reflection(ctx)
        reflection.status = "done"
        reflection.updated_at = ctx.now
        first = " ".join((reflection.situation or "").split())
        reflection.title = (first[: MAX_TITLE - 1] + "…") if len(first) > MAX_TITLE else first
        await ctx.signal(
            signals.REFLECTION_SAVED, reflection_id=reflection.id, goal_id=reflection.goal_id
        )
        count = await ctx.uow.reflections.count_done(ctx.user.id)
        ctx.say(
            ctx._("Saved! 🎉")
            + " "
            + ctx.n_(
                "You have written {count} reflection.",
                "You have written {count} reflections.",
                count,
            )
        )
        if "evidence_id" in reflection.extra:
            if not await ctx.start_flow("evidence", args=f"linked:{reflection.id}"):
                await ctx.finish()
            return
        await ctx.go("evidence")

    async def ask_evidence(self, ctx: Context) -> None:
        """Offers to use the reflection as evidence for the portfolio."""
        ctx.say(
            ctx._("Do you want to use this reflection as evidence for your portfolio?"),
            buttons=[
                [ctx.button(ctx._("Yes, use it as evidence"), "yes")],
                [ctx.button(ctx._("Not now"), "no")],
            ],
        )

    async def on_evidence(self, ctx: Context, event: Event) -> None:
        """Hands over to the evidence flow, when it is there."""
        if event.value == "yes":
            if await ctx.start_flow("evidence", args=f"reflection:{ctx.data['rid']}"):
                return
            ctx.say(ctx._("Your reflection is saved. You can use it as evidence later."))
            await ctx.finish()
        elif event.value == "no":
            ctx.say(ctx._("Fine. You find it again with /reflect."))
            await ctx.finish()
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    # drafts ------------------------------------------------------------------------------
    async def ask_draft(self, ctx: Context) -> None:
        """Offers to continue, restart or delete the unfinished reflection."""
        reflection = await self.reflection(ctx)
        day = ctx.t.date(reflection.created_at)  # a date: a weekday alone can be weeks ago
        ctx.say(
            ctx._("You have an unfinished reflection from {day}.", day=day),
            buttons=[
                [ctx.button(ctx._("Continue"), "continue")],
                [ctx.button(ctx._("Start over"), "restart")],
                [ctx.button(ctx._("Delete"), "delete")],
                [ctx.way_out_button()],
            ],
        )

    async def on_draft(self, ctx: Context, event: Event) -> None:
        """Continues at the first open step, starts over, or deletes the draft."""
        reflection = await self.reflection(ctx)
        if event.value == "continue":
            open_parts = [p for p in STARR_STEPS if not answered(reflection, p)]
            step = open_parts[0] if open_parts else "themes"
            # Back goes to the step before, as if the learner had never stopped.
            before = STARR_STEPS[: STARR_STEPS.index(step)] if open_parts else STARR_STEPS
            await ctx.go(step, history=before)
        elif event.value == "restart":
            for part in STARR_STEPS:
                setattr(reflection, part, None)
            keep = {k: v for k, v in reflection.extra.items() if k == "evidence_id"}
            reflection.extra = keep
            reflection.updated_at = ctx.now
            await ctx.go("situation")
        elif event.value == "delete":
            ctx.data["after_delete"] = "start"
            await ctx.go("confirm_delete")
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    # past reflections --------------------------------------------------------------------
    async def ask_home(self, ctx: Context) -> None:
        """Offers a new reflection or the list of past ones, or neither for now."""
        count = await ctx.uow.reflections.count_done(ctx.user.id)
        ctx.say(
            ctx.n_(
                "You have written {count} reflection.",
                "You have written {count} reflections.",
                count,
            ),
            buttons=[
                [
                    ctx.button(
                        ctx._("Write a new reflection"), "new", short=ctx._("New reflection")
                    )
                ],
                [ctx.button(ctx._("My reflections"), "list")],
                [ctx.way_out_button()],
            ],
        )

    async def on_home(self, ctx: Context, event: Event) -> None:
        if event.value == "new":
            await self.new(ctx)
        elif event.value == "list":
            ctx.data["page"] = 0
            await ctx.go("list")
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def ask_list(self, ctx: Context) -> None:
        """Shows one page of past reflections, newest first; 💬 marks unseen coach feedback."""
        count = await ctx.uow.reflections.count_done(ctx.user.id)
        pages = max(1, -(-count // PAGE_SIZE))
        page = min(int(ctx.data.get("page", 0)), pages - 1)
        ctx.data["page"] = page
        shown = await ctx.uow.reflections.done_of(
            ctx.user.id, offset=page * PAGE_SIZE, limit=PAGE_SIZE
        )
        answered = {
            f.item_id
            for f in await ctx.uow.feedback.unseen_for(ctx.user.id)
            if f.item_type == "reflection"
        }
        rows = [
            [
                ctx.button(
                    ("💬 " if r.id in answered else "")
                    + shorten(
                        f"{ctx.t.date(r.created_at, format='short')} · {r.title or '🎤'}",
                        60,
                    ),
                    f"v:{r.id}",
                )
            ]
            for r in shown
        ]
        nav = []
        if page > 0:
            nav.append(ctx.button(ctx._("« Previous"), "prev"))
        if page + 1 < pages:
            nav.append(ctx.button(ctx._("Next »"), "next"))
        if nav:
            rows.append(nav)
        rows.append(
            [ctx.button(ctx._("Write a new reflection"), "new", short=ctx._("New reflection"))]
        )
        rows.append([ctx.way_out_button()])
        ctx.say(
            ctx._("Your reflections (page {page} of {pages}):", page=page + 1, pages=pages),
            buttons=rows,
        )

    async def on_list(self, ctx: Context, event: Event) -> None:
        """Pages, opens one reflection, or starts a new one."""
        value = event.value or ""
        if value in ("prev", "next"):
            ctx.data["page"] = int(ctx.data.get("page", 0)) + (1 if value == "next" else -1)
            await ctx.repeat(replace=True)
        elif value == "new":
            await self.new(ctx)
        elif value.startswith("v:") and (shown := parse_id(value[2:])) is not None:
            found = await ctx.uow.reflections.get(shown)
            if found is None or found.learner_id != ctx.user.id:
                await ctx.invalid(ctx._("I cannot find that reflection any more."))
                return
            ctx.data["rid"] = found.id
            await ctx.go("view")
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def ask_view(self, ctx: Context) -> None:
        """Shows one reflection with the coach's feedback beside it."""
        reflection = await self.reflection(ctx)
        text = await self.summary(ctx, reflection)
        feedback = await feedback_lines(ctx, item_type="reflection", item_id=reflection.id)
        if feedback:
            text += "\n\n" + "\n".join(feedback)
        ctx.say(
            text,
            buttons=[
                [ctx.button(ctx._("Change a step"), "edit")],
                [ctx.button(ctx._("Use it as evidence"), "evidence")],
                [ctx.button(ctx._("Delete"), "delete")],
                [ctx.button(ctx._("« Back to the list"), "list")],
            ],
        )

    async def on_view(self, ctx: Context, event: Event) -> None:
        """Edits, deletes, uses as evidence, or goes back to the list."""
        if event.value == "edit":
            ctx.data["return"] = "view"
            await ctx.go("pick_part")
        elif event.value == "delete":
            ctx.data["after_delete"] = "list"
            await ctx.go("confirm_delete")
        elif event.value == "evidence":
            if await ctx.start_flow("evidence", args=f"reflection:{ctx.data['rid']}"):
                return
            await ctx.invalid(ctx._("Evidence is not available yet. Your reflection is saved."))
        elif event.value == "list":
            await ctx.go("list")
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def ask_pick_part(self, ctx: Context) -> None:
        """Asks which step to change."""
        rows = [
            [ctx.button(f"{letter} · {ctx.t.with_dutch(name)}", part)]
            for part, (letter, name, _) in PARTS.items()
        ]
        rows.append([ctx.way_out_button()])
        ctx.say(ctx._("Which step do you want to change?"), buttons=rows)

    async def on_pick_part(self, ctx: Context, event: Event) -> None:
        """Asks the chosen step again; the answer replaces the old one."""
        if event.value not in STARR_STEPS:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        reflection = await self.reflection(ctx)
        current = getattr(reflection, event.value)
        if current:
            ctx.say(ctx._("Now it says: {text}", text=current))
        await ctx.go(event.value)

    async def ask_confirm_delete(self, ctx: Context) -> None:
        """Asks to confirm deleting."""
        ctx.say(
            ctx._("Delete this reflection? This cannot be undone."),
            buttons=[
                [ctx.button(ctx._("Yes, delete it"), "yes")],
                [ctx.button(ctx._("No, keep it"), "no")],
            ],
        )

    async def on_confirm_delete(self, ctx: Context, event: Event) -> None:
        """Deletes the reflection, or goes back."""
        if event.value == "no":
            await ctx.back()
            return
        if event.value != "yes":
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        reflection = await self.reflection(ctx)
        await ctx.uow.reflections.delete(reflection)
        ctx.say(ctx._("The reflection is deleted."))
        after = ctx.data.pop("after_delete", "finish")
        if after == "start":
            await self.new(ctx)
        elif after == "list" and await ctx.uow.reflections.count_done(ctx.user.id):
            ctx.data["page"] = 0
            await ctx.go("list")
        else:
            await ctx.finish()


async def voice_lines(ctx: Context, reflection: Reflection) -> list[str]:
    """For the coach: each voice note of a reflection, its length and its transcript
    beside it, marked as one (made by a computer, checked or corrected by the learner)."""
    lines = []
    for part in STARR_STEPS:
        letter = PARTS[part][0]
        for key in ("voice", "followup_voice"):
            upload_id = (reflection.extra or {}).get(key, {}).get(part)
            upload = await ctx.uow.uploads.get(int(upload_id)) if upload_id else None
            if upload is None:
                continue
            line = f"   {letter}: " + ctx._(
                "🎤 voice note ({duration})", duration=duration_text(upload.duration or 0)
            )
            if upload.transcript:
                note = ctx._(transcript_note(upload))
                line += f"\n   {note}: “{shorten(upload.transcript, TRANSCRIPT_SHOWN)}”"
            lines.append(line)
    return lines


@coachview.section(order=30)
async def reflections_section(ctx: Context, learner: User) -> coachview.Section:
    """The learner's finished reflections, newest first, in the coach's language."""
    done = await ctx.uow.reflections.done_of(learner.id, limit=10)
    count = await ctx.uow.reflections.count_done(learner.id)
    lines = [ctx._("Reflections written: {count}.", count=count)]
    items = []
    for reflection in done:
        themes = ctx.t.join([theme_name(ctx, t) for t in reflection.themes])
        title = reflection.title or ctx._("(a voice note)")
        lines.append(f"{ctx.t.date(reflection.created_at)} · {title} ({themes})")
        lines.extend(await voice_lines(ctx, reflection))
        items.append(
            coachview.Item(
                item_type="reflection",
                item_id=reflection.id,
                title=title,
                when=reflection.created_at,
            )
        )
    return coachview.Section(
        title=ctx._("STARR reflections"), lines=lines, share="reflections", items=items
    )
