"""seqeval: entity-level precision, recall and F1 of IOB-tagged sequences, and word accuracy (the `seqeval` package).

Part of hf_distill's offline metrics (token classification, CoNLL-2003): load with
`evaluate.load("<path>/metrics/seqeval")` or `hf_distill.metrics.load_metric("seqeval")`; no Hub access is needed.
"""

import datasets
import evaluate
from seqeval.metrics import accuracy_score, classification_report

_DESCRIPTION = """
An entity is a maximal B-X I-X ... run of tags (IOB2; in the default, lenient mode an I-X after O also starts one,
as conlleval counts). Precision = correct predicted entities / predicted entities, recall = correct / gold, both
over the whole set (micro average); an entity is correct when its type and its span match exactly. Accuracy counts
words whose tag is right.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `str`): predicted tags, one list per sentence.
    references (`list` of `list` of `str`): gold tags, the same lengths.
    mode (`str`, optional): None (conlleval's lenient reading) or "strict" (with `scheme`).
    scheme (`str`, optional): "IOB2", "IOE2", "BILOU", ... for strict mode.
Returns:
    precision, recall, f1 (entity level, micro), accuracy (per word), and per entity type {"precision", "recall",
    "f1", "number"}.
Examples:
    >>> metric = evaluate.load("hf_distill/metrics/seqeval")
    >>> metric.compute(predictions=[["B-PER", "I-PER", "O"]], references=[["B-PER", "I-PER", "O"]])["f1"]
    1.0
"""

_CITATION = """
@misc{seqeval,
  title={{seqeval}: A Python framework for sequence labeling evaluation},
  url={https://github.com/chakki-works/seqeval},
  author={Hiroki Nakayama},
  year={2018}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Seqeval(evaluate.Metric):
    def _info(self):
        tags = datasets.Sequence(datasets.Value("string"))
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": tags, "references": tags}),
            reference_urls=["https://github.com/chakki-works/seqeval"],
        )

    def _compute(self, predictions, references, mode=None, scheme=None):
        if scheme is not None:
            import importlib

            scheme = getattr(importlib.import_module("seqeval.scheme"), scheme)
        report = classification_report(y_true=references, y_pred=predictions, output_dict=True, mode=mode,
                                       scheme=scheme, zero_division=0)
        micro = report.pop("micro avg")
        for name in ("macro avg", "weighted avg"):
            report.pop(name, None)
        out = {entity: {"precision": float(v["precision"]), "recall": float(v["recall"]), "f1": float(v["f1-score"]),
                        "number": int(v["support"])} for entity, v in report.items()}
        out.update(precision=float(micro["precision"]), recall=float(micro["recall"]), f1=float(micro["f1-score"]),
                   accuracy=float(accuracy_score(y_true=references, y_pred=predictions)))
        return out
