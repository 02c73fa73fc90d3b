"""Awaiting the log writer from asyncio: every result arrives, and a commit does not hog the loop."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future

from bot.store import ConversationLog
from bot.store.awaiting import WriterResults
from tests.support.logs import exchange


def settle_on_a_thread(futures: list[Future], outcome=lambda n: n) -> None:
    def settle() -> None:
        for n, future in enumerate(futures):
            result = outcome(n)
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    thread = threading.Thread(target=settle)
    thread.start()
    thread.join()


async def test_every_result_and_error_reaches_its_waiter():
    results = WriterResults(per_turn=3)
    futures = [Future() for _ in range(20)]
    waiters = [results.wait(future) for future in futures]
    settle_on_a_thread(futures, lambda n: ValueError(f"job {n}") if n % 7 == 0 else n)
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)
    assert [str(o) if isinstance(o, ValueError) else o for o in outcomes] == [
        f"job {n}" if n % 7 == 0 else n for n in range(20)
    ]


async def test_a_commit_for_many_handlers_lets_other_work_run_between_them():
    results = WriterResults(per_turn=2)
    futures = [Future() for _ in range(6)]
    order: list = []
    waiters = [results.wait(future) for future in futures]
    for n, waiter in enumerate(waiters):
        waiter.add_done_callback(lambda _, n=n: order.append(n))
    # Something that becomes ready as the first handler wakes, like a gateway heartbeat.
    waiters[0].add_done_callback(lambda _: asyncio.get_running_loop().call_soon(order.append, "other"))
    settle_on_a_thread(futures)
    await asyncio.gather(*waiters)
    assert order.index("other") < order.index(5)
    assert [item for item in order if item != "other"] == list(range(6))


async def test_a_cancelled_waiter_does_not_stop_the_others(tmp_path):
    results = WriterResults()
    with ConversationLog(tmp_path / "log.db") as store:
        waiters = [results.wait(store.submit(exchange(n))) for n in range(10)]
        waiters[3].cancel()
        done = await asyncio.gather(*waiters, return_exceptions=True)
    assert isinstance(done[3], asyncio.CancelledError)
    assert [outcome for n, outcome in enumerate(done) if n != 3] == ["logged"] * 9
    assert store.query("select count(*) as n from conversations")[0]["n"] == 10


def test_a_result_for_a_closed_loop_is_dropped():
    results = WriterResults()
    future: Future = Future()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(asyncio.sleep(0))
    waiter = loop.run_until_complete(_wait_in(loop, results, future))
    loop.close()
    future.set_result("logged")  # the writer finishes after the bot's loop is gone
    assert not waiter.done() and results._ready == {}


async def _wait_in(loop, results: WriterResults, future: Future):
    return results.wait(future)
