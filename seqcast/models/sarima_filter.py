"""A compiled Kalman filter for statsmodels' SARIMA state space: same likelihood, less overhead.

statsmodels evaluates a SARIMA log-likelihood through general state-space machinery:
every call re-derives the system matrices (``SARIMAX.update``: polynomial products),
re-initialises its Cython filter objects and runs a dense filter whose cost grows with
the cube of the state dimension (15 states for the chapter's (1,0,0)(0,1,1,7): 7
differencing states, 8 ARMA states). On the chapter's ~100-day histories that is
~300 µs a call, of which the arithmetic is a small part, and a fit makes ~20-45 calls
(L-BFGS with finite-difference gradients).

:class:`FastLoglike` computes the *same* log-likelihood for the *same* state space,
element for element (differencing states with statsmodels' approximate diffuse
initialisation, variance 1e6; stationary ARMA block from the discrete Lyapunov equation;
the first ``loglikelihood_burn`` terms left out; the filter stops updating the
covariance once it has converged to ``ssm.tolerance``), in one compiled loop that
uses the sparsity of the transition matrix: each step costs O(m * nnz(T)) instead
of O(m^3). The optimiser, its settings, the parameter transformations and the start
values stay statsmodels' own (:meth:`install` replaces only the model instance's
``loglike``), so a fit lands where statsmodels' lands: tests check the
log-likelihood to 1e-9 relative on random parameters and orders, and the chapter's
loop to its forecasts (``tests/test_sarima_filter.py``).

Supported: SARIMAX/ARIMA models without trend terms, measurement error, time-varying
regression or concentrated scale, and no missing observations; anything else keeps
statsmodels' path (:func:`supported`). Needs numba; without it nothing changes.

Reference: Durbin & Koopman (2012), *Time Series Analysis by State Space Methods*,
2nd ed., §4.3 (the filter) and §5.6 (stationary initialisation); statsmodels'
``SARIMAX`` for the state-space form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

try:  # numba is a dependency; the fallback keeps statsmodels' own path
    from numba import njit
except ImportError:  # pragma: no cover - exercised only without numba
    njit = None

_LOG_2PI = math.log(2.0 * math.pi)


def _kernel(fn):
    return njit(cache=True, nogil=True)(fn) if njit is not None else fn


@_kernel
def _mm(X, Y, transpose_y):  # pragma: no cover - compiled
    """X @ Y (or X @ Y.T) by plain loops: small matrices, and no BLAS binding to compile."""
    n, k = X.shape
    if transpose_y:
        m = Y.shape[0]
        out = np.zeros((n, m))
        for i in range(n):
            for j in range(m):
                s = 0.0
                for q in range(k):
                    s += X[i, q] * Y[j, q]
                out[i, j] = s
        return out
    m = Y.shape[1]
    out = np.zeros((n, m))
    for i in range(n):
        for q in range(k):
            x = X[i, q]
            if x != 0.0:
                for j in range(m):
                    out[i, j] += x * Y[q, j]
    return out


@_kernel
def _lyapunov(A, Q):  # pragma: no cover - compiled
    """Solve P = A P A' + Q by doubling (A stable): P = sum_k A^k Q A'^k."""
    n = A.shape[0]
    P = Q.copy()
    Ak = A.copy()
    for _ in range(80):
        inc = _mm(_mm(Ak, P, False), Ak, True)
        big = 0.0
        top = 0.0
        for i in range(n):
            for j in range(n):
                P[i, j] += inc[i, j]
                big = max(big, abs(inc[i, j]))
                top = max(top, abs(P[i, j]))
        if big <= 1e-17 * top:
            break
        Ak = _mm(Ak, Ak, False)
    for i in range(n):
        for j in range(i + 1, n):
            x = 0.5 * (P[i, j] + P[j, i])
            P[i, j] = x
            P[j, i] = x
    return P


@_kernel
def _constrain_stationary(u):  # pragma: no cover - compiled
    """statsmodels' ``constrain_stationary_univariate`` (Monahan 1984), compiled."""
    n = u.shape[0]
    y = np.zeros((n, n))
    r = np.zeros(n)
    for i in range(n):
        r[i] = u[i] / math.sqrt(1.0 + u[i] * u[i])
    for k in range(n):
        for i in range(k):
            y[k, i] = y[k - 1, i] + r[k] * y[k - 1, k - i - 1]
        y[k, k] = r[k]
    return -y[n - 1, :]


