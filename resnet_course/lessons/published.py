"""Numbers the papers published, each with where it was published (chapter 8).

These are the papers' own results, not the course's: test errors reported by the authors
for networks they trained with their recipes, copied from the table named beside each
number. Chapter 8 plots :data:`CIFAR10` (test error against parameters) and prints the
table, so that no published number is typed into a notebook; :data:`MILESTONES` holds the
other published numbers the chapter quotes. ``source`` is the key of the entry in
``book/references.bib`` (the chapter cites it).

CIFAR-10 results are with the standard augmentation of He et al. 2015 §4.2 (random crops
of the image padded by 4 pixels, horizontal flips), test error in percent, parameters in
millions. The papers differ in how they summarise runs, which the ``note`` says where the
table does: He et al. 2015 report the best of 5 runs for ResNet-110 (mean 6.61 %), Zagoruyko
& Komodakis the median of 5, Xie et al. the mean of 10.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CIFAR10",
    "CITATIONS",
    "FAMILIES",
    "IMAGENET_GFLOPS",
    "IMAGENET_GFLOPS_SOURCE",
    "MILESTONES",
    "RESNET34_SHORTCUTS",
    "PublishedResult",
    "milestone",
    "milestone_table",
    "published_table",
]

#: How the tables name each source (the bibliography key → authors and year, as cited in the book).
CITATIONS = {
    "he2016deep": "He et al. 2015",
    "he2016identity": "He et al. 2016",
    "zagoruyko2016wide": "Zagoruyko & Komodakis 2016",
    "xie2017aggregated": "Xie et al. 2017",
    "huang2017densely": "Huang et al. 2017",
    "huang2016stochastic": "Huang et al. 2016",
}


@dataclass(frozen=True)
class PublishedResult:
    """One published number: what was measured, the value, and where it was published."""

    family: str
    network: str
    params_m: float | None  # parameters, millions (as the paper prints them)
    error: float  # percent, as published
    source: str  # the key in book/references.bib
    where: str  # the table (or section) of the paper
    metric: str = "CIFAR-10 test error"
    note: str = ""

    @property
    def cited(self) -> str:
        """``He et al. 2015, Table 6``: where the number was published."""
        return f"{CITATIONS.get(self.source, self.source)}, {self.where}"


#: The families chapter 8 compares, in the order of the legend.
FAMILIES = ("ResNet", "pre-activation ResNet", "Wide ResNet", "ResNeXt", "DenseNet-BC")

CIFAR10: tuple[PublishedResult, ...] = (
    PublishedResult("ResNet", "ResNet-20", 0.27, 8.75, "he2016deep", "Table 6"),
    PublishedResult("ResNet", "ResNet-56", 0.85, 6.97, "he2016deep", "Table 6"),
    PublishedResult("ResNet", "ResNet-110", 1.7, 6.43, "he2016deep", "Table 6", note="best of 5 runs; mean 6.61"),
    PublishedResult("ResNet", "ResNet-1202", 19.4, 7.93, "he2016deep", "Table 6"),
    PublishedResult("pre-activation ResNet", "pre-act ResNet-164", 1.7, 5.46, "he2016identity", "Tables 3 and 4"),
    PublishedResult("pre-activation ResNet", "pre-act ResNet-1001", 10.2, 4.92, "he2016identity", "Tables 3 and 4",
                    note="4.62 with mini-batches of 64 (Table 4)"),
    PublishedResult("Wide ResNet", "WRN-40-4", 8.9, 4.53, "zagoruyko2016wide", "Table 5",
                    note="median of 5 runs, no dropout"),
    PublishedResult("Wide ResNet", "WRN-16-8", 11.0, 4.27, "zagoruyko2016wide", "Table 5",
                    note="median of 5 runs, no dropout"),
    PublishedResult("Wide ResNet", "WRN-28-10", 36.5, 4.00, "zagoruyko2016wide", "Table 5",
                    note="median of 5 runs, no dropout; 3.89 with dropout (Table 6)"),
    PublishedResult("ResNeXt", "ResNeXt-29 8×64d", 34.4, 3.65, "xie2017aggregated", "Table 7", note="mean of 10 runs"),
    PublishedResult("ResNeXt", "ResNeXt-29 16×64d", 68.1, 3.58, "xie2017aggregated", "Table 7",
                    note="mean of 10 runs"),
    PublishedResult("DenseNet-BC", "DenseNet-BC (L=100, k=12)", 0.8, 4.51, "huang2017densely", "Table 2"),
    PublishedResult("DenseNet-BC", "DenseNet-BC (L=250, k=24)", 15.3, 3.62, "huang2017densely", "Table 2"),
    PublishedResult("DenseNet-BC", "DenseNet-BC (L=190, k=40)", 25.6, 3.46, "huang2017densely", "Table 2"),
)

#: Other published numbers chapter 8 quotes, by a short name.
MILESTONES: dict[str, PublishedResult] = {
    "ilsvrc2015": PublishedResult("ResNet", "ensemble of ResNets, 1st in ILSVRC 2015", None, 3.57, "he2016deep",
                                  "Table 5", metric="ImageNet test set, top-5 error"),
    "original_resnet1001": PublishedResult("ResNet", "ResNet-1001, original block", 10.2, 7.61,
                                           "he2016identity", "Table 3"),
    "preact_resnet1001": PublishedResult("pre-activation ResNet", "ResNet-1001, pre-activation block", 10.2, 4.92,
                                         "he2016identity", "Table 3"),
    "constant_depth110": PublishedResult("ResNet", "ResNet-110, constant depth", 1.7, 6.41, "huang2016stochastic",
                                         "Table 1", note="the authors' own training of the baseline"),
    "stochastic_depth110": PublishedResult("ResNet", "ResNet-110, stochastic depth", 1.7, 5.25,
                                           "huang2016stochastic", "Table 1"),
    "stochastic_depth1202": PublishedResult("ResNet", "ResNet-1202, stochastic depth", 19.4, 4.91,
                                            "huang2016stochastic", "§4"),
}


#: He et al. 2015, Table 3: ResNet-34 on ImageNet with shortcut option A, B or C (chapter 3).
RESNET34_SHORTCUTS: dict[str, PublishedResult] = {
    option: PublishedResult("ResNet", f"ResNet-34 {option}", None, error, "he2016deep", "Table 3",
                            metric="ImageNet validation top-1 error, 10-crop testing")
    for option, error in (("A", 25.03), ("B", 24.52), ("C", 24.19))
}

#: He et al. 2015, Table 1, last row: multiply-adds ("FLOPs") of the ImageNet ResNets for one
#: 224×224 image, in units of 10⁹, by depth (chapter 4).
IMAGENET_GFLOPS: dict[int, float] = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}
IMAGENET_GFLOPS_SOURCE = "He et al. 2015, Table 1"


def milestone(name: str) -> PublishedResult:
    """One of :data:`MILESTONES`; an unknown name lists the known ones."""
    if name not in MILESTONES:
        raise KeyError(f"no published number {name!r}; known: {', '.join(MILESTONES)}")
    return MILESTONES[name]


def milestone_table(names: tuple[str, ...]) -> str:
    """Some of :data:`MILESTONES` as text, grouped by what was measured: result, error, where published."""
    chosen = [milestone(name) for name in names]
    width = max(len(r.network) for r in chosen) + 2
    lines: list[str] = []
    metric = None
    for r in chosen:
        if r.metric != metric:
            metric = r.metric
            lines.append(f"{metric}:")
        lines.append(f"  {r.network:<{width}}{r.error:5.2f} %   {r.cited}")
    return "\n".join(lines)


def published_table(results: tuple[PublishedResult, ...] = CIFAR10) -> str:
    """The results as a text table: network, parameters, error, and the paper's table, one row each."""
    rows = [("network", "params", "error", "published in")]
    for r in results:
        params = f"{r.params_m}M" if r.params_m is not None else "–"  # as printed: 11.0M
        rows.append((r.network, params, f"{r.error:.2f} %", r.cited))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}  {d}" for a, b, c, d in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)
