"""A reply kept with its update over a crash (`Reply.as_data`) comes back as it was, through
JSON, whatever it holds."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from flows.messages import Button, OutFile, Reply

words = st.text(max_size=40)
buttons = st.builds(Button, words, st.text(min_size=1, max_size=20), st.none() | words)
replies = st.builds(
    Reply,
    text=words,
    buttons=st.lists(st.lists(buttons, max_size=3).map(tuple), max_size=3).map(tuple),
    file=st.none()
    | st.builds(
        OutFile,
        st.sampled_from([Path("/data/charts/ab12.png"), Path("exports/portfolio.docx")]),
        st.sampled_from(["photo", "document"]),
        st.none() | words,
    ),
    replace=st.booleans(),
    rtl=st.booleans(),
    command_menu=st.none() | st.tuples(st.sampled_from(["learner", "coach"]), words),
)


@given(replies)
def test_a_kept_reply_comes_back_as_it_was(reply: Reply) -> None:
    assert Reply.of_data(json.loads(json.dumps(reply.as_data()))) == reply
