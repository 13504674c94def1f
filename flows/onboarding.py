"""Onboarding on /start: language, welcome, consent, the name to use. Also /language, /help."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import ClassVar

from flows.engine import COACH, COORDINATOR, EVERYONE, LEARNER, Context, Flow
from flows.i18n import LANGUAGES, N_
from flows.messages import Button, Event

#: Raise this when the consent text changes in substance; learners are asked again.
CONSENT_VERSION = 1
MAX_NAME_LENGTH = 40
JOIN_CODE = re.compile(r"^join_([A-Za-z0-9_-]{1,40})$")


def guessed_first(ctx: Context) -> list[str]:
    """The language codes, the user's current one first when it is only a guess (the
    language of their Telegram app) and not yet their choice."""
    codes = list(LANGUAGES)
    if not ctx.user.language_chosen and ctx.user.language in codes:
        codes.remove(ctx.user.language)
        codes.insert(0, ctx.user.language)
    return codes


def language_buttons(ctx: Context, *, mark_current: bool = False) -> list[list[Button]]:
    """One button per language, each named in itself, two per row; the current one ticked,
    or, before any choice, the guessed one first."""
    buttons = [
        ctx.button(
            ("\u2713 " if mark_current and code == ctx.user.language else "") + LANGUAGES[code],
            f"lang:{code}",
        )
        for code in guessed_first(ctx)
    ]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def chosen_language(event: Event) -> str | None:
    """The language a button press or typed name chose, if any."""
    if event.value and event.value.startswith("lang:"):
        code = event.value.removeprefix("lang:")
        return code if code in LANGUAGES else None
    typed = event.text.strip().casefold()
    for code, name in LANGUAGES.items():
        if typed in (code, name.casefold()):
            return code
    return None


class LanguageStep:
    """The first question for someone new: the language, asked in every language at once.
    Flows that use it have a `consent` step next."""

    async def ask_language(self, ctx: Context) -> None:
        """Asks for the language in every language at once."""
        lines = [
            ctx.engine.translator(code)._("Choose your language.") for code in guessed_first(ctx)
        ]
        ctx.say("\n".join(lines), buttons=language_buttons(ctx))

    async def on_language(self, ctx: Context, event: Event) -> None:
        """Stores the chosen language and moves on to consent."""
        language = chosen_language(event)
        if language is None:
            await ctx.invalid(ctx._("Please tap one of the languages."))
            return
        ctx.set_language(language)
        await ctx.go("consent")


class Onboarding(LanguageStep, Flow):
    """Meets a new learner: language, a short welcome, consent and the name to use."""

    name = "onboarding"
    commands: ClassVar = {"start": N_("Start or restart Opstap")}
    roles = EVERYONE

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Keeps a group code from the link, then starts or resumes onboarding."""
        if match := JOIN_CODE.match(args.strip()):
            ctx.user.pending_join_code = match.group(1)
        user = ctx.user
        if user.has_consented and user.display_name:
            ctx.say(ctx._("Welcome back, {name}!", name=user.display_name))
            if ctx.conversation.flow is not None and ctx.conversation.flow != self.name:
                ctx.say(ctx._("Let us continue where you left off."))
                await ctx.repeat()
                return
            await self.next_after_onboarding(ctx)
            return
        first = "language" if not user.language_chosen else "consent"
        await ctx.begin(self, first)
        if user.status == "new":
            user.status = "onboarding"

    # consent ---------------------------------------------------------------------------
    async def ask_consent(self, ctx: Context) -> None:
        """Welcomes the learner and asks for consent in short plain text."""
        ctx.say(
            ctx._(
                "Welcome to Opstap! I help you learn from your work, one small step a week. "
                "Together we collect proof of what you can do, for your diploma."
            )
        )
        ctx.say(
            ctx._(
                "Before we start: I store your answers, goals, reflections and files. "
                "Only you and your coach can see them, and you choose what your coach sees. "
                "You can see or delete everything at any time with /mydata and /delete. "
                "Do you agree?"
            ),
            buttons=[
                [ctx.button(ctx._("Yes, I agree"), "yes")],
                [ctx.button(ctx._("No, thanks"), "no")],
                [ctx.back_button()] if ctx.conversation.history else [],
            ],
        )

    async def on_consent(self, ctx: Context, event: Event) -> None:
        """Stores consent with its version and time, or the refusal alone."""
        if event.value == "yes":
            ctx.user.consent_version = CONSENT_VERSION
            ctx.user.consent_at = ctx.now
            ctx.user.consent_declined_at = None
            await ctx.go("name")
        elif event.value == "no":
            ctx.user.consent_declined_at = ctx.now
            ctx.user.status = "declined"
            ctx.user.pending_join_code = None
            await ctx.finish(menu=False)
            ctx.say(
                ctx._(
                    "That is fine. I stored nothing about you except this choice. "
                    "If you change your mind, send /start."
                )
            )
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    # name ------------------------------------------------------------------------------
    async def ask_name(self, ctx: Context) -> None:
        """Asks what the learner wants to be called."""
        ctx.say(ctx._("What name should I call you?"), buttons=[[ctx.way_out_button()]])

    async def on_name(self, ctx: Context, event: Event) -> None:
        """Stores the name and goes on to the intake, or to the menu."""
        name = " ".join(event.text.split())
        if event.kind != "text" or not name:
            await ctx.invalid(ctx._("Please type the name you want me to use."))
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
        if ctx.user.status in ("new", "onboarding", "declined"):
            ctx.user.status = "active"
        ctx.say(ctx._("Nice to meet you, {name}!", name=name))
        await self.next_after_onboarding(ctx)

    async def next_after_onboarding(self, ctx: Context) -> None:
        """Joins a group from a link first, then hands over to the intake when it is
        installed, else ends with the menu."""
        if (
            ctx.user.role == LEARNER
            and ctx.user.pending_join_code
            and await ctx.start_flow("join", command="join")
        ):
            return
        if ctx.user.role == LEARNER and await ctx.start_flow("intake", command="start"):
            return
        await ctx.finish()


