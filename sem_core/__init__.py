"""sem_core: the headless library behind the SEM defect inspection workbench.

It reads SEM images and datasets, generates synthetic SEM defect data, trains and runs the
two-stage cascade (a small Clean/Defective screener, then a DenseNet121 defect classifier),
evaluates and explains it. Everything the app does is reachable from Python and from
``python -m sem_core``; this package never imports Streamlit.
"""

from sem_core.classes import CLASSES, STAGE1_CLASSES, STAGE2_CLASSES, DefectClass

__version__ = "0.1.0"

__all__ = ["CLASSES", "STAGE1_CLASSES", "STAGE2_CLASSES", "DefectClass", "__version__"]
