from __future__ import annotations

from contextlib import closing

import pytest

from app.errors import PermanentError
from app.mail.bulk import send_parallel
from app.mail.message import Draft, build_message


def message(i: int):
    return build_message(
        Draft(
            sender="Nexus <nexus@example.com>", to=f"p{i}@example.com", subject=f"#{i}", text="x"
        ),
        f"k{i}",
    )


def test_every_item_is_sent_once_over_a_few_reused_sessions(mail_server, smtp_config):
    sent = dict(
        send_parallel(
            range(20), lambda s, i: s.send(message(i)).message_id, smtp_config, connections=3
        )
    )
    assert sorted(sent) == list(range(20))
    assert sorted(r.rcpt_tos[0] for r in mail_server.received) == sorted(
        f"p{i}@example.com" for i in range(20)
    )
    assert 1 <= mail_server.handler.sessions <= 3


def test_an_error_stops_the_run_and_reaches_the_caller(mail_server, smtp_config):
    def send(sender, i):
        if i == 3:
            raise PermanentError("number three is bad")
        return sender.send(message(i))

    with pytest.raises(PermanentError, match="number three"):
        list(send_parallel(range(50), send, smtp_config, connections=2))
    assert len(mail_server.received) < 50


def test_closing_early_stops_handing_out_items(mail_server, smtp_config):
    with closing(
        send_parallel(range(50), lambda s, i: s.send(message(i)), smtp_config, connections=2)
    ) as sends:
        for _ in zip(range(3), sends):
            pass
    assert len(mail_server.received) < 10
