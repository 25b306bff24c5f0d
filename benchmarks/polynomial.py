"""The polynomial-interpolation study behind the paper's Fig. 1 (Appendix B, "Settings for interplay mechanism
exploration"), in numpy: redundant noisy samples make magnitude pruning fail, and more coefficients make
coreset selection harder. Milliseconds on a CPU.

Choices the paper leaves open, made here:

- (a)/(b): the 10 points are equally spaced on [-1, 1] (Runge's classical setting) and every other one is
  noisy, so the clean coreset spans the interval too. A degree-10 polynomial has 11 coefficients, more than
  10 (or 5) points, so least squares is underdetermined; we take its minimum-norm solution in the monomial
  basis (`numpy.linalg.lstsq`), whose coefficients are the "weights" that magnitude pruning zeroes.
- (c): L is the mean squared error on the 50 noisy points and L-hat on the 20 clean ones (the paper explains
  the growth by L vanishing as the polynomial fits the noisy data). Were D-hat a subset of D, L-hat <=
  (|D| / |D-hat|) L would cap I at |D| / |D-hat| - 1 for every degree. The 100 test points measure how far
  each least-squares fit is from the true function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.polynomial import legendre


def runge(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + 25.0 * x ** 2)


@dataclass
class Fit:
    """A least-squares polynomial (monomial coefficients, lowest power first) and its magnitude-pruned copy."""

    name: str
    coefficients: np.ndarray
    pruned: np.ndarray
    train_mse: float  # on the points it was fitted to
    pruned_train_mse: float
    true_mse: float  # against the true function, on a fine grid of [-1, 1]
    pruned_true_mse: float


@dataclass
class PruningStudy:
    x: np.ndarray
    y: np.ndarray
    noisy: np.ndarray  # bool per point
    full: Fit  # fitted to all points
    coreset: Fit  # fitted to the clean points only


GRID = np.linspace(-1.0, 1.0, 2001)


def pruning_study(seed: int = 0, points: int = 10, degree: int = 10, noise: float = 0.1,
                  zeroed: int = 3) -> PruningStudy:
    """Fig. 1(a)/(b): fit the full set and the clean coreset, then zero the `zeroed` smallest coefficients."""
    rng = np.random.default_rng(seed)
    x = np.linspace(-1.0, 1.0, points)
    noisy = np.arange(points) % 2 == 1
    y = runge(x) + np.where(noisy, rng.normal(0.0, noise, points), 0.0)
    fits = [_fit(name, x[keep], y[keep], degree, zeroed) for name, keep in (("full", np.ones_like(noisy)),
                                                                            ("coreset", ~noisy))]
    return PruningStudy(x, y, noisy, *fits)


def _fit(name: str, x: np.ndarray, y: np.ndarray, degree: int, zeroed: int) -> Fit:
    design = np.vander(x, degree + 1, increasing=True)
    coefficients = np.linalg.lstsq(design, y, rcond=None)[0]
    pruned = coefficients.copy()
    pruned[np.argsort(np.abs(coefficients), kind="stable")[:zeroed]] = 0.0
    grid = np.vander(GRID, degree + 1, increasing=True)
    truth = runge(GRID)

    def mse(a, b):
        return float(np.mean((a - b) ** 2))

    return Fit(name, coefficients, pruned, mse(design @ coefficients, y), mse(design @ pruned, y),
               mse(grid @ coefficients, truth), mse(grid @ pruned, truth))


def selection_difficulty(x: np.ndarray, y: np.ndarray, x_hat: np.ndarray, y_hat: np.ndarray, degree: int) -> float:
    """Eq. 2, I(D, D-hat) = sup over theta of |L(theta) - L-hat(theta)| / L(theta), for polynomials of `degree`
    with mean squared error on D = (x, y) and D-hat = (x_hat, y_hat). Exact, no search over theta:

    With z = (theta, -1) and M = [A y] / sqrt(|D|) (A: the design matrix), L(theta) = |M z|^2, and likewise
    L-hat(theta) = |M-hat z|^2. Their ratio r(z) does not change when z is scaled, so the vectors z = (theta, -1)
    reach every ratio that vectors with a non-zero last entry do; those are dense among all z != 0, and r is
    continuous where L > 0 (everywhere, when y is not exactly a polynomial of this degree in x). So the ratio's
    range over theta has the same closure as over all z != 0: [lambda_min, lambda_max], the extreme generalized
    eigenvalues of (M-hat^T M-hat, M^T M). With M = QR, they are the extreme squared singular values of
    M-hat R^-1, and I = max(lambda_max - 1, 1 - lambda_min). The supremum may be approached only as theta grows
    without bound (z's last entry -> 0), which is why Eq. 2 says sup and not max. A Legendre basis keeps R well
    conditioned; the supremum does not depend on the basis, since any basis spans the same polynomials.
    """
    augmented = np.column_stack([legendre.legvander(x, degree), y]) / np.sqrt(len(x))
    augmented_hat = np.column_stack([legendre.legvander(x_hat, degree), y_hat]) / np.sqrt(len(x_hat))
    r = np.linalg.qr(augmented, mode="r")
    whitened = np.linalg.solve(r.T, augmented_hat.T).T  # M-hat R^-1
    singular = np.linalg.svd(whitened, compute_uv=False)
    lambda_max = singular[0] ** 2
    lambda_min = singular[-1] ** 2 if whitened.shape[0] >= whitened.shape[1] else 0.0  # more unknowns than rows
    return float(max(lambda_max - 1.0, 1.0 - lambda_min))


def difficulty_study(seed: int = 0, degrees: range = range(1, 21), noisy: int = 50, clean: int = 20,
                     test: int = 100, noise: float = 0.1) -> pd.DataFrame:
    """Fig. 1(c): I(D, D-hat) per degree (D: the noisy points, D-hat: the clean ones), the smallest L reachable
    (the least-squares fit's loss on the noisy points), and each fit's MSE against the true function on test points."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, noisy)
    y = runge(x) + rng.normal(0.0, noise, noisy)
    x_hat = rng.uniform(-1.0, 1.0, clean)
    y_hat = runge(x_hat)
    x_test = rng.uniform(-1.0, 1.0, test)
    rows = []
    for k in degrees:
        noisy_fit = _least_squares(x, y, k)
        clean_fit = _least_squares(x_hat, y_hat, k)
        rows.append({"degree": k, "selection_difficulty": selection_difficulty(x, y, x_hat, y_hat, k),
                     "min_noisy_loss": float(np.mean((legendre.legval(x, noisy_fit) - y) ** 2)),
                     "noisy_fit_test_mse": float(np.mean((legendre.legval(x_test, noisy_fit) - runge(x_test)) ** 2)),
                     "clean_fit_test_mse": float(np.mean((legendre.legval(x_test, clean_fit) - runge(x_test)) ** 2))})
    return pd.DataFrame(rows)


def _least_squares(x: np.ndarray, y: np.ndarray, degree: int) -> np.ndarray:
    """Legendre coefficients of the least-squares polynomial (minimum norm when underdetermined)."""
    return np.linalg.lstsq(legendre.legvander(x, degree), y, rcond=None)[0]
