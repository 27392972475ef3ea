"""Runs a built pipeline as a service: HTTP port first, then the pipeline, until drained.

The order matters: logging is installed by the caller first; the HTTP server
starts before the pipeline, so /healthz and /readyz answer (not ready) while a
broker is still unreachable; ``pipeline.run()`` installs the SIGTERM / SIGINT
drain; the server closes last.

Secrets stay secret: the config's secret values (and secret-named environment
variables) are added to the log handler's masking and masked in what the HTTP
endpoints return. The admin endpoint's bearer token is read here, from
``BROADWAY_ADMIN_TOKEN`` (:mod:`broadway_py.metrics.admin_token`).

As worker I of ``run --workers N`` (``worker``), the bound HTTP port is written
where the parent reads it (:mod:`.worker_role`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from broadway_py.config.loader import LoadedConfig
from broadway_py.config.secret_text import SecretMasker
from broadway_py.config.secret_values import config_secrets, environment_secrets
from broadway_py.errors import BroadwayError
from broadway_py.metrics import Server, serve
from broadway_py.metrics.admin_token import ADMIN_TOKEN_ENV, admin_token_from
from broadway_py.pipeline import Pipeline
from broadway_py.service.gc_policy import apply as apply_gc_policy
from broadway_py.service.logs import add_log_secrets
from broadway_py.service.progress import Progress
from broadway_py.service.worker_role import WorkerRole
from broadway_py.telemetry import Event, PipelineStateChanged

log = logging.getLogger("broadway_py.service")


class ServiceError(BroadwayError):
    """The service could not start (e.g. its HTTP port is taken)."""


async def run_service(
    loaded: LoadedConfig,
    pipeline: Pipeline,
    gc_policy: str = "default",
    worker: WorkerRole | None = None,
) -> None:
    """Serve HTTP, run the pipeline until it stops or drains, then close.

    ``gc_policy`` (see :mod:`.gc_policy`) is carried out once the pipeline runs.
    ``worker``: this process is a worker of ``run --workers N``; it announces its port.

    Raises PipelineFailed when the supervisor gives up, ServiceError when the
    HTTP port cannot be bound or BROADWAY_ADMIN_TOKEN is set but empty, and the
    connectors' errors (wrong credentials, a missing queue) from the start.
    """
    secrets = config_secrets(loaded) | environment_secrets(os.environ)
    add_log_secrets(secrets)
    masker = SecretMasker(secrets)
    spec = loaded.spec
    http = spec.http
    admin_token = _admin_token() if http.enabled and http.admin else None
    interval = spec.logging.progress_interval
    server: Server | None = None
    progress = Progress(pipeline) if interval else None
    ticker: asyncio.Task[None] | None = None
    loop = asyncio.get_running_loop()
    started_once: list[bool] = []  # the policy applies at the first start, not at restarts

    def on_state(event: Event) -> None:
        if isinstance(event, PipelineStateChanged) and event.state == "running":
            # Logged on the next loop turn: by then run() has installed the signal handlers.
            loop.call_soon(log.info, "pipeline %r is running", pipeline.name)
            if not started_once:
                started_once.append(True)
                loop.call_soon(apply_gc_policy, gc_policy)

    unsubscribe = pipeline.telemetry.subscribe(on_state)
    try:
        if http.enabled:
            try:
                server = await serve(
                    pipeline,
                    host=http.host,
                    port=http.port,
                    stall_window=http.stall_window,
                    admin=http.admin,
                    admin_token=admin_token,
                    redact=masker.mask,
                )
            except OSError as error:
                raise ServiceError(error.strerror or str(error)) from None
            if worker is not None:
                worker.announce_port(server.port)
        if progress is not None and interval:
            ticker = asyncio.create_task(progress.run(interval), name="broadway:progress")
        log.info(
            "starting pipeline %r (%s producer, %d processors, batchers: %s)",
            pipeline.name,
            loaded.producer_type,
            spec.processors.concurrency,
            ", ".join(spec.batchers) or "none",
        )
        if spec.tracing.enabled:  # the builder checked the otel extra is there
            from broadway_py.otel import install_default_provider

            install_default_provider()
        await pipeline.run()
        log.info("pipeline %r stopped", pipeline.name)
    finally:
        unsubscribe()
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        if progress is not None:
            progress.report(final=True)
            progress.close()
        if server is not None:
            await server.close()


def _admin_token() -> str | None:
    try:
        token = admin_token_from(os.environ)
    except ValueError as error:
        raise ServiceError(str(error)) from None
    if token is None:
        log.warning(
            "the admin endpoint is enabled without authentication: set %s to require a "
            "bearer token",
            ADMIN_TOKEN_ENV,
        )
    return token
