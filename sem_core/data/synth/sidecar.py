"""The per-image JSON sidecar, the hard-case flag and a small per-stage timer for benchmarks."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import scipy

from sem_core.data.synth.config import GENERATOR_VERSION, SynthConfig
from sem_core.data.synth.contract import ContractResult
from sem_core.data.synth.defect_base import DefectRecord, Hardness
from sem_core.data.synth.imaging_params import ImagingParams
from sem_core.data.synth.scene_params import SceneParams
from sem_core.data.synth.tools import presents

HARD_SNR = 1.7
HARD_DEFOCUS_SIGMA = 2.2
HARD_VISIBILITY = 0.2
HARD_SUBTYPE_VISIBILITY = 0.35


def hard_reasons(
    hardness: Hardness, record: DefectRecord, imaging: ImagingParams, true_class: str
) -> tuple[str, ...]:
    """Why an image belongs to the tagged hard subset (spec C3); empty when it does not.

    Defect images are hard for very low visibility (v < 0.2) or a hard sub-type shown at low
    visibility (v < 0.35); every image is hard when strongly defocused (sigma > 2.2 px) or at
    SNR < 1.7. The thresholds put 10-20 % of images in the hard subset.
    """
    reasons = []
    if true_class != "Clean":
        if hardness.v < HARD_VISIBILITY:
            reasons.append("low_visibility")
        if record.hard_subtype and hardness.v < HARD_SUBTYPE_VISIBILITY:
            reasons.append(f"hard_subtype:{record.subtype}")
    if imaging.defocus and imaging.psf_sigma > HARD_DEFOCUS_SIGMA:
        reasons.append("defocus")
    if imaging.snr < HARD_SNR:
        reasons.append("low_snr")
    return tuple(reasons)


@dataclass(frozen=True)
class Sidecar:
    """Everything needed to reproduce and audit one image; ``to_dict()`` is JSON-able."""

    generator_version: str
    numpy_version: str
    scipy_version: str
    seeds: tuple[int, int, int]
    config: dict
    label_true: str
    label_observed: str
    bbox: tuple[int, int, int, int]
    raw_bbox: tuple[int, int, int, int]
    z: float
    v: float
    hard: bool
    hard_reasons: tuple[str, ...]
    scene: dict
    imaging: dict
    defect: dict
    presentation: dict
    render: dict
    contract: dict

    @classmethod
    def build(
        cls,
        *,
        config: SynthConfig,
        seeds: tuple[int, int, int],
        label_true: str,
        label_observed: str,
        hardness: Hardness,
        scene: SceneParams,
        layout_tags: dict,
        imaging: ImagingParams,
        defect: DefectRecord,
        presentation,
        bbox,
        raw_bbox,
        render: dict,
        hard: tuple[str, ...],
        contract: ContractResult,
    ) -> Sidecar:
        """Assemble a sidecar from the typed stage records."""
        return cls(
            generator_version=GENERATOR_VERSION,
            numpy_version=np.__version__,
            scipy_version=scipy.__version__,
            seeds=tuple(int(v) for v in seeds),
            config={
                "size": config.size,
                "supersample": config.supersample,
                "label_noise_rate": config.label_noise_rate,
                "label_noise_mode": config.label_noise_mode.value,
                "presentation": presents(config),
                "ease": config.ease,
                "difficulty": config.difficulty.value,
                "tool": config.tool,
            },
            label_true=label_true,
            label_observed=label_observed,
            bbox=tuple(int(v) for v in bbox),
            raw_bbox=tuple(int(v) for v in raw_bbox),
            z=hardness.z,
            v=hardness.v,
            hard=bool(hard),
            hard_reasons=tuple(hard),
            scene={**scene.to_dict(), "tags": _plain(layout_tags)},
            imaging=imaging.to_dict(),
            defect=defect.to_dict(),
            presentation=presentation.to_dict(),
            render=_plain(render),
            contract=_plain(contract.to_dict()),
        )

    def to_dict(self) -> dict:
        """Plain JSON-able dictionary."""
        return {
            "generator_version": self.generator_version,
            "numpy_version": self.numpy_version,
            "scipy_version": self.scipy_version,
            "seeds": {
                "master_seed": self.seeds[0],
                "split_id": self.seeds[1],
                "idx": self.seeds[2],
            },
            "config": self.config,
            "label_true": self.label_true,
            "label_observed": self.label_observed,
            "bbox": list(self.bbox),
            "raw_bbox": list(self.raw_bbox),
            "z": self.z,
            "v": self.v,
            "hard": self.hard,
            "hard_reasons": list(self.hard_reasons),
            "scene": self.scene,
            "imaging": _plain(self.imaging),
            "defect": self.defect,
            "presentation": self.presentation,
            "render": self.render,
            **self.contract,
        }


def _plain(value: object) -> object:
    """Convert numpy scalars and tuples recursively into JSON-able Python values."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


@dataclass
class StageTimer:
    """Accumulates time per pipeline stage (milliseconds) when enabled.

    ``cpu=True`` measures process CPU time, which other load on the machine barely changes;
    the default measures wall time.
    """

    enabled: bool = True
    cpu: bool = False
    totals: dict = field(default_factory=lambda: defaultdict(float))
    counts: dict = field(default_factory=lambda: defaultdict(int))

    @contextmanager
    def stage(self, name: str):
        """Time the enclosed block under ``name``."""
        if not self.enabled:
            yield
            return
        clock = time.process_time if self.cpu else time.perf_counter
        start = clock()
        try:
            yield
        finally:
            self.totals[name] += (clock() - start) * 1000.0
            self.counts[name] += 1

    def mean_ms(self) -> dict[str, float]:
        """Mean milliseconds per call of every stage."""
        return {name: self.totals[name] / max(self.counts[name], 1) for name in self.totals}
