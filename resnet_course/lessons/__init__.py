"""What only the book's chapters use: figures, diagrams, widgets, analyses, studies, verdicts and teaching tables.

- :mod:`~resnet_course.lessons.plots` — the chapters' figures (``foundations``: chapters 1-2,
  ``training``: chapters 5-6, ``understanding``: chapter 7, ``beyond``: chapter 8);
- :mod:`~resnet_course.lessons.analysis` — looking inside networks: gradients at initialisation,
  gradient shattering, learning the identity, and their text tables (chapters 1-2);
- :mod:`~resnet_course.lessons.diagram` — architecture drawings read from the model (chapter 4);
- :mod:`~resnet_course.lessons.schematics` — block schematics traced from the modules (chapters 2, 3, 8);
- :mod:`~resnet_course.lessons.published` — the papers' published numbers chapter 8 plots, each with its table;
- :mod:`~resnet_course.lessons.throughput` — training speed of several networks, interleaved (chapter 8);
- :mod:`~resnet_course.lessons.widgets` — interactive explorers with a static twin (chapters 2-3);
- :mod:`~resnet_course.lessons.lesion`, :mod:`~resnet_course.lessons.landscape` and
  :mod:`~resnet_course.lessons.transfer` — the studies of chapters 6 and 7, pure functions of
  networks and data (their experiment runners are in :mod:`resnet_course.experiments`);
- :mod:`~resnet_course.lessons.imagenet` — torchvision's ImageNet weights for the course's ImageNet
  ResNets, chapter 6's ImageNet route;
- :mod:`~resnet_course.lessons.verdicts` — what the reference runs show, decided and phrased
  from the numbers (degradation, the residual fix, Table 6's depth trend, transfer curves);
  :mod:`~resnet_course.lessons.lesion_verdicts` and :mod:`~resnet_course.lessons.landscape_verdicts`
  the same for chapter 7's lesion study and loss landscapes, and
  :mod:`~resnet_course.lessons.transfer_verdicts` for chapter 6's transfer experiment;
- :mod:`~resnet_course.lessons.training_tables` — the tables of chapters 5 and 5b (Table 6 beside the
  zoo, the throughput table trick by trick, time to accuracy at the median pace);
- :mod:`~resnet_course.lessons.teaching` — the teaching guide's tables;
- :mod:`~resnet_course.lessons.labels` — the networks' names the others share.

The residual blocks of a network and what its modules compute in a forward pass are found by
:mod:`resnet_course.nn.inspection` (:func:`~resnet_course.nn.inspection.find_blocks`,
:func:`~resnet_course.nn.inspection.trace_forward`), for the chapters as for the rest of the package.
"""

__all__ = [  # the subpackages and modules (``from resnet_course.lessons import plots, analysis``)
    "analysis",
    "diagram",
    "imagenet",
    "labels",
    "landscape",
    "landscape_verdicts",
    "lesion",
    "lesion_verdicts",
    "plots",
    "published",
    "schematics",
    "teaching",
    "throughput",
    "training_tables",
    "transfer",
    "transfer_verdicts",
    "verdicts",
    "widgets",
]
