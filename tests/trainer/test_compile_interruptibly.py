"""Compiles run in a helper thread so that Ctrl-C stops a run at once, mid-compile."""

import signal
import time

import pytest

from pmarl_bench.trainer.programs import compile_interruptibly


class _Lowered:
    """Stands for a ``jax.stages.Lowered`` whose XLA compile takes ``seconds`` in C++: the
    calling thread handles no signal meanwhile (they are blocked for it)."""

    def __init__(self, seconds: float, result=None, error: Exception | None = None):
        self.seconds, self.result, self.error = seconds, result, error

    def compile(self):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        try:
            time.sleep(self.seconds)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
        if self.error is not None:
            raise self.error
        return self.result


class _Stop(Exception):
    pass


@pytest.mark.slow
def test_a_signal_during_a_long_compile_is_handled_at_once():
    def handler(signum, frame):
        raise _Stop

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        t0 = time.monotonic()
        with pytest.raises(_Stop):
            compile_interruptibly(_Lowered(3.0))
        assert time.monotonic() - t0 < 1.5  # not after the 3 s compile
        # called directly, the same compile holds the handler back until it ends
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        t0 = time.monotonic()
        with pytest.raises(_Stop):
            _Lowered(1.5).compile()
            time.sleep(0.5)  # the handler runs here, after the compile
        assert time.monotonic() - t0 >= 1.5
        time.sleep(1.6)  # let the first compile's thread end before the test does
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_the_compiled_program_or_the_compile_error_comes_back():
    assert compile_interruptibly(_Lowered(0.01, result="program")) == "program"
    with pytest.raises(ValueError, match="bad shapes"):
        compile_interruptibly(_Lowered(0.01, error=ValueError("bad shapes")))
