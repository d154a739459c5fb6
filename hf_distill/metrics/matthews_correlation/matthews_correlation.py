"""Matthews correlation coefficient (scikit-learn `matthews_corrcoef`), the GLUE metric for CoLA.

Part of hf_distill's offline GLUE metrics: load with `evaluate.load("<path>/metrics/matthews_correlation")`
or `hf_distill.metrics.load_metric("matthews_correlation")`; no Hub access is needed.
"""

import datasets
import evaluate
from sklearn.metrics import matthews_corrcoef

_DESCRIPTION = """
The Matthews correlation coefficient (MCC) measures the quality of binary and multiclass classifications,
taking true and false positives and negatives into account; it is balanced even when the classes have very
different sizes. Binary case:
    MCC = (TP * TN - FP * FN) / sqrt((TP + FP)(TP + FN)(TN + FP)(TN + FN))
It ranges from -1 (total disagreement) through 0 (no better than chance) to +1 (perfect prediction);
it is 0 when a denominator term is 0 (e.g. a constant prediction).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted class ids.
    references (`list` of `int`): gold class ids.
    sample_weight (`list` of `float`, optional): per-sample weights.
Returns:
    matthews_correlation (`float`): in [-1, 1].
Examples:
    >>> metric = evaluate.load("hf_distill/metrics/matthews_correlation")
    >>> metric.compute(predictions=[1, 1, 0, 0], references=[1, 1, 0, 0])
    {'matthews_correlation': 1.0}
"""

_CITATION = """
@article{matthews1975comparison,
  title={Comparison of the predicted and observed secondary structure of {T4} phage lysozyme},
  author={Matthews, Brian W},
  journal={Biochimica et Biophysica Acta (BBA) - Protein Structure},
  volume={405},
  number={2},
  pages={442--451},
  year={1975}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MatthewsCorrelation(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.matthews_corrcoef.html"],
        )

    def _compute(self, predictions, references, sample_weight=None):
        score = matthews_corrcoef(references, predictions, sample_weight=sample_weight)
        return {"matthews_correlation": float(score)}
