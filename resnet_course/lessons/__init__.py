"""What only the book's chapters use: figures, diagrams, widgets, analyses and teaching tables.

:mod:`~resnet_course.lessons.plots` (the chapters' figures), :mod:`~resnet_course.lessons.diagram`
(architecture drawings), :mod:`~resnet_course.lessons.widgets` (interactive explorers),
:mod:`~resnet_course.lessons.analysis` (gradients, shattering, learning the identity),
:mod:`~resnet_course.lessons.lesion`, :mod:`~resnet_course.lessons.landscape` and
:mod:`~resnet_course.lessons.transfer` (the studies of chapters 6 and 7, pure functions of networks
and data) and :mod:`~resnet_course.lessons.teaching` (the teaching guide's tables).
"""
