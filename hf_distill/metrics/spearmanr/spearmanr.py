"""Spearman rank correlation coefficient (scipy `spearmanr`), one of the two GLUE metrics for STS-B.

Part of hf_distill's offline GLUE metrics: load with `evaluate.load("<path>/metrics/spearmanr")`
or `hf_distill.metrics.load_metric("spearmanr")`; no Hub access is needed.
"""

import datasets
import evaluate
from scipy.stats import spearmanr

_DESCRIPTION = """
The Spearman rank correlation coefficient is the Pearson correlation of the ranks of the predictions and
the references (ties get their average rank): it measures how well a monotonic function describes the
relationship. It ranges from -1 to +1 and is undefined (nan) when either input is constant.
The optional p-value is that of a two-sided test of the null hypothesis "the inputs are uncorrelated".
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `float`): predicted scores.
    references (`list` of `float`): gold scores.
    return_pvalue (`bool`, defaults to `False`): also return the p-value.
Returns:
    spearmanr (`float`): in [-1, 1].
    spearmanr_pvalue (`float`): only when `return_pvalue=True`.
Examples:
    >>> metric = evaluate.load("hf_distill/metrics/spearmanr")
    >>> metric.compute(predictions=[1.0, 2.0, 30.0], references=[1.0, 5.0, 6.0])
    {'spearmanr': 1.0}
"""

_CITATION = """
@article{2020SciPy-NMeth,
  author  = {Virtanen, Pauli and Gommers, Ralf and Oliphant, Travis E. and others},
  title   = {{SciPy} 1.0: Fundamental Algorithms for Scientific Computing in Python},
  journal = {Nature Methods},
  year    = {2020},
  volume  = {17},
  pages   = {261--272}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Spearmanr(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}),
            reference_urls=["https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.spearmanr.html"],
        )

    def _compute(self, predictions, references, return_pvalue=False):
        result = spearmanr(references, predictions)
        out = {"spearmanr": float(result[0])}
        if return_pvalue:
            out["spearmanr_pvalue"] = float(result[1])
        return out
