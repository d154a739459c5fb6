"""Accuracy: the fraction of predictions equal to their reference (scikit-learn `accuracy_score`).

Part of hf_distill's offline GLUE metrics: load with `evaluate.load("<path>/metrics/accuracy")`
(or `hf_distill.metrics.load_metric("accuracy")`); no Hugging Face Hub access is needed.
"""

import datasets
import evaluate
from sklearn.metrics import accuracy_score

_DESCRIPTION = """
Accuracy is the proportion of correct predictions among all predictions:
    accuracy = (TP + TN) / (TP + TN + FP + FN)
With the "multilabel" config, a sample counts as correct only if its whole label set matches (subset accuracy).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted class ids (a list of lists of 0/1 for the "multilabel" config).
    references (`list` of `int`): gold class ids, same shape as `predictions`.
    normalize (`bool`, defaults to `True`): if `False`, return the number of correct predictions instead of the fraction.
    sample_weight (`list` of `float`, optional): per-sample weights.
Returns:
    accuracy (`float`): in [0, 1] (or a count when `normalize=False`).
Examples:
    >>> metric = evaluate.load("hf_distill/metrics/accuracy")
    >>> metric.compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])
    {'accuracy': 0.75}
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
class Accuracy(evaluate.Metric):
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
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.accuracy_score.html"],
        )

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        score = accuracy_score(references, predictions, normalize=normalize, sample_weight=sample_weight)
        return {"accuracy": float(score)}
