"""Many task calls of the gateway's subscribers leave in one broker message and all run."""

from __future__ import annotations

import pytest
from celery import shared_task

from cms.celery import app
from cms.tasks import task_calls_run_task, task_calls_send

RAN: list[tuple[str, int]] = []


@shared_task(name="tests.taskbatch.record")
def record_task(label: str, n: int) -> None:
    RAN.append((label, n))


@shared_task(name="tests.taskbatch.explode")
def explode_task(n: int) -> None:
    raise RuntimeError(f"boom {n}")


def _fresh_pools() -> None:
    """Connections made for another broker URL are not reused (kombu keeps the pools)."""
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker():
    """A real (in-memory) broker with eager execution off, as in production."""
    saved = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager = False
    app.conf.broker_url = "memory://localhost/taskbatch"
    _fresh_pools()
    RAN.clear()
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue("celery")
        queue.clear()
        yield queue
        queue.close()
    app.conf.task_always_eager, app.conf.broker_url = saved
    _fresh_pools()


def _messages(queue) -> list[dict]:
    bodies = []
    while queue.qsize():
        message = queue.get(timeout=1)
        bodies.append({"task": message.headers["task"], "body": message.decode()})
        message.ack()
    return bodies


def test_many_calls_leave_in_chunks_and_one_call_as_itself(broker):
    task_calls_send([record_task.si("b", n) for n in range(120)])
    messages = _messages(broker)
    assert [m["task"] for m in messages] == ["cms.tasks.task_calls_run_task"] * 3
    sizes = [len(m["body"][1]["calls"]) for m in messages]
    assert sizes == [50, 50, 20]
    assert messages[0]["body"][1]["calls"][0] == [
        "tests.taskbatch.record",
        ["b", 0],
        {},
    ]
    assert RAN == []

    task_calls_send([record_task.si("c", 1)])
    (single,) = _messages(broker)
    assert single["task"] == "tests.taskbatch.record"


def test_a_worker_runs_a_chunk_in_order_and_sends_a_failing_call_on_its_own(broker):
    done = task_calls_run_task(
        calls=[
            ["tests.taskbatch.record", ["d", 1], {}],
            ["tests.taskbatch.explode", [7], {}],
            ["tests.taskbatch.record", [], {"label": "d", "n": 2}],
            ["no.such.task", [], {}],
        ]
    )
    assert done == 2
    assert RAN == [("d", 1), ("d", 2)]
    (retry,) = _messages(broker)
    assert retry["task"] == "tests.taskbatch.explode"
    assert retry["body"][0] == [7]


def test_eager_mode_runs_each_call_at_once():
    RAN.clear()
    assert app.conf.task_always_eager
    task_calls_send([record_task.si("e", 1), record_task.si("e", 2)])
    assert RAN == [("e", 1), ("e", 2)]
