"""Pearson correlation coefficient (scipy `pearsonr`), one of the two GLUE metrics for STS-B.

Part of hf_distill's offline GLUE metrics: load with `evaluate.load("<path>/metrics/pearsonr")`
or `hf_distill.metrics.load_metric("pearsonr")`; no Hub access is needed.
"""

import datasets
import evaluate
from scipy.stats import pearsonr

_DESCRIPTION = """
The Pearson correlation coefficient measures the linear relationship between predictions and references:
    r = cov(x, y) / (std(x) * std(y))
It ranges from -1 to +1 (0: no linear correlation). It is undefined (nan) when either input is constant.
The optional p-value is that of a two-sided test of the null hypothesis "the inputs are uncorrelated".
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `float`): predicted scores.
    references (`list` of `float`): gold scores.
    return_pvalue (`bool`, defaults to `False`): also return the p-value.
Returns:
    pearsonr (`float`): in [-1, 1].
    p-value (`float`): only when `return_pvalue=True`.
Examples:
    >>> metric = evaluate.load("hf_distill/metrics/pearsonr")
    >>> metric.compute(predictions=[1.0, 2.0, 3.0], references=[2.0, 4.0, 6.0])
    {'pearsonr': 1.0}
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
class Pearsonr(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}),
            reference_urls=["https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.pearsonr.html"],
        )

    def _compute(self, predictions, references, return_pvalue=False):
        result = pearsonr(references, predictions)
        out = {"pearsonr": float(result[0])}
        if return_pvalue:
            out["p-value"] = float(result[1])
        return out