@_kernel
def _transform(u, k_exog, k_ar, k_ma, k_sar, k_sma, stationary, invertible):  # pragma: no cover
    """SARIMAX.transform_params for the models :func:`supported` accepts: regression
    coefficients as they are, AR/MA blocks constrained, the variance squared."""
    c = u.copy()
    start = k_exog
    sizes = np.array([k_ar, k_ma, k_sar, k_sma])
    for b in range(4):
        size = sizes[b]
        if size > 0 and (stationary if b % 2 == 0 else invertible):
            sign = 1.0 if b % 2 == 0 else -1.0
            block = _constrain_stationary(u[start:start + size].copy())
            for i in range(size):
                c[start + i] = sign * block[i]
        start += size
    c[start] = u[start] * u[start]
    return c


@_kernel
def _initial_cov(T, Rv, sigma2, k_diffuse, diffuse_var):  # pragma: no cover - compiled
    """statsmodels' SARIMA initialisation: variance ``diffuse_var`` on the first
    ``k_diffuse`` (differencing) states, the stationary covariance on the ARMA block."""
    m = T.shape[0]
    P = np.zeros((m, m))
    for i in range(k_diffuse):
        P[i, i] = diffuse_var
    r = m - k_diffuse
    if r > 0:
        A = np.zeros((r, r))
        Qs = np.zeros((r, r))
        for i in range(r):
            for j in range(r):
                A[i, j] = T[k_diffuse + i, k_diffuse + j]
                Qs[i, j] = sigma2 * Rv[k_diffuse + i] * Rv[k_diffuse + j]
        S = _lyapunov(A, Qs)
        for i in range(r):
            for j in range(r):
                P[k_diffuse + i, k_diffuse + j] = S[i, j]
    return P


@_kernel
def _run(y, T, Rv, sigma2, Z, a0, P0, burn, tol):  # pragma: no cover - compiled
    """Kalman filter of y_t = Z a_t, a_{t+1} = T a_t + R e_t, e_t ~ N(0, sigma2), from the
    predicted state ``a0`` with covariance ``P0``.

    ``y`` (n,) already net of the observation intercept. Returns the log-likelihood of
    observations ``burn..n-1`` and the predicted state a_{n} and covariance P_{n} after
    the last observation. Once the predicted covariance changes by less than ``tol``
    (squared Frobenius norm) it is kept fixed, as statsmodels does.
    """
    m = T.shape[0]
    n = y.shape[0]
    # sparse rows of T
    nnz_row = np.zeros(m, np.int64)
    cols = np.zeros((m, m), np.int64)
    vals = np.zeros((m, m))
    for i in range(m):
        c = 0
        for j in range(m):
            if T[i, j] != 0.0:
                cols[i, c] = j
                vals[i, c] = T[i, j]
                c += 1
        nnz_row[i] = c
    shift = np.full(m, -1, np.int64)  # rows of T that copy one state (shift registers)
    for i in range(m):
        if nnz_row[i] == 1 and vals[i, 0] == 1.0:
            shift[i] = cols[i, 0]
    zidx = np.zeros(m, np.int64)
    zval = np.zeros(m)
    nz = 0
    for j in range(m):
        if Z[j] != 0.0:
            zidx[nz] = j
            zval[nz] = Z[j]
            nz += 1
    RRt = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            RRt[i, j] = sigma2 * Rv[i] * Rv[j]
    P = P0.copy()
    a = a0.copy()
    af = np.zeros(m)
    PZ = np.zeros(m)
    tpz = np.zeros(m)
    Pn = np.zeros((m, m))
    ll = 0.0
    converged = False
    F = 0.0
    for t in range(n):
        if not converged:
            for i in range(m):
                s = 0.0
                for k in range(nz):
                    s += P[i, zidx[k]] * zval[k]
                PZ[i] = s
            F = 0.0
            for k in range(nz):
                F += zval[k] * PZ[zidx[k]]
        za = 0.0
        for k in range(nz):
            za += zval[k] * a[zidx[k]]
        v = y[t] - za
        if t >= burn:
            ll += -0.5 * (_LOG_2PI + math.log(F) + v * v / F)
        # filtered state, then the predicted state a = T a_f
        f = v / F
        for i in range(m):
            af[i] = a[i] + PZ[i] * f
        for i in range(m):
            s = 0.0
            for k in range(nnz_row[i]):
                s += vals[i, k] * af[cols[i, k]]
            a[i] = s
        if converged:
            continue
        # predicted covariance T (P - PZ PZ'/F) T' + R Q R', using T's sparsity on both
        # sides: (T P T')[i, j] = sum_k sum_l T[i, k] T[j, l] P[k, l], and T PZ once
        for i in range(m):
            s = 0.0
            for k in range(nnz_row[i]):
                s += vals[i, k] * PZ[cols[i, k]]
            tpz[i] = s
        diff = 0.0
        for i in range(m):
            si = shift[i]
            gi = tpz[i] / F
            for j in range(i, m):
                sj = shift[j]
                if si >= 0:
                    if sj >= 0:  # both rows of T copy one state: one lookup
                        s = P[si, sj]
                    else:
                        s = 0.0
                        for q in range(nnz_row[j]):
                            s += vals[j, q] * P[si, cols[j, q]]
                elif sj >= 0:
                    s = 0.0
                    for k in range(nnz_row[i]):
                        s += vals[i, k] * P[cols[i, k], sj]
                else:
                    s = 0.0
                    for k in range(nnz_row[i]):
                        ck = cols[i, k]
                        wk = vals[i, k]
                        for q in range(nnz_row[j]):
                            s += wk * vals[j, q] * P[ck, cols[j, q]]
                x = s - gi * tpz[j] + RRt[i, j]
                d = x - P[i, j]
                diff += d * d if i == j else 2.0 * d * d
                Pn[i, j] = x
                Pn[j, i] = x
        P, Pn = Pn, P
        if tol > 0.0 and diff < tol:
            converged = True
    return ll, a, P


