"""Django's ASGI handler, without the reference cycle it leaves behind a request that ends
in ``http.disconnect``: a client that left, and under uvicorn also many that did not (its
``receive`` answers ``http.disconnect`` as soon as the response is complete).

``ASGIHandler.handle`` runs the view beside a task that waits for that message and raises
``RequestAborted``. The task keeps the exception; ``handle`` re-raises it with
``task.result()``, which adds its own frame to the traceback, and that frame holds the task:
exception, traceback, frame, task. Everything the frame holds (the request, its body file,
the response) then waits for the cyclic garbage collector, whose full collections paused a
worker for 100+ ms under load (``bench/results/abuse.md``, sessions). Here the task ends
without an exception: ``handle`` finds it done with nothing to raise and cancels the view's
task exactly as before.
"""

from __future__ import annotations

from typing import Any

import django
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler


class CycleFreeASGIHandler(ASGIHandler):
    async def listen_for_disconnect(self, receive: Any) -> None:
        try:
            await super().listen_for_disconnect(receive)
        except RequestAborted:
            return  # the client left (or the response is complete): nothing to keep


def get_asgi_application() -> CycleFreeASGIHandler:
    """``django.core.asgi.get_asgi_application`` with the handler above."""
    django.setup(set_prefix=False)
    return CycleFreeASGIHandler()
