"""Generated walks through every learner flow (a hypothesis state machine) on the real
engine and database: random answers, buttons, stale buttons, Back, /cancel, other commands
in the middle of a flow, files, and restarts of the process.

After every step: nothing raised, the learner got an answer, Back reached the question
before, and what was stored is still there (unless the learner deleted it).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import func, select

from bot import whatsapp
from bot.config import Settings
from bot.runtime import Runtime
from flows.engine import BACK, WAY_OUT_VALUES
from flows.i18n import Translator
from flows.messages import Event, IncomingFile, Reply
from storage.models import Conversation, Evidence, Goal, Reflection, Upload
from tests.conftest import POSTGRES_URL, reset_schema
from tests.fake_telegram import TOKEN
from tests.fakes import FakeClock

OGG = b"OggS\x00\x02" + b"\x00" * 40
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)
PDF = b"%PDF-1.4\n" + b"0" * 40
COMMANDS = [
    "start",
    "goal",
    "reflect",
    "evidence",
    "portfolio",
    "checkin",
    "language",
    "settings",
    "pause",
    "help",
    "privacy",
    "mydata",
    "cancel",
    "delete",
    "stop",
    "coach",  # not for learners: refused kindly
    "nosuchcommand",
]
TEXTS = st.sampled_from(
    [
        "ja",
        "1",
        "3",
        "19h00",
        "2024",
        "Ik praatte met de moeder in een rustige kamer en luisterde eerst naar haar.",
        "ok",
        "😀",
        "   ",
        "x" * 4001,
        "/",
        "Kinderdagverblijf De Speelboom, Molenbeek",
        "ذهبت معها إلى غرفة هادئة واستمعت إليها أولا",
    ]
) | st.text(min_size=1, max_size=30)
#: Buttons whose press may rightly remove stored work.
DESTRUCTIVE = ("delete", "start over", "remove", "erase", "verwijder", "wis")


def fits_whatsapp(replies: list[Reply], translator: Translator) -> None:
    """Every reply, as the WhatsApp room lays it out, stays within WhatsApp's limits: text
    and body lengths, at most 3 reply buttons of 20 characters, at most 10 list rows of 24
    (their descriptions 72), ids unique and short; more choices become numbered lines."""
    for reply in replies:
        laid = whatsapp.layout(reply, translator)
        for message in laid.messages:
            if message["type"] == "text":
                assert 0 < len(message["text"]["body"]) <= whatsapp.TEXT_BODY
                continue
            interactive = message["interactive"]
            assert 0 < len(interactive["body"]["text"]) <= whatsapp.INTERACTIVE_BODY
            action = interactive["action"]
            if interactive["type"] == "button":
                buttons = [b["reply"] for b in action["buttons"]]
                assert len(buttons) <= whatsapp.MAX_REPLY_BUTTONS
                assert all(0 < len(b["title"]) <= whatsapp.BUTTON_TITLE for b in buttons)
                ids = [b["id"] for b in buttons]
            else:
                rows = [row for section in action["sections"] for row in section["rows"]]
                assert len(rows) <= whatsapp.MAX_LIST_ROWS
                assert 0 < len(action["button"]) <= whatsapp.LIST_BUTTON
                assert all(0 < len(r["title"]) <= whatsapp.ROW_TITLE for r in rows), rows
                assert all(
                    len(r.get("description", "")) <= whatsapp.ROW_DESCRIPTION for r in rows
                ), rows
                ids = [r["id"] for r in rows]
            assert len(set(ids)) == len(ids) and all(len(i) <= 200 for i in ids), ids
        assert len(laid.numbered) in (0, *range(whatsapp.MAX_LIST_ROWS + 1, 100))


class Walk(RuleBasedStateMachine):
    """One learner, talking to Opstap as they like."""

    #: The questions asked before anything is stored, which need no way out.
    first_questions: frozenset[tuple[str, str]] = frozenset({("onboarding", "language")})

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp(prefix="opstap-walk-"))
        self.url = POSTGRES_URL or f"sqlite+aiosqlite:///{self.folder / 'walk.db'}"
        self.clock = FakeClock()
        self.runtime: Runtime | None = None
        self.last: list[Reply] = []
        self.old_buttons: list[str] = []
        self.stored: dict[str, int] = {}
        self.destroyed = False
        self.update_id = 0
        #: The walk's language (its learner chooses English), for the WhatsApp layout.
        self.translator = Translator("en")

    # -- plumbing ------------------------------------------------------------------------
    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def start_process(self) -> None:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            telegram_token=TOKEN,  # type: ignore[arg-type]
            database_url=self.url,
            data_dir=self.folder / "data",
        )
        self.runtime = Runtime.create(settings, clock=self.clock)

    def send(self, event: Event) -> None:
        assert self.runtime is not None
        self.update_id += 1
        before = self.run(self.state())
        replies = self.run(
            self.runtime.engine.handle(
                channel="walk",
                external_id="learner",
                chat_id="1",
                event=event,
                update_id=self.update_id,
            )
        )
        assert replies and any(r.text.strip() or r.file for r in replies), (event, before)
        fits_whatsapp(replies, self.translator)
        self.old_buttons += [b.data for r in self.last for b in r.flat_buttons]
        self.last = replies
        self.check_way_out()

    def check_way_out(self) -> None:
        """A question with buttons, inside a flow, offers a way back or out: Back (to a
        question before), a command ("Not now" stops the flow), or a button that leaves the
        question and changes nothing (WAY_OUT_VALUES: "No", "Keep it", "Done"...). Only the
        very first question (the language, before anything is stored) has none."""
        flow, step, history = self.run(self.state())
        asking = [r for r in self.last if r.flat_buttons]
        if flow is None or not asking or (flow, step) in self.first_questions:
            return
        ways_out = [
            b.label
            for b in asking[-1].flat_buttons
            if b.data.startswith("/")
            or b.label == "« Back"
            or (b.data.rsplit(":", 1)[-1] == BACK and history)
            or b.data.rsplit(":", 1)[-1] in WAY_OUT_VALUES
            or b.data.rsplit(":", 1)[-1] == "list"  # "« Back to the list"
        ]
        assert ways_out, ("no way back or out", flow, step, asking[-1].flat_buttons)

    async def state(self) -> tuple[str | None, str | None, list[Any]]:
        assert self.runtime is not None
        async with self.runtime.sessionmaker() as session:
            conversation = await session.scalar(select(Conversation))
            if conversation is None:
                return None, None, []
            return conversation.flow, conversation.step, list(conversation.history)

    async def counts(self) -> dict[str, int]:
        assert self.runtime is not None
        async with self.runtime.sessionmaker() as session:
            return {
                model.__name__: int(
                    await session.scalar(select(func.count()).select_from(model)) or 0
                )
                for model in (Reflection, Goal, Evidence, Upload)
            }

    def buttons(self) -> list[tuple[str, str]]:
        return [(b.label, b.data) for r in self.last for b in r.flat_buttons]

    # -- the walk ------------------------------------------------------------------------
    @initialize()
    def begin(self) -> None:
        self.run(reset_schema(self.url))
        self.start_process()
        # A learner who chose a language and agreed: the walk starts in the menu.
        self.send(Event(kind="command", command="start"))
        self.press_label("English")
        self.press_label("Yes, I agree")
        self.send(Event(kind="text", text="Samira"))
        self.send(Event(kind="command", command="cancel"))  # the intake can wait

    def press_label(self, label: str) -> None:
        data = next(d for text, d in self.buttons() if text == label)
        self.send(Event(kind="button", value=data))

    @rule(command=st.sampled_from(COMMANDS))
    def command(self, command: str) -> None:
        self.destroyed |= command in ("delete", "stop")
        self.send(Event(kind="command", command=command))

    @rule(text=TEXTS)
    def text(self, text: str) -> None:
        self.send(Event(kind="text", text=text))

    @rule(choice=st.integers(min_value=0, max_value=30))
    def press(self, choice: int) -> None:
        buttons = [b for b in self.buttons() if b[1].rsplit(":", 1)[-1] != BACK]
        if not buttons:
            return
        label, data = buttons[choice % len(buttons)]
        self.destroyed |= any(word in label.lower() for word in DESTRUCTIVE)
        self.send(Event(kind="button", value=data))

    @rule()
    def back(self) -> None:
        backs = [data for _, data in self.buttons() if data.rsplit(":", 1)[-1] == BACK]
        if not backs:
            return
        flow, _, history = self.run(self.state())
        self.send(Event(kind="button", value=backs[0]))
        after_flow, after_step, _ = self.run(self.state())
        if history:  # Back reaches the question before, in the same flow
            assert (after_flow, after_step) == (flow, history[-1])

    @rule(choice=st.integers(min_value=0, max_value=500))
    def stale(self, choice: int) -> None:
        if self.old_buttons:
            self.send(Event(kind="button", value=self.old_buttons[choice % len(self.old_buttons)]))

    @rule(kind=st.sampled_from(["voice", "photo", "document"]))
    def file(self, kind: str) -> None:
        content = {"voice": OGG, "photo": PNG, "document": PDF}[kind]

        async def read() -> bytes:
            return content

        incoming = IncomingFile(kind=kind, read=read, size=len(content), duration=3)  # type: ignore[arg-type]
        self.send(Event(kind=kind, file=incoming))  # type: ignore[arg-type]

    @rule()
    def restart(self) -> None:
        """The process stops and starts again: the conversation goes on where it was."""
        assert self.runtime is not None
        before = self.run(self.state())
        self.run(self.runtime.close())
        self.start_process()
        assert self.run(self.state()) == before

    @rule()
    def later(self) -> None:
        self.clock.advance(days=1, hours=3)

    @invariant()
    def nothing_stored_is_lost(self) -> None:
        if self.runtime is None:
            return
        counts = self.run(self.counts())
        if not self.destroyed:
            for name, count in self.stored.items():
                assert counts[name] >= count, (name, count, counts[name])
        self.stored, self.destroyed = counts, False

    def teardown(self) -> None:
        if self.runtime is not None:
            self.run(self.runtime.close())
        self.loop.close()


Walk.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,  # seeded: the same walks in every CI run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_walks = Walk.TestCase
