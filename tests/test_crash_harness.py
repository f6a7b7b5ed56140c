"""A few rounds of bench/crash.py in CI: `watcher once` SIGKILLed at random moments while
it posts Slack threads and sends mail to two recipients, status's advice followed: no paper
lost, none sent twice (the full run, 100 kills and more, is `python bench/crash.py`)."""

from __future__ import annotations

from bench.crash import crash_run


def test_random_kills_lose_nothing_and_send_nothing_twice() -> None:
    tally, lost, twice = crash_run(kills=4, seed=7, verbose=False)
    assert tally.kills == 4
    assert (lost, twice) == (0, 0)
    assert tally.expected and all(len(ids) == 4 * 60 for ids in tally.expected.values())
