"""F1: the harmonic mean of precision and recall (scikit-learn `f1_score`).

Part of hf_distill's offline GLUE metrics (MRPC and QQP report accuracy and F1): load with
`evaluate.load("<path>/metrics/f1")` or `hf_distill.metrics.load_metric("f1")`; no Hub access is needed.
"""

import datasets
import evaluate
from sklearn.metrics import f1_score

_DESCRIPTION = """
The F1 score is the harmonic mean of precision and recall:
    F1 = 2 * (precision * recall) / (precision + recall)
For binary tasks it is computed for the positive class (`pos_label`, default 1); for several classes choose
`average` ("macro", "micro", "weighted", or None for one score per class).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted class ids (lists of 0/1 for the "multilabel" config).
    references (`list` of `int`): gold class ids.
    labels (`list` of `int`, optional): the labels to include when `average != "binary"`.
    pos_label (`int`, defaults to 1): the positive class when `average="binary"`.
    average (`str` or `None`, defaults to "binary"): "binary", "micro", "macro", "weighted", "samples" or None.
    sample_weight (`list` of `float`, optional): per-sample weights.
    zero_division ("warn", 0, 1 or nan, defaults to "warn"): the value when precision + recall is 0.
Returns:
    f1 (`float`, or a list of `float` when `average=None`): in [0, 1].
Examples:
    >>> metric = evaluate.load("hf_distill/metrics/f1")
    >>> metric.compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])
    {'f1': 0.6666666666666666}
"""

_CITATION = """
@article{scikit-learn,
  title={Scikit-learn: Machine Learning in {P}ython},
  author={Pedregosa, F. and Varoquaux, G. and Gramfort, A. and others},
  journal={Journal of Machine Learning Research},
  volume={12},
  pages={2825--2830},
  year={2011}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class F1(evaluate.Metric):
    def _info(self):
        if self.config_name == "multilabel":
            features = datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("int32")),
                 "references": datasets.Sequence(datasets.Value("int32"))}
            )
        else:
            features = datasets.Features({"predictions": datasets.Value("int32"), "references": datasets.Value("int32")})
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=features,
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.f1_score.html"],
        )

    def _compute(self, predictions, references, labels=None, pos_label=1, average="binary", sample_weight=None,
                 zero_division="warn"):
        score = f1_score(
            references,
            predictions,
            labels=labels,
            pos_label=pos_label,
            average=average,
            sample_weight=sample_weight,
            zero_division=zero_division,
        )
        if getattr(score, "size", 1) == 1:
            return {"f1": float(score)}
        return {"f1": [float(s) for s in score]}
