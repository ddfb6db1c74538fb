"""gearshift._background.Background: a call on another thread, waited for later."""

from __future__ import annotations

import _thread
import time

import pytest

from gearshift._background import Background


def test_result_waits_for_the_call_and_returns_what_it_returned() -> None:
    gate = _thread.allocate_lock()
    gate.acquire()
    seen: list[int] = []

    def work(a: int, b: int) -> int:
        with gate:  # held until the test lets it go
            seen.append(_thread.get_ident())
            return a + b

    call = Background(work, 2, 3)
    time.sleep(0.05)
    assert not call.ready  # blocked on the gate
    gate.release()
    assert call.result() == 5 and call.ready
    assert seen and seen[0] != _thread.get_ident()  # it ran on another thread
    assert call.result() == 5  # and can be asked again


def test_what_the_call_raised_is_raised_by_result() -> None:
    def fail() -> None:
        raise KeyError("gone")

    call = Background(fail)
    with pytest.raises(KeyError, match="gone"):
        call.result()
    assert call.ready
