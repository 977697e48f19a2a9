"""Running an iterator ahead in a thread, through a bounded queue.

`animate`'s stages ran one after another: while the VUNet rendered a batch, the decoder and
the pose model waited, and the other way round. `Prefetch` lets the driving side (decode,
pose, smoothing, retargeting: PyAV, MediaPipe and OpenCV release the GIL while they work)
run ahead of the renderer in a thread of its own. The queue is bounded, so memory stays
flat however long the clip; items come out in order; an exception in the thread comes out
of the consumer's next(); `close()` stops the thread and waits for it, so what it reads
(the video) can be closed safely afterwards.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

_DONE = object()


class Prefetch(Iterator[T]):
    def __init__(self, items: Iterable[T], size: int = 8, name: str = "prefetch"):
        self._items = items
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, size))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        """Put unless stopped (checked while the queue is full); False when stopped."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put((item, None)):
                    return
        except BaseException as e:  # handed to the consumer, raised there
            self._put((_DONE, e))
            return
        self._put((_DONE, None))

    def __next__(self) -> T:
        item, error = self._queue.get()
        if item is _DONE:
            self._queue.put((_DONE, error))  # stays done
            if error is not None:
                raise error
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the thread (it finishes the item it is working on) and wait for it."""
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> "Prefetch[T]":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
