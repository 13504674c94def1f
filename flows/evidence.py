"""/evidence: collect one piece of evidence for the EVC portfolio, one question at a time.

What it is (a file, a link or a text), its type, a short title, a short description in the
learner's words (typed or spoken), when and where it happened, the competences it shows, the
five quality criteria as self-checks, client privacy (for every piece that may show clients:
files and texts; case discussions and ethics dilemmas always), and a STARR reflection linked to
it (chosen, or written now by the reflect flow, which hands back with
`start_flow("evidence", args="linked:<id>")`). `/evidence edit:<id>` changes a saved piece:
its title, description, date, place, role and competences.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from flows import coachview, signals
from flows.answers import short_answer
from flows.competences import framework
from flows.engine import Context, Flow
from flows.evidence_content import content, parse_period, show_period
from flows.goals import VOICE_KINDS, keep_voice
from flows.i18n import N_, shorten
from flows.messages import Button, Event, parse_id
from flows.parsing import parse_choices
from flows.uploads import UploadRejected, rejection_text, store_upload
from storage.models import Evidence, Reflection, User

MAX_TITLE = 120
MAX_PLACE = 120
MAX_DESCRIPTION = 2000
URL = re.compile(r"^https?://[^\s/$.?#][^\s]{1,490}$", re.IGNORECASE)
MEDIA_OF_KIND = {
    "photo": "photo",
    "document": "document",
    "voice": "voice",
    "audio": "voice",
    "video": "video",
}
ANSWERS = ("yes", "no", "unsure")
CHECK = "\u2713"


def rows(buttons: list[Button], width: int = 2) -> list[list[Button]]:
    """Buttons in rows of `width`."""
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def themes_of(competences: list[str]) -> list[str]:
    """The themes of some competences, in the framework's order."""
    chosen = {c.split(".", 1)[0] for c in competences}
    return [theme.id for theme in framework().themes if theme.id in chosen]


async def earlier_places(ctx: Context, field: str) -> list[str]:
    """Organisations (or roles) the learner named before, newest first, without repeats."""
    values: list[str] = []
    for piece in reversed(await ctx.uow.evidence.of_learner(ctx.user.id)):
        values.append(getattr(piece, field) or "")
    for entry in await ctx.uow.cv.of_learner(ctx.user.id):
        values.append(getattr(entry, field) or "")
    seen: dict[str, str] = {}
    for value in values:
        if value and value.casefold() not in seen:
            seen[value.casefold()] = value
    return list(seen.values())[:6]


def asks_privacy(kind: str, media: str) -> bool:
    """True when a piece may show clients: a case or dilemma always, and any file or text
    (a photo of a crèche, a report); a bare link does not carry their details itself."""
    return content().type(kind).private or media != "link"


#: What can be changed in a saved piece: button value, label, and the step that asks it.
EDITABLE = (
    ("title", N_("Title"), "title"),
    ("description", N_("Description"), "description"),
    ("when", N_("When"), "when"),
    ("organisation", N_("Where"), "organisation"),
    ("role", N_("Your role"), "role"),
    ("competences", N_("Competences"), "theme"),
)


async def link_reflection(ctx: Context, evidence: Evidence, reflection: Reflection) -> None:
    """Links a finished reflection to a piece of evidence and says so."""
    evidence.reflection_id = reflection.id
    evidence.updated_at = ctx.now
    ctx.say(ctx._("Your reflection is now linked to piece {number}.", number=evidence.number))


