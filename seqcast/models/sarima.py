"""Seasonal ARIMA through statsmodels' state-space ``ARIMA``, tuned for backtests.

Five things make the backtester fast without changing the forecasts:

- the optimiser (statsmodels' own: L-BFGS, its start values and settings) evaluates
  the log-likelihood with a compiled filter of the same state space
  (:mod:`seqcast.models.sarima_filter`: equal to statsmodels' to ~1e-15 relative),
  and forecasts/updates come from that filter's last state;
- fits skip what a forecast does not need: the parameter covariance and the
  smoothed states (``fit(return_params=True)`` then one filter pass);
- a refit can be *warm-started* from the previous fit (``fit(history, init=previous)``):
  the AR/MA terms start at the previous estimates, but the regression coefficients
  and the noise variance start where statsmodels' default would put them. Starting
  the variance at its previous estimate as well stops the optimizer after a couple
  of iterations at different parameters (chapter loop: MAE 32,127 instead of
  32,041); resetting it keeps the forecasts of a cold fit (32,040.6). Regression
  coefficients started at their previous estimates moved single forecasts by up
  to 0.37 % with the calendar (rail, 92 origins: MAE 23,942 vs 23,972 cold: the
  likelihood is flat along a rare holiday's coefficient and the optimiser stops
  wherever it starts); started at statsmodels' default, 0.009 % (23,972.0);
- between refits the fitted state is updated with the new observations at fixed
  parameters (no re-estimation);
- the Kalman filter's convergence tolerance is scaled to the data
  (:meth:`SARIMA._converged_tolerance`), so long series stop paying the full
  covariance update once it has converged.

The chapter's figure (MAE 32,041) depends on statsmodels' *default* optimizer
settings, which stop early with the variance as a free parameter; this module
keeps those defaults.

>>> import numpy as np, pandas as pd
>>> ds = pd.date_range("2024-01-01", periods=70)
>>> y = 100 + 10 * (ds.day_of_week < 5) + np.random.default_rng(0).normal(0, 1, 70)
>>> hist = pd.DataFrame({"series_id": "a", "ds": ds, "y": y})
>>> fc = SARIMA(order=(1, 0, 0), seasonal_order=(0, 1, 1, 7)).fit(hist).predict(2, level=[90])
>>> list(fc.columns)
['series_id', 'ds', 'model', 'mean', 'lo-90', 'hi-90']
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from seqcast.errors import InputError, ModelError
from seqcast.models.base import LocalForecaster, int_tuple, optional_positive_int, positive_int
from seqcast.models.sarima_filter import FastLoglike, FilteredState, fast_model


@dataclass
class SarimaState:
    """What one fitted series keeps: statsmodels results and its parameters."""

    results: Any  # statsmodels results (None when ``filtered`` holds the state)
    params: np.ndarray
    param_names: list[str]
    converged: bool
    warm_fits: int = 0  # warm-started fits in this chain so far
    cold_only: bool = False  # a check found a warm start off the cold fit: no more warm starts
    checked: bool = True  # False for a warm fit no cold fit has confirmed yet
    exog_keep: np.ndarray | None = None  # the regressors used (see SARIMA._informative)
    filtered: FilteredState | None = None  # the compiled filter's state (instead of results)
    scale: float = 1.0  # the model sees y * scale (SARIMA._scale); forecasts are divided back


class SARIMA(LocalForecaster):
    """SARIMA(p, d, q)(P, D, Q, s) with optional known-future regressors.

    Parameters
    ----------
    order : (p, d, q), default (1, 0, 0)
    seasonal_order : (P, D, Q, s), default (0, 1, 1, 7): a weekly seasonal MA on the
        weekly difference, the chapter's model for daily ridership (and what the
        product means by ``sarima`` everywhere: CLI, flows, models files).
    trend : statsmodels trend spec ("n", "c", "t", "ct") or None for its default
        (a constant without integration, none with it).
    warm_start : bool
        Let the backtester start each refit from the previous estimates
        (variance reset; see the module docstring).
    require_convergence : bool
        Treat an optimizer that reports non-convergence as a failed fit.
    verify_every : int
        Check the 1st, then every ``verify_every``-th warm-started fit of a chain
        against a cold fit; when their one-step forecasts differ by more than
        0.1 %, the chain continues with cold fits only, and the backtester re-runs
        the unchecked origins since the last passed check with cold fits
        (:func:`seqcast.backtest.walk_origins`). Well-identified models pass
        every check (the chapter's: 0.001 %); over-parameterised ones may not
        (e.g. (0,0,0)(0,1,2,7) on CTA rail: unchecked, a warm chain drifted to
        another optimum from the 8th origin, MAE 66,270 instead of 40,496; with
        the checks: 40,496 as cold). 0 disables the checks (and the repair).
    max_history : int or None, default 365
        Estimate on the last ``max_history`` days of each series only (a sliding
        training window: the parameters follow the recent regime, and a fit costs
        the same whatever the length of the history); ``None``: all of it.
        Between refits the state still takes every new day (``update``). A
        weekly model needs no more than a year to estimate its few terms; on
        CTA (with the calendar, weekly refits, 92 origins March-May 2019, h=1
        MAE bus / rail): all history since 2001 29,383 / 26,129; last 1095
        days 27,432 / 25,783; 730: 27,528 / 24,445; 365: 27,421 / 23,695;
        270: 28,365 / 24,556; 180: 30,724 / 27,504.
    compiled_filter : bool, default True
        Let the optimiser evaluate the log-likelihood with
        :mod:`seqcast.models.sarima_filter` (the same state space and numbers as
        statsmodels' filter to ~1e-15 relative, 2.5-13x cheaper a call); ``False``
        keeps statsmodels' own filter. Models it does not reproduce (trend terms)
        use statsmodels' either way.
    """

    alias = "sarima"
    complexity = 3
    supports_future_covariates: ClassVar[bool] = True
    supports_probabilistic_prediction: ClassVar[bool] = True
    # fit(init=previous) warm-starts; update() takes new days at fixed parameters.
    supports_warm_start: ClassVar[bool] = True
    supports_update: ClassVar[bool] = True

    def __init__(
        self,
        order: tuple[int, int, int] = (1, 0, 0),
        seasonal_order: tuple[int, int, int, int] = (0, 1, 1, 7),
        trend: str | None = None,
        warm_start: bool = True,
        require_convergence: bool = True,
        verify_every: int = 10,
        max_history: int | None = 365,
        compiled_filter: bool = True,
    ) -> None:
        self.order = order
        self.seasonal_order = seasonal_order
        self.trend = trend
        self.warm_start = warm_start
        self.require_convergence = require_convergence
        self.verify_every = verify_every
        self.max_history = max_history
        self.compiled_filter = compiled_filter

    def check_params(self) -> None:
        int_tuple(self, "order", self.order, 3)
        int_tuple(self, "seasonal_order", self.seasonal_order, 4)
        P, D, Q, s = self.seasonal_order
        if (P or D or Q) and s < 2:
            raise ModelError(f"{self.alias}: a seasonal part needs a season s >= 2, got {self.seasonal_order!r}")
        if self.trend not in (None, "n", "c", "t", "ct"):
            raise ModelError(f"{self.alias}: trend must be n, c, t, ct or none, got {self.trend!r}")
        positive_int(self, "verify_every", self.verify_every, minimum=0)
        optional_positive_int(self, "max_history", self.max_history, minimum=self.min_history)

    @property
    def min_history(self) -> int:
        p, d, q = self.order
        P, D, Q, s = self.seasonal_order
        return int(d + D * s + max(p + P * s, q + Q * s) + 2)

    # -- statsmodels plumbing ------------------------------------------------------------
    def _model(self, y: np.ndarray, exog: np.ndarray | None):
        from statsmodels.tsa.arima.model import ARIMA

        mod = ARIMA(
            y,
            exog=exog,
            order=tuple(self.order),
            seasonal_order=tuple(self.seasonal_order),
            trend=self.trend,
        )
        tol = self._converged_tolerance(y)
        if tol:
            mod.ssm.tolerance = tol
        if self.compiled_filter:
            fast_model(mod)  # same log-likelihood, compiled (seqcast.models.sarima_filter)
        return mod

    def _differenced(self, y: np.ndarray) -> np.ndarray:
        """``y`` under the model's seasonal difference (else its ordinary one)."""
        P, D, Q, s = self.seasonal_order
        d = self.order[1]
        x = np.asarray(y, dtype=float)
        if D and s and len(x) > s:
            x = x[s:] - x[:-s]
        elif d and len(x) > 1:
            x = np.diff(x)
        return x

    def _converged_tolerance(self, y: np.ndarray) -> float | None:
        """Kalman-filter convergence tolerance relative to the data's scale.

        statsmodels stops updating the state covariance once it changes by less
        than ``tolerance`` (squared Frobenius norm), default 1e-19 in absolute
        terms: never reached at CTA's scale (variances ~1e10), so every step of
        a 6,600-day series pays the full covariance update. Scaling it to
        ``(1e-14 * variance)**2`` lets the filter reach its steady state after
        ~2,600 days: the fit takes half the time and the forecast moves by
        ~0.0002 riders in 550,000. Short series never converge either way.
        """
        x = self._differenced(y)
        with np.errstate(over="ignore"):  # a series near 1e200: inf, said by the fit, not 44 console warnings
            var = float(np.var(x)) if len(x) > 1 else 0.0
        if not np.isfinite(var) or var <= 0:
            return None
        return max((1e-14 * var) ** 2, 1e-19)

    def _scale(self, y: np.ndarray) -> float:
        """The power of ten the model's input is multiplied by: 1 unless the differenced
        series' spread is below 1, then enough to bring it to [1, 10).

        statsmodels' optimizer (finite-difference gradients, absolute tolerances) does
        not converge on a series whose noise variance is tiny in absolute terms: a rate
        around 0.01 or a series in units of 1e-9 failed every fit ("the optimizer did not
        converge") while the same series x 1000 fitted. The parameters are scale-free
        except the variance and regression coefficients, so forecasts come back divided.

        >>> rate = 0.01 + np.tile([0.0, 0.002], 10)  # weekly differences +-0.002
        >>> SARIMA()._scale(rate), SARIMA()._scale(rate * 1e6), SARIMA()._scale(np.full(20, 0.5))
        (1000.0, 1.0, 1.0)
        """
        x = self._differenced(y)
        with np.errstate(over="ignore"):  # squares of values near 1e200 overflow: inf, no scaling
            sd = float(np.std(x)) if len(x) > 1 else 0.0
        # a spread that is rounding error (a constant difference) is no spread
        if not np.isfinite(sd) or sd <= 1e-12 * float(np.abs(x).max(initial=0.0)) or sd >= 1:
            return 1.0
        return float(10.0 ** -np.floor(np.log10(sd)))

    def _estimate(self, y: np.ndarray, exog: np.ndarray | None, warm: SarimaState | None):
        if len(y) < self.min_history:
            raise ModelError(
                f"{self.alias}: {len(y)} observations, the model needs at least {self.min_history}"
            )
        if not np.isfinite(y).all():
            raise ModelError(f"{self.alias}: history has {int((~np.isfinite(y)).sum())} NaN/inf values")
        from statsmodels.tools.sm_exceptions import ConvergenceWarning

        scale = self._scale(y)
        y = np.asarray(y, dtype=float) * scale
        cols = None
        if exog is not None:
            cols = self._informative(np.asarray(exog, dtype=float).reshape(len(y), -1))
            exog = np.asarray(exog, dtype=float).reshape(len(y), -1)[:, cols] if cols.any() else None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mod = self._model(y, exog)
            start = None
            if warm is not None and self.warm_start and warm.param_names == mod.param_names:
                start = np.asarray(mod.start_params, dtype=float).copy()
                keep = [i for i, n in enumerate(mod.param_names) if n.startswith(("ar.", "ma."))]
                start[keep] = warm.params[keep]
            # return_params skips building a results object (covariance, smoother);
            # one plain filter pass below gives what forecasts and intervals need.
            params = np.asarray(mod.fit(start_params=start, return_params=True), dtype=float)
            if not np.isfinite(params).all():
                raise ModelError(f"{self.alias}: the fit gave non-finite parameters {params.tolist()}")
            fast = mod.loglike if isinstance(mod.loglike, FastLoglike) else None
            res = filtered = None
            if fast is not None and fast.k_exog == (0 if exog is None else exog.shape[1]):
                # the compiled filter's last state: forecasts and updates without a
                # statsmodels results object (no trend columns to extend into the future)
                filtered = fast.state(params)
            else:
                # low_memory: forecasts need only the last state; intervals re-filter
                # on demand (_predict_series), which most backtests never ask for.
                res = mod.filter(params, cov_type="none", low_memory=True)
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        if self.require_convergence and not converged and not self._noiseless(y):
            raise ModelError(f"{self.alias}: the optimizer did not converge")
        return SarimaState(res, params, list(mod.param_names), converged, exog_keep=cols,
                           filtered=filtered, scale=scale)

    def _noiseless(self, y: np.ndarray) -> bool:
        """Whether ``y`` is exactly predictable under the model's differencing: a constant
        or all-zero series, an exact weekly pattern, a straight line (the differenced
        series is one value). Its likelihood is flat in every parameter (there is no
        noise to fit), so the optimizer never reports convergence, yet every parameter
        value forecasts the same continuation (zeros stay zeros, the week repeats);
        such a fit is kept instead of failing every origin of a closed store's series."""
        x = self._differenced(y)
        return len(x) > 0 and float(np.ptp(x)) <= 1e-12 * max(float(np.abs(x).max()), 1.0)

    def _informative(self, x: np.ndarray) -> np.ndarray:
        """Which regressor columns of ``x (n, k)`` the model can estimate: those that do
        not vanish under its differencing (a weekday dummy under a weekly seasonal
        difference is all zeros, a constant column duplicates the intercept) and are
        not a combination of the columns kept before them. Such a column has no
        likelihood gradient and keeps the optimizer from converging."""
        d, (_, D, _, s) = self.order[1], self.seasonal_order
        z = x
        for _ in range(int(d)):
            z = np.diff(z, axis=0)
        for _ in range(int(D)):
            z = z[int(s):] - z[: -int(s)] if s and len(z) > s else z[:0]
        keep = np.zeros(x.shape[1], dtype=bool)
        if not len(z):
            return keep
        rank = 0
        for j in range(x.shape[1]):  # greedy: a column that adds nothing new is collinear
            if np.ptp(z[:, j]) == 0:
                continue
            trial = keep.copy()
            trial[j] = True
            r = np.linalg.matrix_rank(z[:, trial])
            if r > rank:
                keep, rank = trial, r
        return keep

    @staticmethod
    def _kept(state: SarimaState, x: np.ndarray | None) -> np.ndarray | None:
        if x is None or state.exog_keep is None or not state.exog_keep.any():
            return None
        return np.asarray(x, dtype=float).reshape(len(x), -1)[:, state.exog_keep]

    # -- LocalForecaster contract ----------------------------------------------------------
    def _fit_series(self, y: np.ndarray, exog: np.ndarray | None) -> SarimaState:
        return self._estimate(y, exog, None)

    def _fit_series_warm(
        self, y: np.ndarray, exog: np.ndarray | None, previous: SarimaState | None
    ) -> SarimaState:
        """Re-estimate on ``y`` starting from ``previous`` (AR/MA terms only; regression
        coefficients and variance from statsmodels' default start, see the module docstring).

        Checked against a cold fit at the 1st and every ``verify_every``-th warm
        fit of the chain (see the class docstring); the checked fit returns the
        cold estimate, so a chain never drifts further than ``verify_every - 1``
        origins from what a plain loop gives.
        """
        if previous is None or not self.warm_start or previous.cold_only:
            state = self._estimate(y, exog, None)
            state.cold_only = previous.cold_only if previous is not None else False
            return state
        warm = self._estimate(y, exog, previous)
        warm.warm_fits = previous.warm_fits + 1
        if not self.verify_every or previous.warm_fits % int(self.verify_every):
            warm.checked = not self.verify_every  # unchecked: provisional for the backtester
            return warm
        cold = self._estimate(y, exog, None)
        cold.warm_fits = warm.warm_fits
        x = None if exog is None else np.asarray(exog)[-1:]  # same stand-in input for both
        f_warm = self._predict_series(warm, 1, x, ())["mean"][0]
        f_cold = self._predict_series(cold, 1, x, ())["mean"][0]
        cold.cold_only = abs(f_warm - f_cold) > 1e-3 * max(abs(f_cold), 1e-12)
        return cold

    def _update_series(
        self, state: SarimaState, y_new: np.ndarray, exog_new: np.ndarray | None
    ) -> SarimaState:
        """Add observations ``y_new`` to the fitted state at fixed parameters."""
        if len(y_new) == 0:
            return state
        if not np.isfinite(y_new).all():
            raise ModelError(f"{self.alias}: new observations contain NaN/inf values")
        y_new = np.asarray(y_new, dtype=float) * state.scale
        if state.filtered is not None:
            return replace(state, filtered=state.filtered.update(y_new, self._kept(state, exog_new)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = state.results.append(y_new, exog=self._kept(state, exog_new))
        return replace(state, results=res)

    def _predict_series(
        self, state: SarimaState, h: int, exog_future: np.ndarray | None, level: tuple[int, ...]
    ) -> dict[str, np.ndarray]:
        exog_future = self._kept(state, exog_future)
        if state.filtered is not None:
            from scipy.stats import norm

            mean, var = state.filtered.forecast(h, exog_future)
            out = {"mean": mean}
            for lv in level:  # statsmodels' conf_int: mean -/+ z sd
                z = float(norm.ppf(1 - (1 - lv / 100) / 2)) * np.sqrt(np.maximum(var, 0.0))
                out[f"lo-{lv}"] = mean - z
                out[f"hi-{lv}"] = mean + z
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fc = state.results.get_forecast(h, exog=exog_future)
                if level and not np.isfinite(np.asarray(fc.var_pred_mean, dtype=float)).all():
                    full = state.results.model.filter(state.params, cov_type="none")  # keeps variances
                    fc = full.get_forecast(h, exog=exog_future)
                out = {"mean": np.asarray(fc.predicted_mean, dtype=float)}
                for lv in level:
                    ci = np.asarray(fc.conf_int(alpha=1 - lv / 100), dtype=float)
                    out[f"lo-{lv}"] = ci[:, 0]
                    out[f"hi-{lv}"] = ci[:, 1]
        if not np.isfinite(out["mean"]).all():
            raise ModelError(f"{self.alias}: the forecast has non-finite values")
        if state.scale != 1.0:
            out = {k: v / state.scale for k, v in out.items()}
        return out


    # -- persistence (the nightly's fit cache) -----------------------------------------
    @property
    def saveable(self) -> bool:
        """Whether :meth:`save` can write this fit: every series holds the compiled
        filter's state (not a model with trend terms, or ``compiled_filter=False``)."""
        return bool(getattr(self, "states_", None)) and all(
            st.filtered is not None for st in self.states_.values())

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``path/metadata.json``: the hyperparameters and, per series, the estimates
        and the filter's last state (a few kB: the system matrices, ``a`` and ``P``).

        JSON numbers round-trip exactly, so a loaded model updates and forecasts to the
        last digit as this one (the nightly backtest and tonight's forecast share one fit
        a refit day through :func:`seqcast.backtest.cached_fit`). Raises
        :class:`ModelError` when the fit is not :attr:`saveable`.
        """
        if not self.saveable:
            raise ModelError(f"{self.alias}: only fits with the compiled filter's state can be saved")
        series = []
        for sid, st in self.states_.items():
            f = st.filtered.to_json()
            series.append({"series_id": sid.item() if isinstance(sid, np.generic) else sid, "cutoff": str(pd.Timestamp(self.cutoff_[sid]).date()),
                           "params": st.params.tolist(), "param_names": st.param_names,
                           "converged": st.converged, "scale": st.scale,
                           "exog_keep": None if st.exog_keep is None else st.exog_keep.tolist(),
                           "filtered": f})
        meta = {"format_version": 1, "alias": self.alias, "params": self.get_params(), "series": series}
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        tmp = path / ".metadata.json.tmp"
        tmp.write_text(json.dumps(meta, default=list), encoding="utf-8")
        os.replace(tmp, path / "metadata.json")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SARIMA:
        """A model written by :meth:`save`. Raises :class:`InputError` for anything else."""
        file = Path(path) / "metadata.json"
        try:
            meta = json.loads(file.read_text(encoding="utf-8"))
            if meta.get("alias") != cls.alias or meta.get("format_version") != 1:
                raise ValueError(f"not a saved {cls.alias}")
            params = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["params"].items()}
            model = cls(**params)
            model.states_, cutoff = {}, {}
            for s in meta["series"]:
                filtered = FilteredState.from_json(s["filtered"])
                keep = None if s["exog_keep"] is None else np.asarray(s["exog_keep"], dtype=bool)
                model.states_[s["series_id"]] = SarimaState(
                    None, np.asarray(s["params"], dtype=float), list(s["param_names"]),
                    bool(s["converged"]), exog_keep=keep, filtered=filtered,
                    scale=float(s.get("scale", 1.0)))
                cutoff[s["series_id"]] = pd.Timestamp(s["cutoff"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{file}: cannot read a saved {cls.alias} ({exc})") from None
        model.cutoff_ = pd.Series(cutoff, name="ds").rename_axis("series_id")
        return model


def parse_order(text: str, n: int) -> tuple[int, ...]:
    """``"1,0,0"`` → ``(1, 0, 0)``; checks there are ``n`` non-negative integers."""
    try:
        parts = tuple(int(p) for p in str(text).replace(" ", "").split(","))
    except ValueError:
        raise ModelError(f"expected {n} comma-separated integers, got {text!r}") from None
    if len(parts) != n or any(p < 0 for p in parts):
        raise ModelError(f"expected {n} comma-separated non-negative integers, got {text!r}")
    return parts
