"""The JSON API's routes: a plain ``def`` route runs in one worker thread, not two.

FastAPI runs a sync route in a worker thread, and then, for a route with a
``response_model``, checks its answer in a worker thread again (FastAPI 0.165,
``serialize_response``): with the caller's look-up (``security.require_caller``), three hops
between the event loop and the threads for every API read. A hop cost 0.2-0.3 ms of CPU
here (a bare FastAPI app under uvicorn, 1,000 requests a route: 0.29 ms with none, 0.55 with
one, 0.95 with three), most of it the threads' wake-ups, as much as the work of a small
read. ``OneHopRoute`` runs the route's function in a worker thread from an ``async``
endpoint, so FastAPI checks the answer on the event loop, as it does for any ``async``
route: pydantic's check of a typed answer takes microseconds.

The function, its parameters and its dependencies are unchanged: FastAPI reads them through
``functools.wraps``. Routes that are ``async`` already, and pages (which answer with a
``Response`` that FastAPI does not check), are left as they are.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool


class OneHopRoute(APIRoute):
    """An ``APIRoute`` whose sync function runs in the threads from an ``async`` endpoint."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, in_one_hop(endpoint), **kwargs)


def in_one_hop(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint`` as an ``async`` function that runs it in a worker thread; an ``async``
    endpoint as it is."""
    if inspect.iscoroutinefunction(endpoint):
        return endpoint

    @functools.wraps(endpoint)
    async def threaded(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(endpoint, *args, **kwargs)

    return threaded
