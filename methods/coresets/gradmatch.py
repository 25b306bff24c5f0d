"""`gradmatch`: per class, a weighted coreset whose summed last-layer gradient matches the class's summed
gradient, found by non-negative orthogonal matching pursuit (GradMatch, Killamsetty et al. 2021, as the
paper runs it: per-class per-gradient features, lambda = 0.5).

Why it is written this way: the widely used implementation solves one class at a time and re-solves the
least-squares system from scratch at every pick (about 28 s on a 2-core CPU for CIFAR-10 at 10%, and it
returns fewer samples than asked). Here all classes advance together (one batched product correlates every
class's residual with all of its atoms) and the regularised system grows by a Cholesky row per pick:

    G_S = A_S A_S^T + lambda I = L L^T,   Q = A_S^T L^{-T},   z = L^{-1} A_S b,   x = L^{-T} z,
    residual r = b − A_S^T x = b − Q z   (a new atom a adds w = Q^T a, l = sqrt(a·a + lambda − w·w),
                                          the column (a − Q w) / l to Q and (a·b − w·z) / l to z)

with L^{-1}, Q, z, x, r in float64; x is updated in place (the new atom's coefficient is z_new / l, the
others move by −(z_new / l) L^{-T} w: one product with L^{-1}, no triangular solve). A pick is the atom
most positively correlated with the residual; when a coefficient turns non-positive, the most negative atom
leaves the support for good and the class's factorisation is rebuilt from its remaining atoms (rare). A
class stops when it has its budget or no atom correlates positively with its residual; then it is topped up
with random members of the class (weight: the mean of its OMP weights), so the coreset is exactly `budget`
samples. Class budgets: ceil(k n_c / N), trimmed to sum to exactly k before the pursuit starts (see
`harness.training.selection.class_budgets`), so the weights are the OMP solution of exactly what is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.core.errors import ConfigError
from harness.core.registry import register
from harness.training.selection import ClassLayout, Coreset, Probe, SelectionContext, Selector, class_budgets
from methods.coresets._features import class_atoms

CHUNK_BYTES = 1 << 30  # feature memory of the classes solved together (ImageNet does not fit at once)


@register("selector", "gradmatch")
class GradMatch(Selector):
    """GradMatch's PerClassPerGradient OMP. `lam`: the ridge term lambda of the matching problem."""

    def __init__(self, lam: float = 0.5):
        if not lam > 0:
            raise ConfigError(f"selectors.gradmatch.lam must be > 0 (it keeps every system solvable), got {lam!r}")
        self.lam = lam

    def select(self, probe: Probe, budget: int, rng: torch.Generator, ctx: SelectionContext) -> Coreset:
        layout = ClassLayout.of(probe.labels, ctx.num_classes)
        quota = torch.tensor(class_budgets(probe.labels, budget, ctx.num_classes), device=probe.labels.device)
        groups, picked, weights = layout.groups(), [], []
        for classes in _chunks(layout, probe.embeddings.shape[1] + 1):
            support, coef = omp(class_atoms(probe, layout, classes), layout.valid[classes], quota[classes],
                                self.lam)
            for row, c in enumerate(classes.tolist()):
                chosen, w = _top_up(support[row], coef[row], len(groups[c]), int(quota[c]), rng)
                picked.append(groups[c][chosen])
                weights.append(w)
        idx = torch.cat(picked)
        return Coreset(probe.indices[idx], torch.cat(weights).float())


def omp(atoms: torch.Tensor, valid: torch.Tensor, quota: torch.Tensor, lam: float):
    """Non-negative regularised OMP for a batch of problems. `atoms` float32 [B, m, n] (column j of problem
    b is atom j), `valid` bool [B, n], `quota` int64 [B]. Target of problem b: the sum of its atoms.
    Returns the support int64 [B, q_max] (−1 past the end) and its coefficients float64 [B, q_max], > 0 on
    the support and 0 past it."""
    nb, m, _ = atoms.shape
    q_max = int(quota.max()) if nb else 0
    st = _State.empty(nb, m, q_max + 1, atoms.device)  # one spare slot: finished problems write there
    target = atoms.sum(2).double()  # [B, m]: float32 (pairwise) sums, the atoms' own precision
    st.residual = target.clone()
    rows = torch.arange(nb, device=atoms.device)
    blocked = ~valid
    active = quota > 0
    while bool(active.any()):
        corr = torch.bmm(st.residual.float().unsqueeze(1), atoms).squeeze(1).masked_fill_(blocked, float("-inf"))
        best, pick = corr.max(1)
        active &= best > 0
        if not bool(active.any()):
            break
        st.add(atoms[rows, :, pick].double(), pick, active, target, lam)
        blocked[rows, pick] |= active
        bad = ((st.x <= 0) & (st.support >= 0)).any(1)
        if bool(bad.any()):
            for p in bad.nonzero().squeeze(1).tolist():
                st.drop_until_positive(p, atoms[p], target[p], lam)
        active &= st.size < quota
    return st.support[:, :q_max], st.x[:, :q_max]