@_kernel
def _forecast(T, Rv, sigma2, Z, a0, P0, h):  # pragma: no cover - compiled
    """Mean (without intercept) and variance of the next ``h`` observations from the
    predicted state ``a0``, ``P0`` (Durbin & Koopman 2012, §4.10)."""
    m = T.shape[0]
    mean = np.zeros(h)
    var = np.zeros(h)
    a = a0.copy()
    P = P0.copy()
    for j in range(h):
        za = 0.0
        zpz = 0.0
        for i in range(m):
            za += Z[i] * a[i]
            for q in range(m):
                zpz += Z[i] * P[i, q] * Z[q]
        mean[j] = za
        var[j] = zpz
        a2 = np.zeros(m)
        for i in range(m):
            s = 0.0
            for q in range(m):
                s += T[i, q] * a[q]
            a2[i] = s
        a = a2
        P = _mm(_mm(T, P, False), T, True)
        for i in range(m):
            for q in range(m):
                P[i, q] += sigma2 * Rv[i] * Rv[q]
    return mean, var


def available() -> bool:
    """Whether the compiled filter can run here (numba importable)."""
    return njit is not None


def supported(mod: Any) -> bool:
    """Whether ``mod`` (a statsmodels ``SARIMAX``/``ARIMA``) is a case :class:`FastLoglike`
    reproduces exactly; otherwise statsmodels' own path should be used."""
    try:
        ssm = mod.ssm
        return bool(
            available()
            and getattr(mod, "_k_trend", 1) == 0
            and not getattr(mod, "measurement_error", True)
            and not getattr(mod, "state_regression", True)
            and not getattr(mod, "time_varying_regression", True)
            and not getattr(mod, "concentrate_scale", True)
            and not getattr(mod, "hamilton_representation", True)
            and getattr(mod, "k_endog", 2) == 1
            and not getattr(mod, "_has_fixed_params", False)
            and np.isfinite(np.asarray(mod.endog, dtype=float)).all()
            and ssm.initialization is not None
            and ssm.loglikelihood_burn == mod._k_states_diff
        )
    except Exception:  # noqa: BLE001 - any surprise: statsmodels' path
        return False


