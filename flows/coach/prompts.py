"""/prompt: a reflection question to a whole group, in each learner's language where the coach
gave a translation; learners answer with /answer, and the coach reads the answers per learner."""

from __future__ import annotations

from typing import ClassVar

from flows.coach.access import own_group, own_membership
from flows.coach.choice import GroupChoice
from flows.engine import COACH, LEARNER, Context, Flow
from flows.i18n import LANGUAGES, N_, shorten
from flows.messages import Event, OutFile, parse_id
from flows.uploads import ACCEPTED, VOICE_TYPES, UploadRejected, rejection_text, store_upload
from storage.models import Group, GroupPrompt, PromptAnswer

MAX_QUESTION = 1000
MAX_ANSWER = 4000
VOICE = {mime: suffix for mime, suffix in ACCEPTED.items() if mime in VOICE_TYPES}


class Prompt(GroupChoice, Flow):
    """A coach asks the whole group a reflection question, or reads the answers."""

    name = "prompt"
    commands: ClassVar = {"prompt": N_("Ask your group a reflection question")}
    menu: ClassVar = {"prompt": N_("Question to a group")}
    roles = frozenset({COACH})
    action = "prompt"

    async def with_group(self, ctx: Context, group: Group) -> None:
        """Offers a new question or the answers to earlier ones."""
        await ctx.begin(self, "menu", data={"translations": {}, "group_id": group.id})

    async def ask_menu(self, ctx: Context) -> None:
        """Offers a new question, or the answers to an earlier one."""
        prompts = await ctx.uow.prompts.of_group(ctx.data["group_id"])
        rows = [[ctx.button(ctx._("New question"), "new")]]
        for prompt in prompts[-5:]:
            count = len(await ctx.uow.prompts.answers(prompt.id))
            label = ctx.n_("{n} answer", "{n} answers", count, n=count)
            text = f"{shorten(prompt.question, 30)} ({label})"
            rows.append([ctx.button(text, f"p:{prompt.id}")])
        ctx.say(ctx._("Ask a new question, or read the answers?"), buttons=rows)

    async def on_menu(self, ctx: Context, event: Event) -> None:
        """Starts a new question, or shows the answers to an earlier one."""
        value = event.value or ""
        if value == "new":
            await ctx.go("question")
            return
        prompt = await ctx.uow.prompts.get(parse_id(value.removeprefix("p:")) or 0)
        if prompt is None or prompt.group_id != ctx.data["group_id"]:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        lines, voices = [prompt.question], []
        for answer in await ctx.uow.prompts.answers(prompt.id):
            learner = await ctx.uow.users.get(answer.learner_id)
            name = learner.display_name if learner and learner.display_name else "?"
            upload = await ctx.uow.uploads.get(answer.upload_id) if answer.upload_id else None
            if upload is not None:
                voices.append((name, upload))
                lines.append(f"• {name}: " + ctx._("(voice note, below)"))
            else:
                lines.append(f"• {name}: {answer.text or ''}")
        if len(lines) == 1:
            lines.append(ctx._("No answers yet."))
        ctx.say("\n".join(lines))
        for name, upload in voices:
            ctx.say(name, file=OutFile(ctx.files.path(upload.relpath), kind="document"))
        await ctx.finish()

    async def ask_question(self, ctx: Context) -> None:
        """Asks for the question."""
        ctx.say(ctx._("Type the question for the group."), buttons=[[ctx.way_out_button()]])

    async def on_question(self, ctx: Context, event: Event) -> None:
        """Keeps the question and offers translations."""
        text = event.text.strip()
        if event.kind != "text" or not text or len(text) > MAX_QUESTION:
            await ctx.invalid(
                ctx.n_(
                    "Please type a question of at most {limit} character.",
                    "Please type a question of at most {limit} characters.",
                    MAX_QUESTION,
                    limit=MAX_QUESTION,
                )
            )
            return
        ctx.data["question"] = text
        await ctx.go("translations")

    async def ask_translations(self, ctx: Context) -> None:
        """Offers a translation per language; learners without one get the question as is."""
        given = ctx.data["translations"]
        rows = [
            [ctx.button(("✅ " if code in given else "➕ ") + name, f"t:{code}")]
            for code, name in LANGUAGES.items()
        ]
        ctx.say(
            ctx._(
                "Add a translation for learners who use another language? "
                "Without one, they get your question as you wrote it."
            ),
            buttons=[*rows, [ctx.button(ctx._("Send to the group"), "send")]],
        )

    async def on_translations(self, ctx: Context, event: Event) -> None:
        """Sends the question, or asks a translation into the chosen language."""
        value = event.value or ""
        if value == "send":
            await self._send(ctx)
            return
        code = value.removeprefix("t:")
        if code not in LANGUAGES:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        ctx.data["language"] = code
        await ctx.go("translation")

    async def ask_translation(self, ctx: Context) -> None:
        """Asks for the question in one language."""
        ctx.say(
            ctx._(
                "Type the question in {language}.",
                language=LANGUAGES[ctx.data["language"]],
            ),
            buttons=[[ctx.way_out_button()]],
        )

    async def on_translation(self, ctx: Context, event: Event) -> None:
        """Keeps the translation and shows the languages again."""
        text = event.text.strip()
        if event.kind != "text" or not text or len(text) > MAX_QUESTION:
            await ctx.invalid(
                ctx.n_(
                    "Please type a question of at most {limit} character.",
                    "Please type a question of at most {limit} characters.",
                    MAX_QUESTION,
                    limit=MAX_QUESTION,
                )
            )
            return
        ctx.data["translations"][ctx.data["language"]] = text
        ctx.save()
        await ctx.go("translations")

    async def _send(self, ctx: Context) -> None:
        """Stores the question and queues it for every member in their language."""
        group = await own_group(ctx, ctx.data.get("group_id"), action="prompt")
        if group is None:
            await ctx.finish()
            return
        translations = ctx.data["translations"]
        prompt = await ctx.uow.prompts.add(
            GroupPrompt(
                group_id=group.id,
                coach_id=ctx.user.id,
                question=ctx.data["question"],
                created_at=ctx.now,
                translations=dict(translations),
            )
        )
        members = await ctx.uow.coaching.members(group.id)
        for _, learner in members:
            await ctx.notify(
                learner.id,
                N_("A question from your coach {coach}:\n\n{question}"),
                kind="group_prompt",
                dedup_key=f"prompt:{prompt.id}:{learner.id}",
                buttons=[[N_("Answer"), f"answer {prompt.id}"]],
                coach=ctx.user.display_name or "",
                question=translations.get(learner.language, prompt.question),
            )
        ctx.say(
            ctx.n_(
                "Sent to {n} learner. Their answers come to you.",
                "Sent to {n} learners. Their answers come to you.",
                len(members),
                n=len(members),
            )
        )
        await ctx.finish()


