"""Batch inference on Ray: the local cascade as Ray Data ``map_batches`` over an actor pool.

The driver lists the inputs as ``iter_sources`` does (folders, zips and files; a manifest CSV
stands for the files it lists) and sends each source by value: its position, name, file and zip archive. Each actor of
an ``ActorPoolStrategy`` pool loads the bundle's predictors once (``serving_stages``: an export
that passed its parity gate, or Keras) and runs ``Cascade.run`` on its batches, so decoding,
resizing, the stage-1 threshold and every error row are exactly the local engine's. Results come
back in input order (``preserve_order``) and are written by the same ``ResultsWriter``.

Without an address a local Ray instance is started with this machine's cores and shut down at
the end; with one (``auto``, ``ray://head:10001``) the job runs on that cluster, whose nodes must
see the bundle and the input files at the same paths.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sem_core.cascade import CascadeConfig
from sem_core.data.sources import ImageSource, expand_manifests, iter_sources
from sem_core.results_writer import ResultsSummary, ResultsWriter


@dataclass(frozen=True)
class RayOptions:
    """How a Ray run is set up.

    Attributes:
        address: Ray cluster to join; None starts a local instance. Default: None.
        actors: Size of the actor pool; None: one per CPU Ray reports. Default: None.
        runtime: "auto", "keras", "onnx" or "litert", resolved once on the driver so every actor
            runs the same models. Default: "auto".
        batch_size: Images per ``map_batches`` batch (and cascade batch). Default: 32.
        review_threshold: As for ``cascade_from_bundle``. Default: 0.6.
        stage1_threshold: As for ``cascade_from_bundle``. Default: None.
    """

    address: str | None = None
    actors: int | None = None
    runtime: str = "auto"
    batch_size: int = 32
    review_threshold: float = 0.6
    stage1_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.actors is not None and self.actors < 1:
            raise ValueError(f"Received `actors={self.actors}`; expected at least 1.")
        if self.batch_size < 1:
            raise ValueError(f"Received `batch_size={self.batch_size}`; expected at least 1.")


def source_rows(inputs: Any) -> Iterator[dict[str, object]]:
    """Each input source as a row of plain values (see ``reopen_source``).

    Raises:
        ValueError: For an array or in-memory bytes, which have no file a worker could read.
    """
    for position, source in enumerate(iter_sources(inputs)):
        if source.path is None and source.archive is None:
            raise ValueError(f"{source.name}: the Ray engine reads files and zip archives only "
                             "(an array or in-memory bytes cannot be sent by name).")
        yield {"position": position, "name": source.name,
               "path": "" if source.path is None else str(source.path),
               "archive": "" if source.archive is None else str(source.archive)}


class CascadeActor:
    """One actor of the pool: the bundle's predictors, loaded once, and the cascade.

    Args:
        bundle: The bundle folder (every node must see it at this path).
        runtime: A resolved runtime ("keras", "onnx" or "litert").
        config: The cascade's thresholds and batch size (the input size is the bundle's).
        threads: Threads of an exported runtime in this actor.
    """

    def __init__(self, bundle: str, runtime: str, config: CascadeConfig, threads: int) -> None:
        from sem_core.deploy.serving import serving_stages
        from sem_core.inference import cascade_from_bundle

        stages = serving_stages(bundle, runtime, threads=threads)
        self.cascade = cascade_from_bundle(
            bundle, stages=stages, review_threshold=config.review_threshold,
            batch_size=config.batch_size, stage1_threshold=config.stage1_threshold)
        self._archives: dict[Path, dict[str, ImageSource]] = {}

    def __call__(self, batch):
        """A pandas batch of source rows -> their positions and pickled ``CascadeResult``s."""
        import pandas as pd

        from sem_core.data.sources import reopen_source

        sources = [reopen_source(name, Path(path) if path else None,
                                 Path(archive) if archive else None, self._archives)
                   for name, path, archive in zip(batch["name"], batch["path"], batch["archive"])]
        results = list(self.cascade.run(sources))
        return pd.DataFrame({"position": batch["position"].to_numpy(),
                             "result": [pickle.dumps(result) for result in results]})


def _bound_actor(bundle: str, runtime: str, config: CascadeConfig, threads: int) -> type:
    """``CascadeActor`` with its arguments bound into the class: Ray ships the class itself, so a
    restarted actor never depends on constructor arguments kept in the object store (Ray logs
    an error line for every actor that does)."""

    class BoundCascadeActor(CascadeActor):
        def __init__(self) -> None:
            super().__init__(bundle, runtime, config, threads)

    return BoundCascadeActor


def predict_on_ray(bundle: str | os.PathLike, inputs: Any, out: Path,
                   options: RayOptions = RayOptions(),
                   progress: Callable[[int], None] | None = None) -> tuple[ResultsSummary, str]:
    """Run the cascade over the inputs on Ray and write one row per file to ``out``.

    Args:
        bundle: The bundle folder.
        inputs: Folders, zips and files (as for ``iter_sources``); a manifest CSV stands for
            the files it lists (``expand_manifests``).
        out: Results table (.csv or .parquet), never overwritten.
        options: Cluster, pool size, runtime, batch size, thresholds. Default: ``RayOptions()``.
        progress: Called with 1 for each row written (a progress bar's ``update``); Ray Data's
            own progress bars and log lines are off. Default: None.

    Returns:
        The writer's summary and the runtime the actors ran.

    Raises:
        sem_core.deploy.ExportError: When an export runtime has no usable export.
        sem_core.registry.BundleError: When the bundle cannot be read.
        FileExistsError: When ``out`` exists.
    """
    import ray

    from sem_core.deploy.serving import bundle_info, choose_export

    bundle = str(Path(bundle).resolve())
    info = bundle_info(bundle)
    chosen = choose_export(bundle, options.runtime)
    runtime = "keras" if chosen is None else chosen.info.export_format.value
    threshold = info.stage1_threshold if options.stage1_threshold is None else options.stage1_threshold
    config = CascadeConfig(stage1_threshold=float(threshold),
                           review_threshold=options.review_threshold,
                           batch_size=options.batch_size, image_size=int(info.input_size))
    if Path(out).exists():
        raise FileExistsError(f"{out} already exists; results are never overwritten.")
    rows = list(source_rows(expand_manifests([inputs] if isinstance(inputs, (str, os.PathLike))
                                              else inputs)))
    started_here = not ray.is_initialized()
    with _ray_logs_at(logging.WARNING):
        if started_here:
            ray.init(address=options.address, num_cpus=None if options.address else os.cpu_count(),
                     include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        try:
            with ResultsWriter(Path(out)) as writer:
                for result in _run_pool(rows, bundle, runtime, config, options):
                    writer.write(result)
                    if progress is not None:
                        progress(1)
        finally:
            if started_here:
                ray.shutdown()
    return writer.summary(), runtime


# Ray's notes that say nothing to a user of this command: the token-authentication default of a
# local instance (its warning that authentication is *off* still shows), that Ray Data's bars are
# off (the command draws its own) and, at INFO, that a dataset finished (Ray Data sets its own
# loggers' levels when a dataset starts, so the level set below does not reach this one).
_QUIET_NOTES: dict[str, Callable[[logging.LogRecord], bool]] = {
    "ray._private.authentication.authentication_token_setup":
        lambda record: str(record.msg).startswith("Token authentication is enabled"),
    "ray.data._internal.progress": lambda record: str(record.msg).startswith("Progress bars"),
    "ray.data._internal.execution.streaming_executor":
        lambda record: record.levelno < logging.WARNING,
}


def _not_a_quiet_note(record: logging.LogRecord) -> bool:
    quiet = _QUIET_NOTES.get(record.name)
    return quiet is None or not quiet(record)


@contextlib.contextmanager
def _ray_logs_at(level: int) -> Iterator[None]:
    """Ray Data logs every execution plan at INFO; a command's output keeps to its own lines."""
    loggers = [logging.getLogger(name) for name in ("ray", "ray.data")]
    levels = [logger.level for logger in loggers]
    quiet = [logging.getLogger(name) for name in _QUIET_NOTES]
    for logger in loggers:
        logger.setLevel(level)
    for logger in quiet:
        logger.addFilter(_not_a_quiet_note)
    try:
        yield
    finally:
        for logger, previous in zip(loggers, levels):
            logger.setLevel(previous)
        for logger in quiet:
            logger.removeFilter(_not_a_quiet_note)


def _run_pool(rows: list[dict[str, object]], bundle: str, runtime: str, config: CascadeConfig,
              options: RayOptions):
    """Results of every row, in input order."""
    import ray

    if not rows:
        return
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    actors = min(options.actors or cpus, max(1, -(-len(rows) // config.batch_size)))
    threads = max(1, cpus // actors)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    # Ray Data's bars (and, off a terminal, a block of log lines every 10 s) would repeat the
    # caller's own progress; drawing them also cost about 1 s a run on 2 cores (measured).
    context.enable_progress_bars = False
    context.enable_operator_progress_bars = False
    context.print_on_execution_start = False
    dataset = ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // config.batch_size)))
    results = dataset.map_batches(
        _bound_actor(bundle, runtime, config, threads), batch_size=config.batch_size,
        batch_format="pandas", num_cpus=threads, compute=ray.data.ActorPoolStrategy(size=actors))
    for batch in results.iter_batches(batch_format="pandas", batch_size=None):
        for payload in batch["result"]:
            yield pickle.loads(payload)
