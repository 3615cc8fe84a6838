#!/usr/bin/env python3
"""Golden values for GaussianProcessTests: scikit-learn's Gaussian process on hand-made data.

The kernel ConstantKernel(s2) * Matern(length_scale=[l1, l2, l3], nu=2.5) + WhiteKernel(noise), fixed
hyperparameters (optimizer=None, no jitter: alpha=0), zero mean (normalize_y=False). Written: the log marginal
likelihood and its gradient with respect to scikit-learn's theta (log s2, log l1..l3, log noise), and the posterior
mean and latent variance (predict's variance less the noise, which WhiteKernel adds) at query points.

    pip install scikit-learn && python3 scripts/make_gp_golden.py > Tests/SearchTests/Fixtures/gp_golden.json
"""
import json

import numpy as np
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

rng = np.random.default_rng(35)
inputs = np.round(rng.uniform(0, 1, size=(12, 3)), 3)
targets = np.round(np.sin(3 * inputs[:, 0]) + inputs[:, 1] ** 2 - 0.5 * inputs[:, 2] + rng.normal(0, 0.05, 12), 4)
queries = np.round(rng.uniform(0, 1, size=(5, 3)), 3)
lengthscales, signal, noise = [0.4, 0.9, 1.7], 1.3, 0.02

kernel = ConstantKernel(signal, "fixed") * Matern(length_scale=lengthscales, nu=2.5, length_scale_bounds="fixed") \
    + WhiteKernel(noise, "fixed")
model = GaussianProcessRegressor(kernel=kernel, alpha=0.0, optimizer=None, normalize_y=False).fit(inputs, targets)
free = ConstantKernel(signal) * Matern(length_scale=lengthscales, nu=2.5) + WhiteKernel(noise)
free_model = GaussianProcessRegressor(kernel=free, alpha=0.0, optimizer=None, normalize_y=False).fit(inputs, targets)
value, gradient = free_model.log_marginal_likelihood(free_model.kernel_.theta, eval_gradient=True)
mean, std = model.predict(queries, return_std=True)

print(json.dumps({
    "inputs": inputs.tolist(), "targets": targets.tolist(), "queries": queries.tolist(),
    "lengthscales": lengthscales, "signal_variance": signal, "noise_variance": noise,
    "log_marginal_likelihood": float(value),
    "gradient_log_signal": float(gradient[0]), "gradient_log_lengthscales": gradient[1:4].tolist(),
    "gradient_log_noise": float(gradient[4]),
    "mean": mean.tolist(), "latent_variance": (std ** 2 - noise).tolist(),
}, indent=1))
