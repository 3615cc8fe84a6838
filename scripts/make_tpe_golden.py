#!/usr/bin/env python3
"""Golden values for TPETests.testParzenEstimatorMatchesTheNumPyComputation.

The categorical Parzen estimator of Optuna's TPESampler (multivariate), written in NumPy from its definition:
one kernel per observation and a prior kernel; kernel k gives choice c of a dimension the weight
prior_weight / n_kernels, plus 1 for an observation's own choice, normalised per dimension; the mixture weights are
1 per observation and prior_weight for the prior, normalised. log l(x) = logsumexp_k(log w_k + sum_d log p_kd(x_d)).

    python3 scripts/make_tpe_golden.py > Tests/SearchTests/Fixtures/tpe_golden.json
"""
import json

import numpy as np

counts = [3, 4, 2]
observations = [[0, 1, 1], [2, 3, 0], [0, 1, 0], [1, 1, 1], [0, 2, 1]]
prior_weight = 1.0
queries = [[0, 1, 1], [2, 3, 0], [1, 0, 0], [2, 2, 1], [0, 3, 0], [1, 1, 1]]

n_kernels = len(observations) + 1
mixture = np.array([1.0] * len(observations) + [prior_weight])
mixture /= mixture.sum()
tables = []
for d, n in enumerate(counts):
    weights = np.full((n_kernels, n), prior_weight / n_kernels)
    weights[np.arange(len(observations)), [o[d] for o in observations]] += 1.0
    tables.append(np.log(weights / weights.sum(axis=1, keepdims=True)))


def log_density(x):
    terms = np.log(mixture) + sum(tables[d][:, x[d]] for d in range(len(counts)))
    top = terms.max()
    return float(top + np.log(np.exp(terms - top).sum()))


print(json.dumps({
    "counts": counts, "observations": observations, "prior_weight": prior_weight, "queries": queries,
    "log_density": [log_density(q) for q in queries],
}, indent=1))