class EvidenceFlow(Flow):
    """Collects a piece of evidence."""

    name = "evidence"
    commands: ClassVar = {"evidence": N_("Add evidence to your portfolio")}
    menu: ClassVar = {"evidence": N_("Add evidence")}
    files = frozenset({"photo", "document", "video"})
    catches_stray_files = True

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Starts a new piece, or links a reflection the reflect flow just saved."""
        what, _, number = args.partition(":")
        target = parse_id(number)
        if what == "linked" and target is not None:
            await self.linked(ctx, target)
        elif what == "reflection" and target is not None:
            await self.from_reflection(ctx, target)
        elif what == "edit" and target is not None:
            await self.edit(ctx, target)
        elif what == "link" and target is not None:
            evidence = await ctx.uow.evidence.get(target)
            if evidence is None or evidence.learner_id != ctx.user.id:
                await self.begin_new(ctx)
                return
            await ctx.begin(self, "reflection", data={"evidence_id": evidence.id})
        else:
            await self.begin_new(ctx)

    async def edit(self, ctx: Context, evidence_id: int) -> None:
        """Opens a saved piece for changes, with its answers filled in."""
        evidence = await ctx.uow.evidence.get(evidence_id)
        if evidence is None or evidence.learner_id != ctx.user.id:
            ctx.say(ctx._("I could not find that piece of evidence. Nothing was changed."))
            await ctx.finish()
            return
        data = {
            "edit_id": evidence.id,
            "kind": evidence.kind,
            "media": evidence.media,
            "title": evidence.title,
            "description": evidence.description,
            "description_upload_id": evidence.description_upload_id,
            "period": [evidence.period_start, evidence.period_end],
            "organisation": evidence.organisation,
            "role": evidence.role,
            "competences": [str(c) for c in evidence.competences],
            "checks": dict(evidence.checks),
        }
        await ctx.begin(self, "edit", data=data)

    async def ask_edit(self, ctx: Context) -> None:
        """Shows the piece as it is now and asks what to change."""
        data = ctx.data
        period = data.get("period") or [None, None]
        language = ctx.user.language
        lines = [
            ctx._("What do you want to change?"),
            f"{ctx._('Title')}: {data.get('title')}",
            f"{ctx._('Description')}: {data.get('description') or '-'}"
            + (" 🎤" if data.get("description_upload_id") else ""),
            f"{ctx._('When')}: {show_period(period[0], period[1]) or '-'}",
            f"{ctx._('Where')}: {data.get('organisation') or '-'}",
            f"{ctx._('Your role')}: {data.get('role') or '-'}",
            ctx._("Competences:"),
            *[
                f"\u2022 {framework().competence(c).text.get(language)}"
                for c in data.get("competences", [])
            ],
        ]
        buttons = [ctx.button(ctx._(label), f"e:{value}") for value, label, _ in EDITABLE]
        ctx.say(
            "\n".join(lines),
            buttons=[*rows(buttons), [ctx.button(ctx._("Done"), "done")]],
        )

    async def on_edit(self, ctx: Context, event: Event) -> None:
        value = (event.value or "").removeprefix("e:")
        if event.value == "done":
            ctx.say(ctx._("Piece {number} is saved.", number=await self.edited_number(ctx)))
            await ctx.finish()
            return
        steps = {key: step for key, _, step in EDITABLE}
        if value not in steps:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        await ctx.go(steps[value])

    async def edited_number(self, ctx: Context) -> int:
        evidence = await ctx.uow.evidence.get(int(ctx.data.get("edit_id", 0)))
        return evidence.number if evidence is not None else 0

    async def proceed(self, ctx: Context, step: str) -> None:
        """Goes on to the next question; while editing a saved piece, stores the change and
        goes back to the list of what can be changed."""
        if not ctx.data.get("edit_id"):
            await ctx.go(step)
            return
        evidence = await ctx.uow.evidence.get(int(ctx.data["edit_id"]))
        if evidence is None or evidence.learner_id != ctx.user.id:
            await ctx.finish()
            return
        data = ctx.data
        period = data.get("period") or [None, None]
        competences = list(dict.fromkeys(data.get("competences", [])))
        evidence.title = data["title"]
        evidence.description = data.get("description")
        evidence.description_upload_id = data.get("description_upload_id")
        evidence.period_start, evidence.period_end = period[0], period[1]
        evidence.organisation = data.get("organisation")
        evidence.role = data.get("role")
        evidence.competences = competences
        evidence.themes = themes_of(competences)
        evidence.updated_at = ctx.now
        ctx.say(ctx._("Changed."))
        ctx.conversation.history = []
        await ctx.go("edit", remember=False)

    async def begin_new(self, ctx: Context) -> None:
        await ctx.begin(self, "material", data={"competences": [], "checks": {}})

    async def linked(self, ctx: Context, reflection_id: int) -> None:
        """Links the reflection written for a piece of evidence (`extra["evidence_id"]`)."""
        reflection = await ctx.uow.reflections.get(reflection_id)
        evidence_id = str(reflection.extra.get("evidence_id", "")) if reflection else ""
        piece_id = parse_id(evidence_id)
        evidence = await ctx.uow.evidence.get(piece_id) if piece_id is not None else None
        if (
            reflection is None
            or evidence is None
            or reflection.learner_id != ctx.user.id
            or evidence.learner_id != ctx.user.id
        ):
            ctx.say(ctx._("I could not find that piece of evidence. Nothing was changed."))
            await ctx.finish()
            return
        await link_reflection(ctx, evidence, reflection)
        await ctx.finish()

    async def from_reflection(self, ctx: Context, reflection_id: int) -> None:
        """Starts a piece of evidence of type text from a finished reflection."""
        reflection = await ctx.uow.reflections.get(reflection_id)
        if reflection is None or reflection.learner_id != ctx.user.id:
            await self.begin_new(ctx)
            return
        for piece in await ctx.uow.evidence.of_learner(ctx.user.id):
            if piece.reflection_id == reflection.id:
                ctx.say(
                    ctx._(
                        "This reflection is already piece {number} of your portfolio.",
                        number=piece.number,
                    )
                )
                await ctx.finish()
                return
        ctx.say(ctx._("Let us turn your reflection into a piece of evidence."))
        known = {c.id for theme in framework().themes for c in theme.competences}
        await ctx.begin(
            self,
            "kind",
            data={
                "media": "text",
                "reflection_id": reflection.id,
                "suggested_title": (reflection.title or "")[:MAX_TITLE],
                "competences": [c for c in map(str, reflection.competences) if c in known],
                "checks": {},
            },
        )

    # material ---------------------------------------------------------------------------
    async def ask_material(self, ctx: Context) -> None:
        """Asks for the evidence itself."""
        ctx.say(
            ctx._(
                "Send me your evidence: a photo, a document, a voice note, a video (up to "
                "{size} MB), a link, or type it as text.",
                size=20,
            ),
            # A way out for someone who has nothing at hand right now.
            buttons=[[ctx.command_button(ctx._("Not now"), "cancel")]],
        )

    async def on_material(self, ctx: Context, event: Event) -> None:
        """Keeps the file (once), the link or the text."""
        if event.file is not None:
            try:
                upload, duplicate = await store_upload(ctx, event.file)
            except UploadRejected as error:
                await ctx.invalid(rejection_text(ctx, error))
                return
            if duplicate:
                earlier = await ctx.uow.evidence.by_upload(
                    learner_id=ctx.user.id, upload_id=upload.id
                )
                if earlier is not None:
                    await ctx.invalid(
                        ctx._(
                            "You already added this file: it is piece {number}, "
                            "\u201c{title}\u201d. Please send another one.",
                            number=earlier.number,
                            title=earlier.title,
                        )
                    )
                    return
            ctx.data.update(
                media=MEDIA_OF_KIND.get(upload.kind, "document"),
                upload_id=upload.id,
                text=event.text.strip() or None,
            )
        elif event.kind == "text" and event.text.strip():
            text = event.text.strip()
            if URL.match(text):
                ctx.data.update(media="link", url=text)
            else:
                ctx.data.update(media="text", text=text)
        else:
            await ctx.invalid(ctx._("Please send a file, a link or a text."))
            return
        await ctx.go("kind")

    # kind ------------------------------------------------------------------------------
    async def ask_kind(self, ctx: Context) -> None:
        """Asks what kind of evidence it is."""
        language = ctx.user.language
        buttons = [ctx.button(t.name.with_dutch(language), f"t:{t.id}") for t in content().types]
        ctx.say(
            ctx._("What is it?"),
            buttons=[*rows(buttons), [ctx.way_out_button()]],
        )

    async def on_kind(self, ctx: Context, event: Event) -> None:
        value = event.value or ""
        known = {t.id for t in content().types}
        if not value.startswith("t:") or value[2:] not in known:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        ctx.data["kind"] = value[2:]
        await ctx.go("title")

    # title -----------------------------------------------------------------------------
    async def ask_title(self, ctx: Context) -> None:
        """Asks for a short title."""
        buttons: list[list[Button]] = []
        if suggested := ctx.data.get("suggested_title"):
            buttons.append([ctx.button(shorten(suggested, 60), "keep")])
        buttons.append([ctx.way_out_button()])
        ctx.say(ctx._("Give it a short title, in a few words."), buttons=buttons)

    async def on_title(self, ctx: Context, event: Event) -> None:
        title = " ".join(event.text.split())
        if event.value == "keep" and ctx.data.get("suggested_title"):
            title = ctx.data["suggested_title"]
        if not title:
            await ctx.invalid(ctx._("Please type a short title."))
            return
        if len(title) > MAX_TITLE:
            await ctx.invalid(
                ctx.n_(
                    "Please keep the title under {limit} character.",
                    "Please keep the title under {limit} characters.",
                    MAX_TITLE,
                    limit=MAX_TITLE,
                )
            )
            return
        ctx.data["title"] = title
        await self.proceed(ctx, "description")

    # description -------------------------------------------------------------------------
    async def ask_description(self, ctx: Context) -> None:
        """Asks for a few sentences in the learner's own words; a voice note is fine."""
        buttons = [[ctx.button(ctx._("Skip"), "skip")]]
        if ctx.data.get("edit_id") and (
            ctx.data.get("description") or ctx.data.get("description_upload_id")
        ):
            buttons = [[ctx.button(ctx._("Keep it as it is"), "skip")]]
        ctx.say(
            ctx._(
                "Describe it in a few sentences, in your own words: what is it, and what does "
                "it show about your work? You can also send a voice note."
            ),
            buttons=[*buttons, [ctx.way_out_button()]],
        )

    async def on_description(self, ctx: Context, event: Event) -> None:
        if event.value == "skip":
            await self.proceed(ctx, "when")
            return
        if event.kind in VOICE_KINDS and event.file is not None:
            upload_id = await keep_voice(ctx, event)
            if upload_id is None:
                return
            ctx.data["description_upload_id"] = upload_id
            ctx.data["description"] = event.text.strip() or None
        elif event.kind == "text" and event.text.strip():
            text = event.text.strip()
            if len(text) > MAX_DESCRIPTION:
                await ctx.invalid(
                    ctx.n_(
                        "Please keep it under {limit} character.",
                        "Please keep it under {limit} characters.",
                        MAX_DESCRIPTION,
                        limit=MAX_DESCRIPTION,
                    )
                )
                return
            ctx.data["description"] = text
            ctx.data["description_upload_id"] = None
        else:
            await ctx.invalid(ctx._("Please type a few sentences, or send a voice note."))
            return
        await self.proceed(ctx, "when")

    # when ------------------------------------------------------------------------------
    async def ask_when(self, ctx: Context) -> None:
        """Asks for the month and year, or a period."""
        ctx.say(
            ctx._(
                "When was it? Type the month and year, like 03/2025, or a period, like 2021-2024."
            ),
            buttons=[[ctx.button(ctx._("This month"), "now")], [ctx.way_out_button()]],
        )

    async def on_when(self, ctx: Context, event: Event) -> None:
        if event.value == "now":
            period: tuple[str, str | None] | None = (ctx.now.strftime("%Y-%m"), None)
        else:
            period = parse_period(event.text, now=ctx.now)
        if period is None:
            await ctx.invalid(
                ctx._("I could not read that date. Please type it like 03/2025 or 2021-2024.")
            )
            return
        ctx.data["period"] = list(period)
        await self.proceed(ctx, "organisation")

    # where -----------------------------------------------------------------------------
    async def ask_organisation(self, ctx: Context) -> None:
        """Asks for the organisation, offering earlier answers."""
        choices = await earlier_places(ctx, "organisation")
        ctx.data["choices"] = choices
        buttons = [ctx.button(shorten(value), f"o:{i}") for i, value in enumerate(choices)]
        ctx.say(
            ctx._("Where was it? Type the name of the organisation."),
            buttons=[*rows(buttons), [ctx.way_out_button()]],
        )

    async def on_organisation(self, ctx: Context, event: Event) -> None:
        value = await short_answer(ctx, event, limit=MAX_PLACE)
        if value is None:
            return
        ctx.data["organisation"] = value
        await self.proceed(ctx, "role")

    async def ask_role(self, ctx: Context) -> None:
        """Asks for the learner's role there, offering earlier answers."""
        choices = await earlier_places(ctx, "role")
        ctx.data["choices"] = choices
        buttons = [ctx.button(shorten(value), f"o:{i}") for i, value in enumerate(choices)]
        ctx.say(
            ctx._("What was your role there? For example: childcare worker, volunteer."),
            buttons=[*rows(buttons), [ctx.way_out_button()]],
        )

    async def on_role(self, ctx: Context, event: Event) -> None:
        value = await short_answer(ctx, event, limit=MAX_PLACE)
        if value is None:
            return
        ctx.data["role"] = value
        await self.proceed(ctx, "theme")

    # competences -----------------------------------------------------------------------
    async def ask_theme(self, ctx: Context) -> None:
        """Asks for a theme; themes with chosen competences carry a check mark."""
        language = ctx.user.language
        chosen = set(themes_of(ctx.data.get("competences", [])))
        lines = [ctx._("Which competences does it show? First choose a theme.")]
        buttons = []
        for number, theme in enumerate(framework().themes, start=1):
            mark = " \u2713" if theme.id in chosen else ""
            lines.append(f"{number}. {theme.name.get(language)}{mark}")
            buttons.append(
                ctx.button(f"{number}. {theme.short.get(language)}{mark}", f"th:{theme.id}")
            )
        last = [ctx.way_out_button()]
        if chosen:
            last.append(ctx.button(ctx._("Done"), "done"))
        ctx.say("\n".join(lines), buttons=[*rows(buttons), last])

    async def on_theme(self, ctx: Context, event: Event) -> None:
        value = event.value or ""
        if value == "done" and ctx.data.get("competences"):
            await self.proceed(ctx, "check")
            return
        themes = {theme.id for theme in framework().themes}
        if not value.startswith("th:") or value[3:] not in themes:
            await ctx.invalid(ctx._("Please tap one of the themes."))
            return
        ctx.data["theme"] = value[3:]
        await ctx.go("competences")

    async def ask_competences(self, ctx: Context) -> None:
        """Lists the competences of the theme; numbered buttons switch them on and off."""
        language = ctx.user.language
        theme = framework().theme(ctx.data["theme"])
        chosen = set(ctx.data.get("competences", []))
        lines = [theme.name.get(language), ctx._("Tap every number that fits.")]
        buttons = []
        for number, competence in enumerate(theme.competences, start=1):
            mark = "\u2713 " if competence.id in chosen else ""
            lines.append(f"{mark}{number}. {competence.text.get(language)}")
            buttons.append(ctx.button(f"{mark}{number}", f"c:{number - 1}"))
        ctx.say(
            "\n".join(lines),
            buttons=[
                *rows(buttons, width=5),
                [
                    ctx.button(ctx._("Other theme"), "themes"),
                    ctx.button(ctx._("Done"), "done"),
                ],
            ],
        )

    async def on_competences(self, ctx: Context, event: Event) -> None:
        value = event.value or ""
        theme = framework().theme(ctx.data["theme"])
        chosen: list[str] = ctx.data.setdefault("competences", [])
        count = len(theme.competences)
        if event.kind == "text":  # "1 3" typed instead of tapped
            numbers = parse_choices(event.text, count) or []
        elif value.startswith("c:") and value[2:].isdigit() and int(value[2:]) < count:
            numbers = [int(value[2:]) + 1]
        else:
            numbers = []
        if numbers:  # each number switches its competence on or off
            for number in dict.fromkeys(numbers):
                competence = theme.competences[number - 1].id
                if competence in chosen:
                    chosen.remove(competence)
                else:
                    chosen.append(competence)
            await ctx.repeat(replace=event.kind != "text")
        elif value == "themes":
            await ctx.back()
        elif value == "done":
            if not chosen:
                await ctx.invalid(ctx._("Please choose at least one competence."))
                return
            await self.proceed(ctx, "check")
        else:
            await ctx.invalid(ctx._("Please tap a number."))

    # the five criteria -----------------------------------------------------------------
    async def ask_check(self, ctx: Context) -> None:
        """Asks one of the five quality criteria as a plain yes/no question."""
        criteria = content().criteria
        index = int(ctx.data.get("check_index", 0))
        criterion = criteria[index]
        if index == 0:
            ctx.say(ctx._("Now five quick checks. An assessor looks at these too."))
        back = ctx.button(ctx._("« Back"), "prev") if index else ctx.way_out_button()
        ctx.say(
            f"{index + 1}/{len(criteria)} "
            + ctx._(
                "{check}: {question}",
                check=criterion.name.with_dutch(ctx.user.language),
                question=criterion.question.get(ctx.user.language),
            ),
            buttons=[
                [
                    ctx.button(ctx._("Yes"), "yes"),
                    ctx.button(ctx._("No"), "no"),
                    ctx.button(ctx._("Not sure"), "unsure"),
                ],
                [back],
            ],
        )

    async def on_check(self, ctx: Context, event: Event) -> None:
        criteria = content().criteria
        index = int(ctx.data.get("check_index", 0))
        if event.value == "prev" and index > 0:
            ctx.data["check_index"] = index - 1
            await ctx.go("check")
            return
        if event.value not in ANSWERS:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        ctx.data.setdefault("checks", {})[criteria[index].id] = event.value
        if index + 1 < len(criteria):
            ctx.data["check_index"] = index + 1
            await ctx.go("check")
        elif asks_privacy(ctx.data["kind"], ctx.data["media"]):
            await ctx.go("privacy")
        else:
            await self.save(ctx)

    async def ask_privacy(self, ctx: Context) -> None:
        """Asks whether clients can be recognised in it (names, faces, details)."""
        if content().type(ctx.data["kind"]).private:
            ctx.say(
                ctx._("Did you remove names and details of clients?"),
                buttons=[
                    [
                        ctx.button(ctx._("Yes, removed"), "yes"),
                        ctx.button(ctx._("Not yet"), "no"),
                    ],
                    [ctx.way_out_button()],
                ],
            )
            return
        ctx.say(
            ctx._(
                "Can someone recognise a client in it: a name, a face, a detail? "
                "An assessor may not see clients."
            ),
            buttons=[
                [
                    ctx.button(
                        ctx._("No, no client can be recognised"),
                        "yes",
                        short=ctx._("No client visible"),
                    )
                ],
                [
                    ctx.button(
                        ctx._("Yes, I still have to remove that"),
                        "no",
                        short=ctx._("Yes, still to remove"),
                    )
                ],
                [ctx.way_out_button()],
            ],
        )

    async def on_privacy(self, ctx: Context, event: Event) -> None:
        if event.value not in ("yes", "no"):
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        ctx.data["privacy"] = event.value == "yes"
        if event.value == "no":
            ctx.say(
                ctx._(
                    "That is fine. I keep it, but I leave it out of your export until you "
                    "confirm in /portfolio that client details are removed."
                )
            )
        await self.save(ctx)

    # saving and the reflection -----------------------------------------------------------
    async def save(self, ctx: Context) -> None:
        """Stores the piece, records the signal, then asks for a reflection."""
        data: dict[str, Any] = ctx.data
        period = data.get("period") or [None, None]
        private = asks_privacy(data["kind"], data["media"])
        number = await ctx.uow.evidence.next_number(ctx.user.id)
        competences = list(dict.fromkeys(data.get("competences", [])))
        evidence = await ctx.uow.evidence.add(
            Evidence(
                learner_id=ctx.user.id,
                number=number,
                kind=data["kind"],
                media=data["media"],
                title=data["title"],
                upload_id=data.get("upload_id"),
                url=data.get("url"),
                text=data.get("text"),
                description=data.get("description"),
                description_upload_id=data.get("description_upload_id"),
                period_start=period[0],
                period_end=period[1],
                organisation=data.get("organisation"),
                role=data.get("role"),
                themes=themes_of(competences),
                competences=competences,
                checks=dict(data.get("checks", {})),
                privacy_confirmed=bool(data.get("privacy")) if private else None,
                reflection_id=data.get("reflection_id"),
                language=ctx.user.language,
                created_at=ctx.now,
                updated_at=ctx.now,
            )
        )
        await ctx.signal(signals.EVIDENCE_ADDED, evidence_id=evidence.id, number=number)
        total = len(await ctx.uow.evidence.of_learner(ctx.user.id))
        ctx.say(
            ctx._(
                "Saved as piece {number}: \u201c{title}\u201d.",
                number=number,
                title=evidence.title,
            )
            + "\n"
            + ctx.n_(
                "You have {count} piece of evidence. Aim for about {aim}.",
                "You have {count} pieces of evidence. Aim for about {aim}.",
                total,
                aim=5,
            )
        )
        if evidence.reflection_id is not None:
            await ctx.finish()
            return
        ctx.data = {"evidence_id": evidence.id}
        ctx.conversation.history = []
        await ctx.go("reflection", remember=False)

    async def ask_reflection(self, ctx: Context) -> None:
        """Offers finished reflections to link, or writing one now."""
        # Reflections that already belong to another piece are not offered again.
        used = {
            piece.reflection_id
            for piece in await ctx.uow.evidence.of_learner(ctx.user.id)
            if piece.reflection_id is not None
        }
        done = await ctx.uow.reflections.done_of(ctx.user.id, limit=6 + len(used))
        reflections = [r for r in done if r.id not in used][:6]
        buttons = [
            ctx.button(shorten(r.title or ctx.t.date(r.created_at)), f"r:{r.id}")
            for r in reflections
        ]
        ctx.say(
            ctx._(
                "An assessor wants a STARR reflection with each piece: what happened, "
                "your task, what you did, the result, and how you look back on it."
            )
            + "\n"
            + (
                ctx._("Choose a reflection, or write one now.")
                if reflections
                else ctx._("Write one now, or later.")
            ),
            buttons=[
                *[[b] for b in buttons],
                [
                    ctx.button(ctx._("Write one now"), "new"),
                    ctx.button(ctx._("Later"), "later"),
                ],
            ],
        )

    async def on_reflection(self, ctx: Context, event: Event) -> None:
        evidence = await ctx.uow.evidence.get(int(ctx.data.get("evidence_id", 0)))
        if evidence is None or evidence.learner_id != ctx.user.id:
            await ctx.finish()
            return
        value = event.value or ""
        if value.startswith("r:") and (chosen := parse_id(value[2:])) is not None:
            reflection = await ctx.uow.reflections.get(chosen)
            if reflection is None or reflection.learner_id != ctx.user.id:
                await ctx.invalid(ctx._("Please tap one of the buttons."))
                return
            await link_reflection(ctx, evidence, reflection)
            await ctx.finish()
        elif value == "new":
            if await ctx.start_flow("reflect", args=f"evidence:{evidence.id}"):
                return
            ctx.say(
                ctx._(
                    "Writing a reflection here is not possible yet. Your evidence is saved; "
                    "you can link a reflection later in /portfolio."
                )
            )
            await ctx.finish()
        elif value == "later":
            ctx.say(ctx._("Fine. You can link a reflection later in /portfolio."))
            await ctx.finish()
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))


@coachview.section(order=40)
async def evidence_section(ctx: Context, learner: User) -> coachview.Section | None:
    """The learner's evidence, for their coach (when the learner shares evidence)."""
    pieces = await ctx.uow.evidence.of_learner(learner.id)
    language = ctx.user.language
    lines = [
        ctx._(
            "{number}. {title} ({kind}, {period}), themes: {themes}",
            number=piece.number,
            title=piece.title,
            kind=content().type(piece.kind).name.with_dutch(language),
            period=show_period(piece.period_start, piece.period_end),
            themes=", ".join(str(framework().number(t)) for t in piece.themes) or "-",
        )
        + f"; {ctx._('STARR reflection')}: {CHECK if piece.reflection_id else '-'}"
        for piece in pieces
    ]
    if not lines:
        lines = [ctx._("No evidence yet.")]
    return coachview.Section(
        title=ctx._("Evidence"),
        lines=lines,
        share="evidence",
        items=[
            coachview.Item(
                "evidence", piece.id, f"{piece.number}. {piece.title}", piece.created_at
            )
            for piece in pieces
        ],
    )
