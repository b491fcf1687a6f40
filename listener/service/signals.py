"""How a run answers SIGTERM, SIGINT and SIGHUP: stop and flush, then stop without waiting, then end."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from listener.audio.base import AudioSource
from listener.lifecycle import under_systemd
from listener.pipeline import Pipeline

log = logging.getLogger(__name__)


def _reload_refused(signum: int, frame: FrameType | None) -> None:
    log.warning(
        "signal %d (SIGHUP) ignored: the service reloads nothing; to apply a changed config: "
        "sudo systemctl restart listener",
        signum,
    )


class StopSignals:
    """SIGTERM and SIGINT (and SIGHUP by hand): the first stops the source, so every output is flushed;
    the second cuts the flush's waits short (:meth:`Pipeline.hurry`); the third ends the process at once.

    Each step gives up less than the next: a hurried stop still hands on
    the open session's summary and keeps unsent messages in the spool.
    """

    def __init__(self, source: AudioSource) -> None:
        self.source = source
        self.received: list[int] = []  # a plain list: safe to touch from a handler
        self._pipeline: Pipeline | None = None  # attached once the stages are open
        self._handled: list[int] = []  # the signals handle() answers

    def install(self) -> Callable[[], None]:
        """Handle the signals from here on; returns what puts the previous handlers back."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        # SIGHUP: the terminal of a hand-started run went away (an ssh session dropped); flush as for
        # SIGTERM, unless the run was started to survive that (nohup ignores SIGHUP). Under systemd there
        # is no terminal: a HUP is someone's "reload", and stopping on it would leave the device dark,
        # since a clean exit is not restarted
        service = under_systemd()
        self._handled = [signal.SIGTERM, signal.SIGINT]
        if not service and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            self._handled.append(signal.SIGHUP)
        previous = {s: signal.signal(s, self.handle) for s in self._handled}
        if service:
            previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, _reload_refused)

        def restore() -> None:
            for s, h in previous.items():
                signal.signal(s, h)

        return restore

    def attach(self, pipeline: Pipeline) -> None:
        """The stages are open: a second signal hurries them (one that came while they opened, now)."""
        self._pipeline = pipeline
        if self.received:
            pipeline.stopping()
        if len(self.received) >= 2:
            pipeline.hurry()

    def _stop(self) -> None:
        self.source.stop()
        pipeline = self._pipeline
        if pipeline is not None:
            pipeline.stopping()

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        # no waiting here: a handler runs on the main thread, which may hold the very lock stop() takes
        if len(self.received) == 1:
            log.info("signal %d: stopping after flushing every output (a second signal stops without waiting)", signum)
            threading.Thread(target=self._stop, name="listener-stop", daemon=True).start()
        elif len(self.received) == 2:
            log.warning(
                "signal %d again: stopping without waiting for the recogniser's last words or the broker; "
                "unsent messages stay in the spool for the next start (a third signal ends at once, "
                "losing the open session's summary)",
                signum,
            )
            # the next one is the kernel's: it ends the process even while the main thread is inside a
            # long C call (a model loading, a driver that will not close), where no Python handler runs
            for handled in self._handled:
                signal.signal(handled, signal.SIG_DFL)
            pipeline = self._pipeline
            if pipeline is not None:
                threading.Thread(target=pipeline.hurry, name="listener-hurry", daemon=True).start()
