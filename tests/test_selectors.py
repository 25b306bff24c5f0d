"""Coreset selectors: the contract every one of them keeps, and what each one is for (issue 4, points 1-6)."""

import itertools
import math
import statistics

import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT, parse

from benchmarks.selector_speed import synthetic_probe
from harness.core import registry
from harness.core.errors import ConfigError
from harness.core.rng import generator
from harness.training.selection import ClassLayout, Coreset, Probe, SelectionContext, check_coreset, class_budgets
from methods.coresets._features import error_vectors, gradient_distances, with_bias
from methods.coresets.ccs import stratified
from methods.coresets.craig import cluster_sizes, facility_location
from methods.coresets.forgetting import Forgetting
from methods.coresets.glister import greedy
from methods.coresets.gradmatch import pursue


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Selection loops are many small tensor operations; on a shared 2-core machine two OpenMP threads that
    wait for each other make them 10 to 50 times slower, and no result here depends on the thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SELECTORS = ["random", "gradmatch", "craig", "glister", "moderate", "el2n", "ccs", "forgetting"]
PER_CLASS = ["gradmatch", "craig", "moderate"]
N, D, K = 600, 16, 6


def ctx(epoch=5, total=20, num_classes=K, lr=0.05, round=0):
    return SelectionContext(epoch=epoch, total_epochs=total, round=round, num_classes=num_classes, lr=lr,
                            previous=None)


@pytest.fixture(scope="module")
def probe():
    return synthetic_probe(N, D, K, seed=3, val=120)


def test_every_selector_is_registered():
    shipped = {n for n in registry.names("selector") if registry.entry("selector", n).target.__module__.startswith(
        "methods.")}  # a study's plug-ins (studies/plugins) register too once a study is loaded
    assert set(SELECTORS) | {"full"} == shipped


@pytest.mark.parametrize("name", SELECTORS)
@pytest.mark.parametrize("budget", [1, 5, 60, 333])
def test_exact_budget_unique_in_range_positive_weights_and_deterministic(name, budget, probe):
    first = registry.build("selector", name).select(probe, budget, generator(7), ctx())
    check_coreset(first, budget, N, name)  # exactly `budget`, unique, in range, finite weights > 0
    assert first.weights.dtype in (torch.float32, torch.float64)
    again = registry.build("selector", name).select(probe, budget, generator(7), ctx())
    assert torch.equal(first.indices, again.indices) and torch.equal(first.weights, again.weights)


def test_random_differs_with_the_seed(probe):
    a = registry.build("selector", "random").select(probe, 60, generator(1), ctx())
    b = registry.build("selector", "random").select(probe, 60, generator(2), ctx())
    assert not torch.equal(a.indices.sort().values, b.indices.sort().values)


@pytest.mark.parametrize("name", PER_CLASS)
def test_per_class_selectors_keep_every_class_and_the_class_budgets(name):
    # unbalanced classes: 300, 150, 100, 40, 8, 2 samples; a budget of 6 still reaches every class
    labels = torch.repeat_interleave(torch.arange(K), torch.tensor([300, 150, 100, 40, 8, 2]))
    base = synthetic_probe(len(labels), D, K, seed=4)
    probe = Probe(labels=labels, indices=torch.arange(len(labels)), logits=base.logits, embeddings=base.embeddings)
    for budget in (6, 30, 120):
        coreset = registry.build("selector", name).select(probe, budget, generator(0), ctx())
        check_coreset(coreset, budget, len(labels), name)
        per_class = torch.bincount(labels[coreset.indices], minlength=K).tolist()
        assert per_class == class_budgets(labels, budget, K) and min(per_class) >= 1


PAPER_DEFAULTS = {"cifar10": "gradmatch", "cifar100": "gradmatch", "tinyimagenet": "moderate", "imagenet": "el2n"}