@dataclass
class _State:
    """The growing factorisations of a batch of OMP problems, padded to q slots each: L^{-1} (the inverse
    Cholesky factor, identity past each support), Q = A_S^T L^{-T} as [B, m, q] and as [B, q, m] (so that
    both products with it are batched row-vector x matrix, the fast form of `bmm`), z = L^{-1} A_S b, the
    coefficients x = L^{-T} z, the support and its size, and the residual b − Q z."""

    linv: torch.Tensor
    q: torch.Tensor
    qt: torch.Tensor
    z: torch.Tensor
    x: torch.Tensor
    support: torch.Tensor
    size: torch.Tensor
    residual: torch.Tensor

    @staticmethod
    def empty(nb: int, m: int, slots: int, device) -> _State:
        f64 = torch.float64
        return _State(linv=torch.eye(slots, dtype=f64, device=device).repeat(nb, 1, 1),
                      q=torch.zeros(nb, m, slots, dtype=f64, device=device),
                      qt=torch.zeros(nb, slots, m, dtype=f64, device=device),
                      z=torch.zeros(nb, slots, dtype=f64, device=device),
                      x=torch.zeros(nb, slots, dtype=f64, device=device),
                      support=torch.full((nb, slots), -1, dtype=torch.long, device=device),
                      size=torch.zeros(nb, dtype=torch.long, device=device),
                      residual=torch.zeros(nb, m, dtype=f64, device=device))

    def add(self, atom: torch.Tensor, pick: torch.Tensor, active: torch.Tensor, target: torch.Tensor,
            lam: float) -> None:
        """Append atom `pick` (values `atom`, float64 [B, m]) to the problems where `active` is set. The
        others get an identity row and zeros in their next free slot, which changes nothing."""
        on = active.to(torch.float64)
        width = int(self.size.max()) + 1
        w = torch.bmm(atom.unsqueeze(1), self.q[:, :, :width]).squeeze(1) * on[:, None]  # L^{-1} A_S a
        l = ((atom * atom).sum(1) + lam - (w * w).sum(1)).clamp_(min=lam).sqrt_()
        l = torch.where(active, l, torch.ones_like(l))
        column = (atom - torch.bmm(w.unsqueeze(1), self.qt[:, :width]).squeeze(1)) * (on / l)[:, None]
        zeta = ((atom * target).sum(1) - (w * self.z[:, :width]).sum(1)) * on / l
        u = torch.bmm(w.unsqueeze(1), self.linv[:, :width, :width]).squeeze(1)  # L^{-T} w
        rows, pos = torch.arange(len(pick), device=pick.device), self.size.clone()
        self.linv[rows, pos, :width] = -u / l[:, None]
        self.linv[rows, pos, pos] = 1.0 / l
        self.q[rows, :, pos] = column
        self.qt[rows, pos] = column
        self.z[rows, pos] = zeta
        self.x[:, :width] -= (zeta / l)[:, None] * u
        self.x[rows, pos] = zeta / l
        self.support[rows, pos] = torch.where(active, pick, self.support[rows, pos])
        self.size += active
        self.residual -= column * zeta[:, None]

    def drop_until_positive(self, p: int, atoms: torch.Tensor, target: torch.Tensor, lam: float) -> None:
        """Problem p has a non-positive coefficient: remove its most negative atom (it stays blocked, so it
        cannot come back) and refactorise the remaining ones, until every coefficient is positive."""
        f64 = torch.float64
        while True:
            s = int(self.size[p])
            x = self.x[p, :s]
            if bool((x > 0).all()):
                return
            kept = self.support[p, :s][torch.arange(s, device=x.device) != x.argmin()]
            a = atoms[:, kept].to(f64)  # [m, s - 1]
            eye = torch.eye(s - 1, dtype=f64, device=a.device)
            linv = torch.linalg.solve_triangular(torch.linalg.cholesky(a.T @ a + lam * eye), eye, upper=False)
            qt = linv @ a.T
            z = qt @ target
            for buffer in (self.q[p], self.qt[p], self.z[p], self.x[p]):
                buffer.zero_()
            self.linv[p] = torch.eye(self.linv.shape[1], dtype=f64, device=a.device)
            self.linv[p, :s - 1, :s - 1] = linv
            self.q[p, :, :s - 1] = qt.T
            self.qt[p, :s - 1] = qt
            self.z[p, :s - 1] = z
            self.x[p, :s - 1] = linv.T @ z
            self.support[p] = -1
            self.support[p, :s - 1] = kept
            self.size[p] = s - 1
            self.residual[p] = target - qt.T @ z


def _top_up(support: torch.Tensor, coef: torch.Tensor, n: int, quota: int, rng: torch.Generator):
    """The class's OMP picks (positions among its members) and weights, topped up to `quota` with random
    other members weighted like an average pick."""
    keep = support >= 0
    chosen, w = support[keep], coef[keep]
    missing = quota - len(chosen)
    if missing > 0:
        free = torch.ones(n, dtype=torch.bool)
        free[chosen.cpu()] = False
        candidates = free.nonzero().squeeze(1)
        extra = candidates[torch.randperm(len(candidates), generator=rng)[:missing]].to(chosen.device)
        fill = w.mean() if len(w) else torch.tensor(n / quota, dtype=torch.float64, device=w.device)
        chosen = torch.cat([chosen, extra])
        w = torch.cat([w, fill.expand(missing)])
    return chosen, w


def _chunks(layout: ClassLayout, m: int):
    """Class indices in groups whose features ([m, n_max] float32 each) fit in CHUNK_BYTES."""
    per_class = max(1, m * layout.members.shape[1] * 4)
    step = max(1, CHUNK_BYTES // per_class)
    all_classes = torch.arange(len(layout.counts), device=layout.members.device)
    return [all_classes[i:i + step] for i in range(0, len(all_classes), step)]