def menu_in_new_language(ctx: Context) -> None:
    """Has the channel show a coach's (or coordinator's) command menu in the new language,
    with the confirmation just said; learners keep the menu Telegram shows per language."""
    if ctx.user.role != LEARNER and ctx.replies:
        ctx.replies[-1] = replace(ctx.replies[-1], command_menu=(ctx.user.role, ctx.user.language))


class Language(Flow):
    """Changes the language at any moment."""

    name = "language"
    commands: ClassVar = {"language": N_("Change the language")}
    roles = EVERYONE

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Asks for the new language, or sets it straight from `/language fr`."""
        language = chosen_language(Event(kind="text", text=args)) if args else None
        if language:
            ctx.set_language(language)
            ctx.say(ctx._("I will speak English with you from now on."))
            menu_in_new_language(ctx)
            if ctx.conversation.flow is not None:
                await ctx.repeat()  # the question the learner was at, in the new language
            else:
                await ctx.finish()
            return
        # Mid-flow, the learner comes back to the same question afterwards (nothing is lost).
        place = ctx.data.get("resume") if ctx.conversation.flow == self.name else ctx.suspended()
        await ctx.begin(self, "choose", data={"resume": place})

    async def ask_choose(self, ctx: Context) -> None:
        """Offers every language, each named in itself, the current one ticked, and a way
        back that keeps it."""
        ctx.say(
            ctx._("Choose your language. Now: {language}.", language=LANGUAGES[ctx.user.language]),
            buttons=[
                *language_buttons(ctx, mark_current=True),
                [ctx.button(ctx._("« Back"), "keep")],
            ],
        )

    async def on_choose(self, ctx: Context, event: Event) -> None:
        """Stores the new language and confirms in it."""
        if event.value == "keep":
            if not await ctx.resume(ctx.data.get("resume")):
                await ctx.finish()
            return
        language = chosen_language(event)
        if language is None:
            await ctx.invalid(ctx._("Please tap one of the languages."))
            return
        ctx.set_language(language)
        # Translators: confirms the language change, in the new language.
        ctx.say(ctx._("I will speak English with you from now on."))
        menu_in_new_language(ctx)
        if not await ctx.resume(ctx.data.get("resume")):
            await ctx.finish()


class AboutEvc(Flow):
    """Says in a few plain sentences what EVC is, then goes back to where the user was."""

    name = "evc"
    commands: ClassVar = {"evc": N_("What is EVC?")}
    roles = EVERYONE

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Explains EVC, and asks the current question again (or shows the menu)."""
        ctx.say(
            ctx._(
                "EVC means \u201cEerder Verworven Competenties\u201d: recognition of what you "
                "already learned at work. You collect proof of what you can do, in a "
                "portfolio. Then you talk about it with an assessor. What you already know, "
                "you do not have to learn again. So your study can be shorter."
            )
        )
        if ctx.conversation.flow is not None:
            await ctx.repeat()
        else:
            ctx.engine.show_menu(ctx)


class Help(Flow):
    """Lists what the user can do, in their language."""

    name = "help"
    commands: ClassVar = {"help": N_("What I can do")}
    menu: ClassVar = {"help": N_("Help")}
    roles = EVERYONE

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Lists the commands of the user's role with a short description each."""
        lines = [ctx._("This is what I can do for you:")]
        lines += [
            f"{ctx.t.embed('/' + name)} - {ctx._(description)}"
            for name, description in ctx.engine.commands_for(ctx.user.role)
        ]
        lines.append(ctx._("Send /cancel to stop what you are doing. Nothing you saved is lost."))
        ctx.say("\n".join(lines))
        if ctx.conversation.flow is not None:
            await ctx.repeat()
        else:
            ctx.engine.show_menu(ctx)


__all__ = [
    "COACH",
    "CONSENT_VERSION",
    "COORDINATOR",
    "AboutEvc",
    "Help",
    "Language",
    "Onboarding",
]
