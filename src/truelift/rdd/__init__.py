"""Regression discontinuity: sharp and fuzzy RD with robust bias-corrected inference.

Calonico, Cattaneo & Titiunik (2014, Econometrica); Calonico, Cattaneo & Farrell (2018, 2020);
Calonico, Cattaneo, Farrell & Titiunik (2019); Cattaneo, Jansson & Ma (2020, JASA) for the
density (manipulation) test. Numbers reproduce the authors' rdrobust and rddensity packages.

* :func:`rdd` - the estimate with its diagnostics (:mod:`truelift.rdd.estimate`);
* :func:`density_test` - the manipulation test on its own (:mod:`truelift.rdd.density`).
"""

from truelift.rdd.density import DensityTest, density_test
from truelift.rdd.estimate import rdd

__all__ = ["DensityTest", "density_test", "rdd"]
