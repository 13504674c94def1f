"""Generated walks through the coach's flows (a hypothesis state machine) on the real engine
and database: a coach with a group of two learners, pressing, typing, going back, using stale
buttons and every coach command in the middle of another, while the learners answer, write
and leave, and days go by.

After every step: nothing raised, and whoever spoke got an answer; while the coach starts
(language, consent), a question with buttons offers a way back or out.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule
from sqlalchemy import select

from flows.coach import create_invite
from flows.engine import BACK
from flows.messages import Event, Reply
from storage.models import Conversation, User
from tests.conftest import reset_schema
from tests.flows.test_walks import TEXTS, Walk, fits_whatsapp

COACH_COMMANDS = [
    "atrisk",
    "coach",
    "feedback",
    "groups",
    "invite",
    "learner",
    "listen",
    "message",
    "newgroup",
    "nudge",
    "prompt",
    "reply",
    "session",
    "stats",
    "settings",
    "language",
    "help",
    "privacy",
    "mydata",
    "cancel",
    "start",
    "goal",  # not for coaches: refused kindly
]
LEARNER_COMMANDS = ["start", "goal", "reflect", "checkin", "sharing", "stop", "help", "cancel"]
LEARNERS = ("amal", "bram")


class CoachWalk(Walk):
    """A coach and two learners of their group, talking to Opstap as they like."""

    first_questions = frozenset({("onboarding", "language"), ("become_coach", "language")})

    def __init__(self) -> None:
        super().__init__()
        self.speaker = "coach"
        self.heard: dict[str, list[Reply]] = {}

    def send_as(self, who: str, event: Event) -> None:
        """`event` from `who`; the coach's answers are what the walk presses on."""
        assert self.runtime is not None
        self.update_id += 1
        replies = self.run(
            self.runtime.engine.handle(
                channel="walk",
                external_id=who,
                chat_id=who,
                event=event,
                update_id=self.update_id,
            )
        )
        assert replies and any(r.text.strip() or r.file for r in replies), (who, event)
        fits_whatsapp(replies, self.translator)
        if who == "coach":
            self.old_buttons += [b.data for r in self.last for b in r.flat_buttons]
            self.last = replies
            self.check_way_out()
        self.heard[who] = replies

    def send(self, event: Event) -> None:
        self.send_as("coach", event)

    async def state(self) -> tuple[str | None, str | None, list[object]]:
        """The coach's conversation."""
        assert self.runtime is not None
        async with self.runtime.sessionmaker() as session:
            conversation = await session.scalar(
                select(Conversation)
                .join(User, User.id == Conversation.user_id)
                .where(User.external_id == "coach")
            )
            if conversation is None:
                return None, None, []
            return conversation.flow, conversation.step, list(conversation.history)

    def check_way_out(self) -> None:
        """Only while the coach starts (their language, the consent): a coach's lists and
        questions elsewhere need no button out, every command works from them."""
        flow, _, _ = self.run(self.state())
        if flow == "become_coach":
            super().check_way_out()

    def learner_press(self, who: str, label: str) -> None:
        data = next(b.data for r in self.heard[who] for b in r.flat_buttons if b.label == label)
        self.send_as(who, Event(kind="button", value=data))

    @initialize()
    def begin(self) -> None:
        self.run(reset_schema(self.url))
        self.start_process()
        assert self.runtime is not None

        async def invite() -> str:
            assert self.runtime is not None
            async with self.runtime.uow() as uow:
                code = await create_invite(uow, now=self.clock(), name="Els")
                await uow.commit()
            return code

        code = self.run(invite())
        self.send(Event(kind="command", command="start", text=f"coach_{code}"))
        self.press_label("English")
        self.press_label("Yes, I agree")
        self.send(Event(kind="text", text="Els"))
        self.send(Event(kind="command", command="newgroup"))
        self.send(Event(kind="text", text="Leergroep A"))
        self.press_label("Thursday")
        self.send(Event(kind="text", text="18:00"))
        self.send(Event(kind="text", text="Campus Brussel"))
        join = next(
            word for r in self.last for word in r.text.split() if word.startswith("join_")
        ).rstrip(".")
        for name in LEARNERS:
            self.send_as(name, Event(kind="command", command="start", text=join))
            self.learner_press(name, "English")
            self.learner_press(name, "Yes, I agree")
            self.send_as(name, Event(kind="text", text=name.title()))
            self.learner_press(name, "Done")
        self.send(Event(kind="command", command="cancel"))

    @rule(command=st.sampled_from(COACH_COMMANDS))
    def command(self, command: str) -> None:
        self.send(Event(kind="command", command=command))

    @rule(who=st.sampled_from(LEARNERS), command=st.sampled_from(LEARNER_COMMANDS))
    def learner_command(self, who: str, command: str) -> None:
        self.send_as(who, Event(kind="command", command=command))

    @rule(who=st.sampled_from(LEARNERS), text=TEXTS)
    def learner_text(self, who: str, text: str) -> None:
        self.send_as(who, Event(kind="text", text=text))

    @rule(who=st.sampled_from(LEARNERS), choice=st.integers(min_value=0, max_value=30))
    def learner_press_any(self, who: str, choice: int) -> None:
        buttons = [b for r in self.heard.get(who, []) for b in r.flat_buttons]
        if buttons:
            pressed = buttons[choice % len(buttons)]
            self.send_as(who, Event(kind="button", value=pressed.data))

    @rule(choice=st.integers(min_value=0, max_value=30))
    def press(self, choice: int) -> None:
        buttons = [b for b in self.buttons() if b[1].rsplit(":", 1)[-1] != BACK]
        if buttons:
            self.send(Event(kind="button", value=buttons[choice % len(buttons)][1]))

    # (text, back, stale, file, restart and later come from Walk, as the coach's)

    def nothing_stored_is_lost(self) -> None:
        """(The learner walk's invariant: here learners leave and coaches remove them.)"""


CoachWalk.TestCase.settings = settings(
    max_examples=10,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,  # seeded: the same walks in every CI run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_coach_walks = CoachWalk.TestCase
