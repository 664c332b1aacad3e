"""Array kernels: one 2x2 ATT(g,t) and its influence function (Sant'Anna & Zhao 2020).

Each kernel sees only numpy arrays of the units (panel) or rows (repeated cross-sections) in the
treated cohort ``D == 1`` or the comparison group ``D == 0`` and returns ``(att, psi)`` with the
convention of the R package ``DRDID`` (used by R ``did``): ``att - ATT ~ mean(psi)``. ``X``
always carries the intercept as its first column.

* ``dr``: the "traditional" doubly robust estimator (Sant'Anna & Zhao 2020, eq. 3.1 for panels,
  the locally efficient eq. 3.4 for repeated cross-sections): logistic propensity score by
  maximum likelihood plus OLS outcome regressions on the comparison group (R ``drdid_panel`` /
  ``drdid_rc``).
* ``ipw``: the normalised (Hájek) inverse-probability-weighted DiD of Abadie (2005)
  (R ``std_ipw_did_panel`` / ``std_ipw_did_rc``).
* ``reg``: the outcome-regression DiD of Heckman, Ichimura & Todd (1997)
  (R ``reg_did_panel`` / ``reg_did_rc``).

The influence functions include the estimation effect of the propensity-score and regression
coefficients, so that the analytic standard errors equal R's to machine precision. One deliberate
difference: R ``DRDID::drdid_rc`` adds the estimation effect of the pre-period comparison-group
regression with the wrong sign (``inf.treat.or.post + inf.treat.or.pre``); a numerical derivative
of the estimator confirms the sign used here, which is also the one of the Python port ``csdid``.
It matters only with covariates and repeated cross-sections, and vanishes when the propensity
weights balance the covariates (on mpdta with ``lpop``: about 1e-4 of the SE).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from truelift.errors import DataError, IdentificationError

__all__ = ["PANEL_KERNELS", "RC_KERNELS", "logit_fit"]

_PS_CAP = 1 - 1e-6  # R: ps.fit <- pmin(ps.fit, 1 - 1e-6)
_TRIM = 0.995  # R std_ipw_did_panel trim.level for comparison units


def _intercept_only(X: np.ndarray) -> bool:
    return X.shape[1] == 1


# Reductions over rows with einsum (single-threaded C loops): the matrices are n x k with small k,
# where multithreaded BLAS calls cost more in thread start-up and contention than they save.
def _mv(X: np.ndarray, v: np.ndarray) -> np.ndarray:
    """X @ v."""
    return np.einsum("ij,j->i", X, v)


def _cm(a: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Column means of a[:, None] * X."""
    return np.einsum("i,ij->j", a, X) / a.shape[0]