class Answer(Flow):
    """A learner answers their coach's group question."""

    name = "answer"
    commands: ClassVar = {"answer": N_("Answer your coach's question")}
    roles = frozenset({LEARNER})

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Finds the question (the one named, or the newest of the learner's group)."""
        membership = await own_membership(ctx)
        if membership is None:
            return
        prompt = await ctx.uow.prompts.get(parse_id(args) or 0)
        if prompt is None:
            prompts = await ctx.uow.prompts.of_group(membership.group_id)
            prompt = prompts[-1] if prompts else None
        if prompt is None or prompt.group_id != membership.group_id:
            ctx.say(ctx._("There is no question from your coach right now."))
            await ctx.finish()
            return
        await ctx.begin(self, "answer", data={"prompt_id": prompt.id})

    async def ask_answer(self, ctx: Context) -> None:
        """Shows the question in the learner's language and asks the answer."""
        prompt = await ctx.uow.prompts.get(ctx.data["prompt_id"])
        assert prompt is not None
        question = prompt.translations.get(ctx.user.language, prompt.question)
        ctx.say(
            ctx._(
                "Your coach asks:\n{question}\n\nType your answer, or send a voice note.",
                question=question,
            )
        )

    async def on_answer(self, ctx: Context, event: Event) -> None:
        """Keeps the answer (text or a voice note) and tells the coach."""
        prompt = await ctx.uow.prompts.get(ctx.data["prompt_id"])
        assert prompt is not None
        answer = PromptAnswer(prompt_id=prompt.id, learner_id=ctx.user.id, at=ctx.now)
        if event.kind in ("voice", "audio") and event.file is not None:
            try:
                upload, _ = await store_upload(ctx, event.file, accept=VOICE)
            except UploadRejected as error:
                await ctx.invalid(rejection_text(ctx, error))
                return
            answer.upload_id = upload.id
            message = N_("{name} answered your question with a voice note. Listen in /prompt.")
        else:
            text = event.text.strip()
            if event.kind != "text" or not text or len(text) > MAX_ANSWER:
                await ctx.invalid(ctx._("Please type your answer, or send a voice note."))
                return
            answer.text = text
            message = N_("{name} answered your question: {text}")
        await ctx.uow.prompts.add_answer(answer)
        if prompt.coach_id is not None:
            await ctx.notify(
                prompt.coach_id,
                message,
                kind="prompt_answer",
                about=ctx.user.id,
                name=ctx.user.display_name or "",
                text=answer.text or "",
            )
        ctx.say(ctx._("Thank you! Your coach reads your answer."))
        await ctx.finish()