@pytest.mark.parametrize("dataset", sorted(PAPER_DEFAULTS))
def test_each_dataset_sets_the_papers_selector_once_and_its_experiments_use_it(dataset):
    import gin

    gin.clear_config()
    gin.parse_config_file(str(ROOT / f"gin/datasets/{dataset}.gin"))
    assert gin.query_parameter("%selector") == PAPER_DEFAULTS[dataset]
    gin.clear_config()
    experiments = sorted((ROOT / "gin" / dataset).glob("*.gin"))
    assert len(experiments) == 5
    for path in experiments:
        assert not any(line.startswith("selector") for line in path.read_text().splitlines()), path.name
        method = parse(str(path.relative_to(ROOT))).method
        assert method.selector == (PAPER_DEFAULTS[dataset] if method.coreset_fraction < 1 else "full"), path.name


def test_class_budgets_sum_exactly_and_stay_at_the_ceiling_or_one_below():
    g = generator(0)
    for _ in range(200):
        k = int(torch.randint(2, 30, (1,), generator=g))
        counts = torch.randint(0, 50, (k,), generator=g)
        counts[0] += 1
        labels = torch.repeat_interleave(torch.arange(k), counts)
        n, nonempty = len(labels), int((counts > 0).sum())
        for budget in {1, nonempty, n // 3 + 1, n}:
            quota = class_budgets(labels, budget, k)
            assert sum(quota) == budget
            for q, c in zip(quota, counts.tolist(), strict=True):
                ceil = -(-budget * c // n)
                assert q <= min(ceil, c)
                if budget >= nonempty and c > 0:
                    assert q >= 1
                    assert q >= ceil - 1 or q == 1  # trimmed by at most one, except down to one sample


VALID = ([3, 0, 7, 9, 4], [1.0, 0.5, 2.0, 1.0, 3.0])  # a budget of 5 out of 10 samples


@pytest.mark.parametrize("indices, weights, message", [
    ([3, 0, 7, 9], [1.0, 0.5, 2.0, 1.0], "returned 4 indices for a budget of 5"),
    ([3, 0, 7, 3, 4], VALID[1], "indices are not unique"),
    ([3, 0, 7, 10, 4], VALID[1], r"indices outside \[0, 10\)"),
    ([3, 0, -1, 9, 4], VALID[1], r"indices outside \[0, 10\)"),
    (VALID[0], [1.0, 0.5, 0.0, 1.0, 3.0], "weights must be finite and > 0"),
    (VALID[0], [1.0, 0.5, math.nan, 1.0, 3.0], "weights must be finite and > 0"),
], ids=["short", "duplicate", "past-the-end", "negative", "zero-weight", "nan-weight"])
def test_check_coreset_rejects_bad_coresets(indices, weights, message):
    bad = Coreset(torch.tensor(indices), torch.tensor(weights))
    with pytest.raises(RuntimeError, match=f"^selector 'mine': {message}$"):
        check_coreset(bad, 5, 10, "mine")
    good = Coreset(torch.tensor(VALID[0]), torch.tensor(VALID[1]))
    assert check_coreset(good, 5, 10, "mine") is good


def test_class_layout_groups_positions_by_class():
    labels = torch.tensor([2, 0, 2, 1, 0, 2])
    layout = ClassLayout.of(labels, 4)
    assert layout.counts.tolist() == [2, 1, 3, 0]
    assert [layout.members[c, layout.valid[c]].tolist() for c in range(4)] == [[1, 4], [3], [0, 2, 5], []]


# -- GradMatch ------------------------------------------------------------------------------------------


def reference_omp(a: torch.Tensor, k: int, lam: float):
    """Non-negative regularised OMP written the slow, obvious way (float64, re-solving at every pick):
    what the compiled, incrementally factorised pursuit must reproduce. `a` is [m, n], column j = atom j."""
    a = a.double()
    b = a.sum(1)
    support, blocked, drops = [], set(), 0
    x = torch.zeros(0, dtype=torch.float64)
    while len(support) < k:
        r = b - a[:, support] @ x
        corr = a.T @ r
        corr[list(blocked)] = -math.inf
        j = int(corr.argmax())
        if not corr[j] > 0:
            break
        support.append(j)
        blocked.add(j)
        while True:
            s = a[:, support]
            x = torch.linalg.solve(s.T @ s + lam * torch.eye(len(support), dtype=torch.float64), s.T @ b)
            if bool((x > 0).all()):
                break
            support.pop(int(x.argmin()))
            drops += 1
    return support, x, drops


def test_pursuit_matches_a_plain_re_solving_omp_on_small_problems_of_any_quota():
    g = generator(5)
    m, sizes, quotas = 10, [40, 25, 33, 40, 38, 29, 40, 31], [15, 9, 5, 15, 12, 15, 1, 14]
    drops = 0
    for n, quota in zip(sizes, quotas, strict=True):
        a = torch.randn(m, n, generator=g)  # mixed signs: coefficients do turn negative
        result = pursue(a.T.contiguous(), quota, 0.5)
        want_support, want_x, dropped = reference_omp(a, quota, 0.5)
        assert result.support.tolist() == want_support
        assert torch.allclose(result.x, want_x, rtol=1e-5, atol=1e-8)
        assert bool((result.x > 0).all())
        drops += dropped
    assert drops >= 2  # the instances do exercise the drop path


def test_gradmatch_returns_the_plain_re_solving_omp_support_of_every_class(probe):
    """The selector end to end against `reference_omp` on explicitly built per-class atoms e_ic · [1, h_i]:
    the same samples, in the same order, with the same weights."""
    budget = 60
    coreset = registry.build("selector", "gradmatch").select(probe, budget, generator(0), ctx())
    quota = class_budgets(probe.labels, budget, K)
    e, hb = error_vectors(probe.logits, probe.labels), with_bias(probe.embeddings)
    for c in range(K):
        members = (probe.labels == c).nonzero().squeeze(1)
        want, want_x, _ = reference_omp((e[members, c:c + 1] * hb[members]).T, quota[c], 0.5)
        mine = probe.labels[coreset.indices] == c
        assert coreset.indices[mine].tolist() == members[want].tolist()
        assert torch.allclose(coreset.weights[mine].double(), want_x, rtol=1e-4)


def test_pursuit_equals_the_plain_omp_through_drops_slot_compaction_and_ties(monkeypatch):
    """`pursue` (compiled; slots, inverse Gram updated by rank one, dead slots compacted when they run out) against
    `reference_omp` on random problems that drop atoms, with no spare slots, so that every drop leads to a
    compaction. The last two atoms are exact copies of others: a float32 product may rank a copy above its
    original, so supports are compared up to ties (each atom stands for the first atom equal to it)."""
    from methods.coresets import gradmatch

    monkeypatch.setattr(gradmatch, "MIN_SPARE", 0)
    g = generator(21)
    drops = 0
    for trial in range(12):
        m, n, quota = 12 + 4 * (trial % 3), 100 + 10 * trial, 8 * (trial % 4) + 48
        a = torch.randn(m, n, generator=g)
        a[:, n - 1], a[:, n - 2] = a[:, 3], a[:, 10]
        result = pursue(a.T.contiguous(), quota, 0.5)
        want, want_x, dropped = reference_omp(a, quota, 0.5)
        first = {n - 1: 3, n - 2: 10}
        assert [first.get(j, j) for j in result.support.tolist()] == [first.get(j, j) for j in want]
        assert torch.allclose(result.x, want_x, rtol=1e-5, atol=1e-8)
        assert bool((result.x > 0).all())
        assert result.drops == dropped
        drops += dropped
    assert drops >= 10, drops


def test_gradmatch_gives_the_same_coreset_with_one_or_two_threads(probe):
    """Classes run concurrently when torch has more than one thread, each single-threaded: the coreset
    must not depend on it."""
    before = torch.get_num_threads()
    coresets = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        coresets.append(registry.build("selector", "gradmatch").select(probe, 120, generator(0), ctx()))
        assert torch.get_num_threads() == threads  # restored after the selection
    torch.set_num_threads(before)
    assert torch.equal(coresets[0].indices, coresets[1].indices)
    assert torch.equal(coresets[0].weights, coresets[1].weights)


def gradient_error(e, hb, idx, w) -> float:
    """‖sum_S w_i g_i − sum_all g_i‖ / ‖sum_all g_i‖ for the full last-layer gradients g_i = e_i ⊗ [1, h_i]."""
    full = e.T @ hb
    return float(((e[idx] * w[:, None]).T @ hb[idx] - full).norm() / full.norm())


def test_gradmatch_coreset_matches_the_full_gradient_much_better_than_random_subsets():
    """The weighted coreset's summed last-layer gradient vs the full one, relative error, against random
    subsets of the same size scaled by N/k (the unbiased estimate), averaged over 5 probes x 20 draws:
    GradMatch's error must be below 60% of random's, and below random's on every probe."""
    n, k = 2000, 100
    ours, theirs = [], []
    for seed in range(5):
        probe = synthetic_probe(n, 32, 5, seed=seed)
        coreset = registry.build("selector", "gradmatch").select(probe, k, generator(0), ctx(num_classes=5))
        e, hb = error_vectors(probe.logits, probe.labels).double(), with_bias(probe.embeddings).double()
        ours.append(gradient_error(e, hb, coreset.indices, coreset.weights.double()))
        g = generator(100 + seed)
        draws = [gradient_error(e, hb, torch.randperm(n, generator=g)[:k], torch.full((k,), n / k).double())
                 for _ in range(20)]
        theirs.append(statistics.mean(draws))
        assert ours[-1] < theirs[-1]
    assert statistics.mean(ours) < 0.6 * statistics.mean(theirs)


def test_gradmatch_tops_up_a_class_whose_pursuit_stops_early():
    """Samples classified with certainty have a zero gradient, so no such atom ever correlates positively:
    the pursuit stops after the informative ones and random members fill the class's budget, weighted
    like an average pick."""
    g = generator(2)
    labels = torch.arange(40) % 2
    logits = F.one_hot(labels, 2).float() * 100.0  # softmax exactly one-hot in float32: e = 0
    logits[:6] = torch.randn(6, 2, generator=g)  # six samples (three per class) with a real error
    probe = Probe(labels=labels, indices=torch.arange(40), logits=logits,
                  embeddings=torch.rand(40, 5, generator=g))
    coreset = registry.build("selector", "gradmatch").select(probe, 20, generator(0), ctx(num_classes=2))
    check_coreset(coreset, 20, 40, "gradmatch")
    informative = coreset.indices < 6
    assert int(informative.sum()) >= 2 and int((~informative).sum()) >= 14
    for c in range(2):
        mine = labels[coreset.indices] == c
        fill = coreset.weights[mine & ~informative]
        assert torch.allclose(fill, coreset.weights[mine & informative].mean().expand(len(fill)))


def test_gradmatch_rejects_a_non_positive_lambda():
    with pytest.raises(ConfigError, match=r"selectors.gradmatch.lam must be > 0"):
        registry.build("selector", "gradmatch", lam=0.0)


# -- CRAIG ----------------------------------------------------------------------------------------------


def coverage(sim: torch.Tensor, subset) -> float:
    return float(sim[:, list(subset)].max(1).values.sum())


def test_craig_greedy_reaches_1_minus_1_over_e_of_the_brute_force_optimum_and_equals_plain_greedy():
    g = generator(11)
    worst = 1.0
    for trial in range(40):
        n, k = 9, 1 + trial % 4
        points = torch.randn(n, 3, generator=g) * (1 + trial % 3)
        dist = torch.cdist(points, points)
        sim = dist.max() - dist
        picks = facility_location(sim, k).tolist()
        best = max(coverage(sim, s) for s in itertools.combinations(range(n), k))
        assert coverage(sim, picks) >= (1 - 1 / math.e) * best - 1e-5
        worst = min(worst, coverage(sim, picks) / best)
        plain = []  # the non-lazy greedy, every gain recomputed
        for _ in range(k):
            gains = [coverage(sim, plain + [j]) if j not in plain else -1 for j in range(n)]
            plain.append(max(range(n), key=lambda j: (gains[j], -j)))
        assert coverage(sim, picks) == pytest.approx(coverage(sim, plain), rel=1e-6)
    assert worst < 1.0  # some instances are not solved optimally, so the bound is what is tested


def plain_greedy(sim: torch.Tensor, k: int) -> list[int]:
    """Facility-location greedy the obvious way: every candidate's gain recomputed at every step."""
    best, picks = torch.zeros(len(sim), dtype=sim.dtype), []
    for _ in range(k):
        gains = (sim - best[:, None]).clamp(min=0).sum(0)  # column j: the gain of adding j
        gains[picks] = -1.0
        j = int(gains.argmax())
        picks.append(j)
        best = torch.maximum(best, sim[:, j])
    return picks


def test_craig_selector_reaches_the_plain_greedy_facility_location_value_of_every_class(probe):
    """The selector end to end against `plain_greedy` on distances of the explicitly built last-layer
    gradients (float64 cdist, nothing shared with `gradient_distances`): per class, the same facility-location
    value (up to ties and float32 rounding)."""
    budget = 90
    coreset = registry.build("selector", "craig").select(probe, budget, generator(0), ctx())
    e = error_vectors(probe.logits, probe.labels)
    explicit = torch.cat([e, (e[:, :, None] * probe.embeddings[:, None, :]).flatten(1)], 1).double()
    for c, k in enumerate(class_budgets(probe.labels, budget, K)):
        members = (probe.labels == c).nonzero().squeeze(1)
        dist = torch.cdist(explicit[members], explicit[members])
        sim = dist.max() - dist
        mine = torch.isin(members, coreset.indices).nonzero().squeeze(1)
        assert len(mine) == k
        assert coverage(sim, mine.tolist()) == pytest.approx(coverage(sim, plain_greedy(sim, k)), rel=1e-5)


def test_craig_weights_are_cluster_sizes_summing_to_the_points_covered(probe):
    coreset = registry.build("selector", "craig").select(probe, 60, generator(0), ctx())
    assert torch.equal(coreset.weights, coreset.weights.round())
    for c in range(K):
        mine = probe.labels[coreset.indices] == c
        assert float(coreset.weights[mine].sum()) == int((probe.labels == c).sum())
    sim = torch.tensor([[3.0, 0.0, 1.0], [0.0, 3.0, 2.0], [1.0, 2.0, 3.0]])
    assert cluster_sizes(sim, torch.tensor([0, 1])).tolist() == [1, 2]


def test_gradient_distances_equal_distances_of_the_explicit_last_layer_gradients(probe):
    e = error_vectors(probe.logits[:50], probe.labels[:50])
    h = probe.embeddings[:50]
    explicit = torch.cat([e, (e[:, :, None] * h[:, None, :]).flatten(1)], 1).double()
    assert torch.allclose(gradient_distances(e, h).double(), torch.cdist(explicit, explicit), rtol=1e-3, atol=1e-3)


# -- Moderate -------------------------------------------------------------------------------------------


def test_moderate_equals_a_brute_force_median_window(probe):
    budget = 100
    coreset = registry.build("selector", "moderate").select(probe, budget, generator(0), ctx())
    rows = probe.embeddings.tolist()
    labels = probe.labels.tolist()
    expected = set()
    for c, k in enumerate(class_budgets(probe.labels, budget, K)):
        members = [i for i in range(N) if labels[i] == c]
        centre = [statistics.median(rows[i][j] for i in members) for j in range(D)]
        dist = {i: math.dist(rows[i], centre) for i in members}
        ranked = sorted(members, key=lambda i: (dist[i], i))
        below = (len(members) - k) // 2  # as many samples closer to the centre as farther, give or take one
        expected |= set(ranked[below:below + k])
    assert set(coreset.indices.tolist()) == expected


# -- EL2N -----------------------------------------------------------------------------------------------


def test_el2n_keeps_high_scores_before_the_midpoint_and_low_scores_after(probe):
    scores = error_vectors(probe.logits, probe.labels).norm(dim=1)
    selector = registry.build("selector", "el2n")
    for epoch, total, end in ((1, 20, "high"), (10, 20, "high"), (11, 20, "low"), (20, 20, "low")):
        coreset = selector.select(probe, 50, generator(0), ctx(epoch=epoch, total=total))
        inside = torch.zeros(N, dtype=torch.bool)
        inside[coreset.indices] = True
        if end == "high":
            assert scores[inside].min() >= scores[~inside].max()
        else:
            assert scores[inside].max() <= scores[~inside].min()
    balanced = registry.build("selector", "el2n", per_class=True)
    coreset = balanced.select(probe, 50, generator(0), ctx(epoch=15))
    assert torch.bincount(probe.labels[coreset.indices], minlength=K).tolist() == class_budgets(probe.labels, 50, K)
    for c in range(K):
        mine = probe.labels == c
        inside = torch.zeros(N, dtype=torch.bool)
        inside[coreset.indices] = True
        assert scores[inside & mine].max() <= scores[~inside & mine].min()  # the lowest of each class
    flipped = registry.build("selector", "el2n", switch_at=0.0, late="high")
    assert flipped.end(ctx(epoch=1)) == "high"
    with pytest.raises(ConfigError, match=r"selectors.el2n.late must be one of high, low, got 'middle'"):
        registry.build("selector", "el2n", late="middle")


# -- GLISTER --------------------------------------------------------------------------------------------


def val_log_likelihood_after_step(probe: Probe, subset: torch.Tensor, eta: float, weight, bias) -> float:
    """Mean validation log-likelihood after one SGD step on the summed loss of `subset`, computed with
    autograd on an explicit linear classifier (nothing shared with the selector's closed form)."""
    w = weight.clone().requires_grad_(True)
    b = bias.clone().requires_grad_(True)
    h = probe.embeddings[subset]
    F.cross_entropy(h @ w.T + b, probe.labels[subset], reduction="sum").backward()
    with torch.no_grad():
        w2, b2 = w - eta * w.grad, b - eta * b.grad
        return float(-F.cross_entropy(probe.val.embeddings @ w2.T + b2, probe.val.labels))


def test_glister_lookahead_raises_validation_likelihood_more_than_random_subsets():
    """A linear classifier on embeddings; 30% of the training labels are flipped, so only some subsets
    help the validation set. The probe's logits are this classifier's, so GLISTER's closed-form lookahead
    describes exactly the step that autograd takes here."""
    g = generator(9)
    n, d, k, budget, eta = 400, 8, 4, 40, 0.01
    means = torch.randn(k, d, generator=g) * 2

    def split(size, noise):
        y = torch.arange(size) % k
        h = means[y] + torch.randn(size, d, generator=g)
        flip = torch.rand(size, generator=g) < noise
        return h, torch.where(flip, (y + 1) % k, y), flip

    weight, bias = torch.randn(k, d, generator=g) * 0.1, torch.zeros(k)
    h, y, flipped = split(n, 0.3)
    hv, yv, _ = split(200, 0.0)
    probe = Probe(labels=y, indices=torch.arange(n), logits=h @ weight.T + bias, embeddings=h)
    probe.val = Probe(labels=yv, indices=torch.arange(200), logits=hv @ weight.T + bias, embeddings=hv)
    chosen = registry.build("selector", "glister").select(probe, budget, generator(0), ctx(num_classes=k, lr=eta))
    ours = val_log_likelihood_after_step(probe, chosen.indices, eta, weight, bias)
    before = val_log_likelihood_after_step(probe, torch.zeros(0, dtype=torch.long), eta, weight, bias)
    randoms = [val_log_likelihood_after_step(probe, torch.randperm(n, generator=g)[:budget], eta, weight, bias)
               for _ in range(30)]
    assert ours - before > 1.5 * (statistics.mean(randoms) - before) > 0
    assert ours > max(randoms)
    assert float(flipped[chosen.indices].float().mean()) < 0.1  # it avoids the flipped labels (30% of all)


def plain_glister(probe: Probe, budget: int, eta: float, epsilon: float, rng: torch.Generator) -> list[int]:
    """GLISTER's stochastic greedy the obvious way (float64): explicit last-layer gradients, and at every
    step the validation logits recomputed from scratch after one SGD step on the chosen set, then each
    candidate's gain g_i · sum_v g_v. The same candidate draws as the selector's."""
    n = len(probe)
    e = error_vectors(probe.logits, probe.labels).double()
    grads = (e[:, :, None] * with_bias(probe.embeddings).double()[:, None, :]).flatten(1)  # [N, K (d+1)]
    hv, yv = with_bias(probe.val.embeddings).double(), probe.val.labels
    draws = min(n, math.ceil(n / budget * math.log(1.0 / epsilon)))
    pool, chosen = list(range(n)), []
    for left in range(n, n - budget, -1):
        at = torch.unique(torch.randint(left, (draws,), generator=rng)).tolist() if draws < left else range(left)
        step = grads[chosen].sum(0).reshape(e.shape[1], -1)  # the summed gradient of the chosen set [K, d+1]
        logits = probe.val.logits.double() - eta * hv @ step.T
        ev = logits.softmax(1) - F.one_hot(yv, e.shape[1]).double()
        g_val = (ev[:, :, None] * hv[:, None, :]).flatten(1).sum(0)
        gains = [float(grads[pool[a]] @ g_val) for a in at]
        where = list(at)[max(range(len(gains)), key=lambda i: (gains[i], -i))]
        chosen.append(pool[where])
        pool[where], pool[left - 1] = pool[left - 1], pool[where]
    return chosen


@pytest.mark.parametrize("similarities", ["table", "passes"])
def test_glister_greedy_equals_a_plain_from_scratch_glister_step_by_step(similarities, monkeypatch):
    """Both ways of scoring: from the training x validation similarity table, and (where it would not fit)
    with passes over the validation embeddings at every step, with few classes and with many."""
    from methods.coresets import glister

    if similarities == "passes":
        monkeypatch.setattr(glister, "CROSS_BYTES", 0)
    few = synthetic_probe(300, 12, 4, seed=8, val=80)
    many = synthetic_probe(300, 6, 60, seed=8, val=80)  # 60 classes, 14 candidates a step
    for probe, budget, eta in ((few, 30, 0.05), (few, 12, 0.5), (many, 100, 0.05)):
        got = greedy(probe, budget, eta, 0.01, generator(3)).tolist()
        assert got == plain_glister(probe, budget, eta, 0.01, generator(3))


def test_glister_greedy_takes_each_sample_once_and_needs_the_validation_probe(probe):
    chosen = greedy(probe, N, 0.05, 0.01, generator(0))  # the whole pool: every sample exactly once
    assert sorted(chosen.tolist()) == list(range(N))
    bare = Probe(labels=probe.labels, indices=probe.indices, logits=probe.logits, embeddings=probe.embeddings)
    with pytest.raises(ValueError, match="validation probe"):
        registry.build("selector", "glister").select(bare, 10, generator(0), ctx())


# -- CCS and forgetting ---------------------------------------------------------------------------------


def test_ccs_spreads_the_budget_over_score_strata_smallest_first():
    scores = torch.cat([torch.full((3,), 0.05), torch.full((10,), 0.5), torch.full((100,), 0.95)])
    picked = stratified(scores, 30, 10, generator(0))
    counts = {v: int((scores[picked] == v).sum()) for v in (0.05, 0.5, 0.95)}
    assert counts == {0.05: 3, 0.5: 10, 0.95: 17}  # small strata whole, the rest from the big one
    assert len(set(picked.tolist())) == 30


def test_ccs_drops_the_hardest_fraction_first(probe):
    scores = error_vectors(probe.logits, probe.labels).norm(dim=1)
    coreset = registry.build("selector", "ccs", hard_cutoff=0.2).select(probe, 100, generator(0), ctx())
    hardest = torch.argsort(scores, descending=True, stable=True)[:int(0.2 * N)]
    assert not set(hardest.tolist()) & set(coreset.indices.tolist())
    everything = registry.build("selector", "ccs", hard_cutoff=0.9).select(probe, 300, generator(0), ctx())
    check_coreset(everything, 300, N, "ccs")  # never cut below the budget


def test_forgetting_counts_learned_then_forgotten_and_ranks_never_learned_first():
    f = Forgetting()
    history = [[1, 1, 0, 0, 1], [0, 1, 0, 1, 1], [1, 1, 0, 0, 1], [0, 1, 0, 1, 1]]
    for row in history:
        f.observe(torch.tensor(row, dtype=torch.bool))
    assert f.events.tolist() == [2, 0, 0, 1, 0]
    assert f.learned.tolist() == [True, True, False, True, True]
    logits = torch.eye(2)[torch.tensor([0, 0, 1, 0, 0])] * 5  # sample 2 wrong again, the rest right
    probe = Probe(labels=torch.tensor([0, 0, 0, 0, 0]), indices=torch.arange(5), logits=logits)
    chosen = f.select(probe, 3, generator(0), ctx(num_classes=2)).indices.tolist()
    assert chosen == [2, 0, 3]  # never learned, then 2 events, then 1


def test_forgetting_state_round_trips_and_other_selectors_keep_none():
    f = Forgetting()
    f.observe(torch.tensor([True, False]))
    f.observe(torch.tensor([False, False]))
    g = Forgetting()
    g.load_state_dict(f.state_dict())
    assert g.events.tolist() == [1, 0] and g.correct.tolist() == [False, False]
    assert registry.build("selector", "moderate").state_dict() == {}
    with pytest.raises(ValueError, match="keeps no state"):
        registry.build("selector", "moderate").load_state_dict({"events": 1})


# -- the benchmark's scaling cells ----------------------------------------------------------------------


def test_scaling_cells_stop_a_run_past_its_time_or_memory_limit():
    import sys

    from benchmarks.selector_speed import watched

    assert watched([sys.executable, "-c", "import time; time.sleep(60)"], 1.2, 20.0) == {"stopped": "over 0.02 min"}
    grab = "import time; x = bytearray(400 * 2**20); x[::4096] = b'1' * len(x[::4096]); time.sleep(60)"
    assert watched([sys.executable, "-c", grab], 60.0, 0.25) == {"stopped": "over 0.25 GiB"}
    assert watched([sys.executable, "-c", "print('{\"seconds\": 1.5}')"], 60.0, 20.0) == {"seconds": 1.5}
    # the limit starts once the probe is ready: 1 s of generation, then 1 s of selection, within 1.5 s each
    slow_probe = ("import time; time.sleep(1.0); print('probe ready', flush=True); time.sleep(1.0); "
                  "print('{\"seconds\": 1.0}')")
    assert watched([sys.executable, "-c", slow_probe], 1.5, 20.0) == {"seconds": 1.0}