class FastLoglike:
    """The log-likelihood of a statsmodels SARIMA model, computed by :func:`_run`.

    ``FastLoglike(mod)(params, transformed=True)`` equals ``mod.loglike(params, ...)``
    (to ~1e-12 relative). :meth:`install` makes ``mod.fit`` use it.

    Raises
    ------
    ValueError
        When :func:`supported` is false for ``mod``.
    """

    def __init__(self, mod: Any) -> None:
        if not supported(mod):
            raise ValueError("this statsmodels model is not one FastLoglike reproduces")
        from statsmodels.tsa.statespace.mlemodel import MLEModel, _handle_args

        self.mod = mod
        self._handle_args = _handle_args
        self._names, self._defaults = MLEModel._loglike_param_names, MLEModel._loglike_param_defaults
        self._original = mod.loglike
        self.y = np.ascontiguousarray(np.asarray(mod.endog, dtype=float).ravel())
        self.exog = (np.ascontiguousarray(np.asarray(mod.exog, dtype=float))
                     if mod.mle_regression and mod._k_exog else None)
        self.k_exog = mod._k_exog if mod.mle_regression else 0
        self.k_diff = int(mod._k_states_diff)
        self.m = int(mod.k_states)
        ssm = mod.ssm
        T0 = np.array(ssm["transition"], dtype=float)[:, :, 0] if np.ndim(ssm["transition"]) == 3 \
            else np.array(ssm["transition"], dtype=float)
        T0[self.k_diff:, self.k_diff] = 0.0  # the ARMA column is filled per call
        self.T0 = T0
        Z = np.asarray(ssm["design"], dtype=float)
        self.Z = np.ascontiguousarray(Z.reshape(Z.shape[0], Z.shape[1], -1)[0, :, 0])
        ini = ssm.initialization
        self.diffuse_var = float(ini.approximate_diffuse_variance or 1e6)
        self.burn = int(ssm.loglikelihood_burn)
        self.tol = float(ssm.tolerance)
        # index bookkeeping of SARIMAX.update
        self.k_ar, self.k_ma = mod.k_ar_params, mod.k_ma_params
        self.k_sar, self.k_sma = mod.k_seasonal_ar_params, mod.k_seasonal_ma_params
        self.k_params = len(mod.param_names)
        self.stationary = bool(mod.enforce_stationarity)
        self.invertible = bool(mod.enforce_invertibility)
        self.calls = 0

    def system(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """``(y - X beta, T, R, sigma2)`` for *constrained* parameters ``params``."""
        mod = self.mod
        p = np.asarray(params, dtype=float)
        k = self.k_exog
        y = self.y - self.exog @ p[:k] if k else self.y
        ar = mod._polynomial_ar.astype(float)
        ar[mod._polynomial_ar_idx] = -p[k:k + self.k_ar]
        k += self.k_ar
        ma = mod._polynomial_ma.astype(float)
        ma[mod._polynomial_ma_idx] = p[k:k + self.k_ma]
        k += self.k_ma
        if self.k_sar or mod.k_seasonal_ar:
            sar = mod._polynomial_seasonal_ar.astype(float)
            sar[mod._polynomial_seasonal_ar_idx] = -p[k:k + self.k_sar]
            ar = np.convolve(ar, sar)
        k += self.k_sar
        if self.k_sma or mod.k_seasonal_ma:
            sma = mod._polynomial_seasonal_ma.astype(float)
            sma[mod._polynomial_seasonal_ma_idx] = p[k:k + self.k_sma]
            ma = np.convolve(ma, sma)
        k += self.k_sma
        sigma2 = float(p[k])
        T = self.T0.copy()
        r = self.m - self.k_diff
        phi = -ar[1:]
        T[self.k_diff:self.k_diff + min(r, len(phi)), self.k_diff] = phi[:r]
        R = np.zeros(self.m)
        R[self.k_diff:self.k_diff + min(r, len(ma))] = ma[:r]
        return np.ascontiguousarray(y), T, R, sigma2

    def loglike_constrained(self, params: np.ndarray) -> float:
        y, T, R, sigma2 = self.system(params)
        if not sigma2 > 0 or not np.isfinite(T).all() or not np.isfinite(R).all():
            return -np.inf
        ll, _, _ = self.run(y, T, R, sigma2)
        return float(ll)

    def run(self, y: np.ndarray, T: np.ndarray, R: np.ndarray, sigma2: float):
        """``(loglike, a_n, P_n)``: the filter over ``y`` (net of the regression) from
        statsmodels' initialisation."""
        P0 = _initial_cov(T, R, sigma2, self.k_diff, self.diffuse_var)
        return _run(y, T, R, sigma2, self.Z, np.zeros(self.m), P0, self.burn, self.tol)

    def state(self, params: np.ndarray) -> FilteredState:
        """The filtered state after the last observation at *constrained* ``params``:
        what forecasts and updates need (statsmodels' ``filter(params)`` without the
        results object)."""
        y, T, R, sigma2 = self.system(params)
        _, a, P = self.run(y, T, R, sigma2)
        k = self.k_exog
        beta = np.asarray(params, dtype=float)[:k].copy()
        return FilteredState(T, R, sigma2, self.Z, beta, a, P, self.tol)

    def __call__(self, params, *args, **kwargs) -> float:
        transformed, includes_fixed, complex_step, rest = self._handle_args(
            self._names, self._defaults, *args, **kwargs)
        if complex_step or rest or np.iscomplexobj(params):
            return self._original(params, *args, **kwargs)
        if not transformed and not includes_fixed and np.ndim(params) == 1 \
                and len(params) == self.k_params:
            params = _transform(np.asarray(params, dtype=float), self.k_exog, self.k_ar, self.k_ma,
                                self.k_sar, self.k_sma, self.stationary, self.invertible)
        else:
            params = self.mod.handle_params(params, transformed=transformed,
                                            includes_fixed=includes_fixed)
        self.calls += 1
        return self.loglike_constrained(params)

    def install(self) -> FastLoglike:
        """Make ``self.mod.loglike`` (what ``fit`` optimises) this function."""
        self.mod.loglike = self
        return self


@dataclass
class FilteredState:
    """A fitted SARIMA's system and where its filter stands after the last observation.

    ``a`` (m,), ``P`` (m, m): the predicted state for the next day and its covariance;
    ``beta`` (k,): regression coefficients of the observation intercept.
    """

    T: np.ndarray
    R: np.ndarray
    sigma2: float
    Z: np.ndarray
    beta: np.ndarray
    a: np.ndarray
    P: np.ndarray
    tol: float

    def to_json(self) -> dict[str, Any]:
        """The fields as JSON values (lists and floats; a JSON round trip is exact)."""
        return {f.name: (np.asarray(v).tolist() if isinstance(v := getattr(self, f.name), np.ndarray) else float(v))
                for f in fields(self)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FilteredState:
        """The inverse of :meth:`to_json`."""
        return cls(**{f.name: float(d[f.name]) if f.type == "float" else np.asarray(d[f.name], dtype=float)
                      for f in fields(cls)})

    def _intercept(self, x: np.ndarray | None, n: int) -> np.ndarray:
        if not len(self.beta):
            return np.zeros(n)
        if x is None:
            raise ValueError(f"the model has {len(self.beta)} regressors: their values are needed")
        x = np.asarray(x, dtype=float).reshape(n, -1)
        return x @ self.beta

    def update(self, y_new: np.ndarray, x_new: np.ndarray | None = None) -> FilteredState:
        """Take new observations ``y_new`` (n,) (regressors ``x_new`` (n, k)) at fixed
        parameters: statsmodels' ``append`` without re-filtering the history."""
        y = np.ascontiguousarray(np.asarray(y_new, dtype=float) - self._intercept(x_new, len(y_new)))
        _, a, P = _run(y, self.T, self.R, self.sigma2, self.Z, self.a, self.P, 0, self.tol)
        return replace(self, a=a, P=P)

    def forecast(self, h: int, x_future: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(mean (h,), variance (h,))`` of the next ``h`` observations."""
        mean, var = _forecast(self.T, self.R, self.sigma2, self.Z, self.a, self.P, int(h))
        return mean + self._intercept(x_future, int(h)), var


def fast_model(mod: Any) -> Any:
    """``mod`` with :class:`FastLoglike` installed where :func:`supported`; else unchanged."""
    if supported(mod):
        FastLoglike(mod).install()
    return mod
