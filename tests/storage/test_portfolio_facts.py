"""`evidence.portfolio_facts`: in one statement, the same facts the portfolio checks read from
`evidence.of_learner` and `reflections.done_of`, on SQLite and PostgreSQL."""

from __future__ import annotations

from bot.runtime import Runtime
from storage.models import Evidence, Reflection, User
from storage.repositories import PieceFacts, ReflectionFacts


async def test_portfolio_facts_are_the_evidence_by_number_and_the_finished_reflections(
    runtime: Runtime,
) -> None:
    async with runtime.uow() as uow:
        learner = await uow.users.add(User(channel="telegram", external_id="1", language="nl"))
        other = await uow.users.add(User(channel="telegram", external_id="2", language="nl"))
        for number, organisation in ((2, "Zorg BV"), (1, None)):
            await uow.evidence.add(
                Evidence(
                    learner_id=learner.id,
                    number=number,
                    kind="report",
                    media="text",
                    title=f"piece {number}",
                    organisation=organisation,
                    period_start="2021-03",
                    period_end=None if number == 1 else "2024",
                    themes=["t1", "t2"] if number == 1 else [],
                    competences=["t1.c1"],
                    checks={"current": "no"} if number == 2 else {},
                    privacy_confirmed=False if number == 2 else None,
                )
            )
        await uow.evidence.add(
            Evidence(learner_id=other.id, number=1, kind="report", media="text", title="x")
        )
        await uow.reflections.add(
            Reflection(learner_id=learner.id, status="done", themes=["t3"], competences=[])
        )
        await uow.reflections.add(
            Reflection(learner_id=learner.id, status="draft", themes=["t4"], competences=[])
        )
        await uow.reflections.add(
            Reflection(learner_id=other.id, status="done", themes=["t5"], competences=[])
        )
        await uow.commit()

    async with runtime.uow() as uow:
        facts = await uow.evidence.portfolio_facts(learner.id)
        empty = await uow.evidence.portfolio_facts(learner.id + other.id + 1)
    assert facts.pieces == [
        PieceFacts(1, "report", None, "2021-03", None, ["t1", "t2"], ["t1.c1"], {}, None),
        PieceFacts(
            2, "report", "Zorg BV", "2021-03", "2024", [], ["t1.c1"], {"current": "no"}, False
        ),
    ]
    assert facts.reflections == [ReflectionFacts(["t3"], [])]
    assert (empty.pieces, empty.reflections) == ([], [])
