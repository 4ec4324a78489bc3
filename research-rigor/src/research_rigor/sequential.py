"""Seeds until decided: a group-sequential t-test whose false-positive rate stays at alpha.

Adding seeds until the verdict looks decided, and testing each time at alpha, calls
noise a difference far more often than alpha: every look is another chance. A
group-sequential design plans the looks (the seeds per side at each round) and spends
alpha over them with a spending function (Lan and DeMets 1983): O'Brien-Fleming's
spends almost nothing early and keeps the last look close to a fixed test's level,
Pocock's spends evenly. The boundaries come from the joint normal law of the
z-statistics at the looks; t-tests at few seeds use them as nominal one-sided levels
(Jennison and Turnbull 2000, section 3.8). Stopping for any verdict, or at the budget,
only lowers each claim's error rate: a claim is made only at a look whose level it beats.

statsmodels and scipy have no group-sequential boundaries (R's gsDesign and rpact
do): they are computed here by numerical integration.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, stats

from research_rigor.equivalence import classify, interval
from research_rigor.verdicts import Verdict

OBRIEN_FLEMING = "obrien-fleming"
POCOCK = "pocock"
GRID_POINTS = 1001  # of the walk's density: boundaries within 1e-4 of gsDesign's
GRID_REACH = 8.0  # standard deviations of the walk at the last look: beyond, no mass
BRACKET = (0.0, 10.0)  # z-boundaries searched for; 10 is a one-sided level of 8e-24


def obrien_fleming(alpha: float, t: float) -> float:
    """Alpha spent by information fraction t, O'Brien-Fleming type (Lan and DeMets 1983)."""
    return 2 * (1 - stats.norm.cdf(stats.norm.ppf(1 - alpha / 2) / math.sqrt(t)))


def pocock(alpha: float, t: float) -> float:
    """Alpha spent by information fraction t, Pocock type (Lan and DeMets 1983)."""
    return alpha * math.log(1 + (math.e - 1) * t)


def crossing(
    c: float,
    info: float,
    step: float,
    grid: np.ndarray | None,
    mass: np.ndarray | None,
    share: float,
) -> float:
    """P(the walk first crosses z-boundary c at this look) - the alpha to spend there."""
    if grid is None:  # the first look
        return float(stats.norm.sf(c)) - share
    return float(stats.norm.sf((c * math.sqrt(info) - grid) / step) @ mass) - share


SPENDING: dict[str, Callable[[float, float], float]] = {
    OBRIEN_FLEMING: obrien_fleming,
    POCOCK: pocock,
}


def planned_looks(first: int, maximum: int) -> tuple[int, ...]:
    """Seeds per side at each look: rounds of `first` seeds, the last one at `maximum`."""
    if not 0 < first <= maximum:
        raise ValueError(f"a first round of {first} seeds does not fit a budget of {maximum}")
    return (*range(first, maximum, first), maximum)


@dataclass(frozen=True)
class SequentialDesign:
    """Planned looks and how alpha is spent over them."""

    looks: tuple[int, ...]  # seeds per side at each look, increasing
    alpha: float = 0.05
    two_sided: bool = True  # without a margin: alpha is split between gain and loss
    spending: str = OBRIEN_FLEMING

    def __post_init__(self) -> None:
        if list(self.looks) != sorted(set(self.looks)) or self.looks[0] < 2:
            raise ValueError(f"looks are increasing numbers of seeds from 2: {self.looks}")

    @property
    def one_sided_alpha(self) -> float:
        """The level of each one-sided claim (a gain, a loss, non-inferiority)."""
        return self.alpha / 2 if self.two_sided else self.alpha

    @cached_property
    def boundaries(self) -> tuple[float, ...]:
        """z-values a statistic must exceed at each look, spending alpha as planned.

        The sum of the seeds' differences is a random walk: its density, among the walks
        that have not crossed yet, is carried from look to look (Armitage, McPherson and
        Rowe 1969) on a grid that ends at the boundary, where the density is cut, so that
        the trapezoidal rule integrates only smooth functions. Each boundary solves
        "crossing here, and nowhere before, has probability the alpha spent at this look".
        """
        information = np.array(self.looks, float)
        spend = SPENDING[self.spending]
        spent = [spend(self.one_sided_alpha, t) for t in information / information[-1]]
        found: list[float] = []
        grid = mass = None  # where the walks still running are, and their probability
        previous = 0.0
        for k, info in enumerate(information):
            step = math.sqrt(info - previous)  # sd of the walk's move since the last look
            share = spent[k] - (spent[k - 1] if k else 0.0)
            boundary = float(
                optimize.brentq(
                    crossing, *BRACKET, args=(info, step, grid, mass, share), xtol=1e-10
                )
            )
            top = boundary * math.sqrt(info)
            following = np.linspace(-GRID_REACH * math.sqrt(info), top, GRID_POINTS)
            if grid is None:
                density = stats.norm.pdf(following / step) / step
            else:
                kernel = stats.norm.pdf((following[:, None] - grid[None, :]) / step) / step
                density = kernel @ mass
            weights = np.full(GRID_POINTS, following[1] - following[0])
            weights[[0, -1]] /= 2  # the trapezoidal rule
            grid, mass = following, weights * density
            found.append(boundary)
            previous = info
        return tuple(found)

    @cached_property
    def levels(self) -> tuple[float, ...]:
        """Nominal one-sided p-value thresholds at each look."""
        return tuple(float(stats.norm.sf(c)) for c in self.boundaries)

    def verdicts(
        self,
        look: int,
        baseline: ArrayLike,
        experiment: ArrayLike,
        margin: float | None = None,
        paired: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Verdicts (string values) at look `look`, from the first looks[look] seeds.

        Returns them with the interval of the difference at that look's level.
        Vectorized over leading axes: thousands of simulated comparisons at once.
        """
        seeds = self.looks[look]
        baseline = np.asarray(baseline, float)[..., :seeds]
        experiment = np.asarray(experiment, float)[..., :seeds]
        _, low, high = interval(baseline, experiment, 1 - 2 * self.levels[look], paired)
        return classify(low, high, margin), low, high

    def run(
        self,
        baseline: ArrayLike,
        experiment: ArrayLike,
        margin: float | None = None,
        paired: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every comparison of full-length arrays played look by look: where it stops, and why.

        Returns the seeds per side each one used and its verdict (string values).
        """
        shape = np.broadcast_shapes(np.shape(baseline)[:-1], np.shape(experiment)[:-1])
        used = np.zeros(shape, int)
        final = np.full(shape, Verdict.INCONCLUSIVE.value, dtype=object)
        for look, seeds in enumerate(self.looks):
            found, _, _ = self.verdicts(look, baseline, experiment, margin, paired)
            running = used == 0
            last = look == len(self.looks) - 1
            stops = running & ((found != Verdict.INCONCLUSIVE.value) | last)
            used[stops] = seeds
            final[stops] = found[stops]
        return used, final