def _xtwx(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """X' diag(w) X."""
    return np.einsum("ij,i,ik->jk", X, w, X)


@dataclass(frozen=True)
class _LinRep:
    """Asymptotic linear representation ``(e * X) @ inv`` of a coefficient vector, kept factored."""

    e: np.ndarray
    X: np.ndarray
    inv: np.ndarray

    def dot(self, m: np.ndarray) -> np.ndarray:
        """(e[:, None] * X) @ inv @ m without forming the n x k matrix."""
        return self.e * _mv(self.X, self.inv @ m)


def logit_fit(X: np.ndarray, D: np.ndarray, *, where: str = "") -> np.ndarray:
    """Maximum-likelihood logistic regression of ``D`` on ``X`` (Newton-Raphson); fitted p."""
    if _intercept_only(X):
        return np.full(D.shape[0], D.mean())
    beta = np.zeros(X.shape[1])
    for _ in range(100):
        p = expit(_mv(X, beta))
        try:
            step = np.linalg.solve(_xtwx(X, p * (1 - p)), np.einsum("ij,i->j", X, D - p))
        except np.linalg.LinAlgError as exc:
            raise DataError(
                f"the propensity-score model is singular{where}: collinear covariates or a "
                "covariate without variation in this comparison. Remove redundant covariates."
            ) from exc
        beta += step
        if np.max(np.abs(step)) < 1e-11 * (1 + np.max(np.abs(beta))):
            break
    p = expit(_mv(X, beta))
    if p.max() >= 0.999:
        raise IdentificationError(
            f"overlap fails{where}: the propensity score reaches {p.max():.4f} (>= 0.999), so "
            "some treated units have no comparable untreated units. Use fewer covariates, "
            "method='reg', or a different comparison group."
        )
    return p


def _ps_linrep(X: np.ndarray, D: np.ndarray, p: np.ndarray) -> _LinRep:
    """Linear representation of the logit coefficients: score @ (X'WX/n)^-1."""
    n = D.shape[0]
    return _LinRep(D - p, X, np.linalg.inv(_xtwx(X, p * (1 - p)) / n))


def _ols(X: np.ndarray, y: np.ndarray, mask: np.ndarray, n: int, where: str) -> tuple:
    """OLS of y on X within ``mask``: (fitted values for every row, linear representation)."""
    w = mask.astype(float)
    XtX = _xtwx(X, w) / n
    if np.linalg.cond(XtX) > 1e14:
        raise DataError(
            f"the outcome regression is singular{where}: too few comparison units for the "
            "covariates, or collinear covariates. Remove covariates or use method='ipw'."
        )
    inv = np.linalg.inv(XtX)
    coef = inv @ np.einsum("ij,i->j", X, w * y) / n
    fit = _mv(X, coef)
    return fit, _LinRep(w * (y - fit), X, inv)


def dr_panel(dy: np.ndarray, D: np.ndarray, X: np.ndarray, where: str = "") -> tuple:
    """Doubly robust DiD with panel data (R ``DRDID::drdid_panel``)."""
    n = D.shape[0]
    p = np.minimum(logit_fit(X, D, where=where), _PS_CAP)
    fit, lr_ols = _ols(X, dy, D == 0, n, where)
    r = dy - fit
    w_t = D
    w_c = p * (1 - D) / (1 - p)
    eta_t = np.mean(w_t * r) / np.mean(w_t)
    eta_c = np.mean(w_c * r) / np.mean(w_c)
    lr_ps = _ps_linrep(X, D, p)
    inf_t = (w_t * r - w_t * eta_t - lr_ols.dot(_cm(w_t, X))) / np.mean(w_t)
    m2 = _cm(w_c * (r - eta_c), X)
    m3 = _cm(w_c, X)
    inf_c = (w_c * r - w_c * eta_c + lr_ps.dot(m2) - lr_ols.dot(m3)) / np.mean(w_c)
    return eta_t - eta_c, inf_t - inf_c


def ipw_panel(dy: np.ndarray, D: np.ndarray, X: np.ndarray, where: str = "") -> tuple:
    """Normalised IPW DiD with panel data (R ``DRDID::std_ipw_did_panel``, trim 0.995)."""
    p = np.minimum(logit_fit(X, D, where=where), _PS_CAP)
    trim = np.where(D == 0, p < _TRIM, True).astype(float)
    w_t = trim * D
    w_c = trim * p * (1 - D) / (1 - p)
    eta_t = np.mean(w_t * dy) / np.mean(w_t)
    eta_c = np.mean(w_c * dy) / np.mean(w_c)
    inf_t = (w_t * dy - w_t * eta_t) / np.mean(w_t)
    m2 = _cm(w_c * (dy - eta_c), X)
    inf_c = (w_c * dy - w_c * eta_c + _ps_linrep(X, D, p).dot(m2)) / np.mean(w_c)
    return eta_t - eta_c, inf_t - inf_c


def reg_panel(dy: np.ndarray, D: np.ndarray, X: np.ndarray, where: str = "") -> tuple:
    """Outcome-regression DiD with panel data (R ``DRDID::reg_did_panel``)."""
    n = D.shape[0]
    fit, lr_ols = _ols(X, dy, D == 0, n, where)
    md = np.mean(D)
    eta_t = np.mean(D * dy) / md
    eta_c = np.mean(D * fit) / md
    inf_t = (D * dy - D * eta_t) / md
    inf_c = (D * fit - D * eta_c + lr_ols.dot(_cm(D, X))) / md
    return eta_t - eta_c, inf_t - inf_c


def _centered(eta: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """Hájek mean ``mean(eta)`` and its leading influence term ``eta - w * mean(eta)/mean(w)``."""
    m = float(np.mean(eta))
    return m, eta - w * m / np.mean(w)


def dr_rc(y: np.ndarray, post: np.ndarray, D: np.ndarray, X: np.ndarray, where: str = "") -> tuple:
    """Locally efficient doubly robust DiD, repeated cross-sections (R ``DRDID::drdid_rc``)."""
    n = D.shape[0]
    p = np.minimum(logit_fit(X, D, where=where), _PS_CAP)
    cells = {(a, s): np.equal(D, a) & np.equal(post, s) for a in (0, 1) for s in (0, 1)}
    fits = {}
    for key, mask in cells.items():
        fits[key] = _ols(X, y, mask, n, where)
    oc_pre, oc_post = fits[(0, 0)][0], fits[(0, 1)][0]
    ot_pre, ot_post = fits[(1, 0)][0], fits[(1, 1)][0]
    oc = post * oc_post + (1 - post) * oc_pre
    w_tpre, w_tpost = D * (1 - post), D * post
    odds = p * (1 - D) / (1 - p)
    w_cpre, w_cpost = odds * (1 - post), odds * post
    r = y - oc
    a_tpre, i_tpre = _centered(w_tpre * r / np.mean(w_tpre), w_tpre)
    a_tpost, i_tpost = _centered(w_tpost * r / np.mean(w_tpost), w_tpost)
    a_cpre, i_cpre = _centered(w_cpre * r / np.mean(w_cpre), w_cpre)
    a_cpost, i_cpost = _centered(w_cpost * r / np.mean(w_cpost), w_cpost)
    w_d = D
    a_dpost, i_e1 = _centered(w_d * (ot_post - oc_post) / np.mean(w_d), w_d)
    a_dt1, i_e2 = _centered(w_tpost * (ot_post - oc_post) / np.mean(w_tpost), w_tpost)
    a_dpre, i_e3 = _centered(w_d * (ot_pre - oc_pre) / np.mean(w_d), w_d)
    a_dt0, i_e4 = _centered(w_tpre * (ot_pre - oc_pre) / np.mean(w_tpre), w_tpre)
    att = (a_tpost - a_tpre) - (a_cpost - a_cpre) + (a_dpost - a_dt1) - (a_dpre - a_dt0)

    lr_cpre, lr_cpost = fits[(0, 0)][1], fits[(0, 1)][1]
    lr_tpre, lr_tpost = fits[(1, 0)][1], fits[(1, 1)][1]
    m1_post = -_cm(w_tpost * post, X) / np.mean(w_tpost)
    m1_pre = -_cm(w_tpre * (1 - post), X) / np.mean(w_tpre)
    inf_treat = i_tpost - i_tpre + lr_cpost.dot(m1_post) - lr_cpre.dot(m1_pre)
    m2_pre = _cm(w_cpre * (r - a_cpre), X) / np.mean(w_cpre)
    m2_post = _cm(w_cpost * (r - a_cpost), X) / np.mean(w_cpost)
    m3_post = -_cm(w_cpost * post, X) / np.mean(w_cpost)
    m3_pre = -_cm(w_cpre * (1 - post), X) / np.mean(w_cpre)
    inf_cont = (
        i_cpost
        - i_cpre
        + _ps_linrep(X, D, p).dot(m2_post - m2_pre)
        + lr_cpost.dot(m3_post)
        - lr_cpre.dot(m3_pre)
    )
    inf_eff = (i_e1 - i_e2) - (i_e3 - i_e4)
    mom_post = _cm(w_d / np.mean(w_d) - w_tpost / np.mean(w_tpost), X)
    mom_pre = _cm(w_d / np.mean(w_d) - w_tpre / np.mean(w_tpre), X)
    inf_or = (lr_tpost.dot(mom_post) - lr_cpost.dot(mom_post)) - (
        lr_tpre.dot(mom_pre) - lr_cpre.dot(mom_pre)
    )
    return att, inf_treat - inf_cont + inf_eff + inf_or


def ipw_rc(y: np.ndarray, post: np.ndarray, D: np.ndarray, X: np.ndarray, where: str = "") -> tuple:
    """Normalised IPW DiD, repeated cross-sections (R ``DRDID::std_ipw_did_rc``)."""
    p_raw = logit_fit(X, D, where=where)
    p = np.minimum(p_raw, 1 - 1e-16)
    odds = p * (1 - D) / (1 - p)
    ws = {
        "tpre": D * (1 - post),
        "tpost": D * post,
        "cpre": odds * (1 - post),
        "cpost": odds * post,
    }
    a, inf = {}, {}
    for k, w in ws.items():
        a[k], inf[k] = _centered(w * y / np.mean(w), w)
    att = (a["tpost"] - a["tpre"]) - (a["cpost"] - a["cpre"])
    m2_pre = _cm(ws["cpre"] * (y - a["cpre"]), X) / np.mean(ws["cpre"])
    m2_post = _cm(ws["cpost"] * (y - a["cpost"]), X) / np.mean(ws["cpost"])
    inf_ps = _ps_linrep(X, D, p_raw).dot(m2_post - m2_pre)
    inf_c = inf["cpost"] - inf["cpre"] + inf_ps
    return att, (inf["tpost"] - inf["tpre"]) - inf_c


def reg_rc(y: np.ndarray, post: np.ndarray, D: np.ndarray, X: np.ndarray, where: str = "") -> tuple:
    """Outcome-regression DiD, repeated cross-sections (R ``DRDID::reg_did_rc``)."""
    n = D.shape[0]
    fit_pre, lr_pre = _ols(X, y, (D == 0) & (post == 0), n, where)
    fit_post, lr_post = _ols(X, y, (D == 0) & (post == 1), n, where)
    w_tpre, w_tpost = D * (1 - post), D * post
    cont = D * (fit_post - fit_pre)
    e_tpre = np.mean(w_tpre * y) / np.mean(w_tpre)
    e_tpost = np.mean(w_tpost * y) / np.mean(w_tpost)
    e_c = np.mean(cont) / np.mean(D)
    inf_tpre = (w_tpre * y - w_tpre * e_tpre) / np.mean(w_tpre)
    inf_tpost = (w_tpost * y - w_tpost * e_tpost) / np.mean(w_tpost)
    m1 = _cm(D, X)
    inf_c = (cont - D * e_c + lr_post.dot(m1) - lr_pre.dot(m1)) / np.mean(D)
    return (e_tpost - e_tpre) - e_c, (inf_tpost - inf_tpre) - inf_c


Kernel = Callable[..., tuple]
PANEL_KERNELS: dict[str, Kernel] = {"dr": dr_panel, "ipw": ipw_panel, "reg": reg_panel}
RC_KERNELS: dict[str, Kernel] = {"dr": dr_rc, "ipw": ipw_rc, "reg": reg_rc}
