"""The subcommands of ``lstm-probe``, one module per group; each ``add_NAME(sub)`` defines a
command's arguments and the function it runs (parse, call one function of the package, print)."""

from __future__ import annotations

from . import atlas, benchmarks, browsing, models, running, training

# in the order ``lstm-probe --help`` lists them
ADDERS = (
    models.add_info,
    training.add_train,
    running.add_dump,
    browsing.add_inspect,
    running.add_eval,
    running.add_infer,
    running.add_label,
    browsing.add_dashboard,
    browsing.add_figures,
    browsing.add_demo,
    models.add_import_caffe,
    running.add_ablate,
    benchmarks.add_bench,
    atlas.add_claims,
    atlas.add_atlas,
)
