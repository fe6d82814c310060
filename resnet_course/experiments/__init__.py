"""The reference runs behind the book, one module each, and the result files they write.

:mod:`~resnet_course.experiments.results` reads and writes ``results/*.json`` (every file with
its ``meta`` block: how it was produced); :mod:`~resnet_course.experiments.provenance` makes that
block. The runs: :mod:`~resnet_course.experiments.zoo` (the reference networks),
:mod:`~resnet_course.experiments.gestures`, :mod:`~resnet_course.experiments.lesion`,
:mod:`~resnet_course.experiments.landscape` (both written network by network,
:mod:`~resnet_course.experiments.studies`) and the speed benchmarks in
:mod:`~resnet_course.experiments.speed`.
"""

from resnet_course.experiments.results import (  # noqa: F401
    PROVENANCE_KEYS,
    describe_meta,
    describe_shared_meta,
    load_result,
    result_path,
    write_result,
)
from resnet_course.experiments.studies import describe_networks  # noqa: F401

__all__ = ["PROVENANCE_KEYS", "describe_meta", "describe_networks", "describe_shared_meta", "load_result",
           "result_path", "write_result"]
