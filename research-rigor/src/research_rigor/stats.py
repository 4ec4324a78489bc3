"""The statistics of a handful of seeds: spread, t-tests, power, Holm, ASO, P(better).

Reliable results: one run per side says nothing about the
variance of the outcome, so every side is several seeds, and a change is called
a progression or a regression only when a test says the difference is unlikely
to be seed noise: Welch's t-test by default, the paired t-test when the sides
share their seeds, or Almost Stochastic Order (Dror et al. 2019, `deepsig`).
An inconclusive verdict comes with the minimum detectable effect (statsmodels'
power analysis): the smallest difference these seeds would see 80% of the time.
With a margin, the verdict is instead one of better, equivalent, non-inferior, worse
or inconclusive (equivalence.py), which answers "no regression?" where a t-test cannot.
scipy, statsmodels and deepsig do the statistics.
"""

import math
import warnings
from dataclasses import dataclass, replace
from enum import Enum
from functools import cached_property

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower, TTestPower

from research_rigor.equivalence import MarginTest
from research_rigor.errors import UserError
from research_rigor.verdicts import GREATER_IS_BETTER, Verdict

CONFIDENCE = 0.95  # of the intervals shown next to every mean
DEFAULT_ALPHA = 0.05  # significance level of the verdict
POWER = 0.8  # the conventional 80%: an effect of the MDE is missed one time in five
MIN_SEEDS = 2  # a spread needs two numbers; five make a useful t-test
ASO_THRESHOLD = 0.2  # deepsig's advice: ε_min < 0.5 alone gives too many false positives
ASO_BOOTSTRAP = 1000  # deepsig's default bootstrap iterations
ASO_SEED = 0  # deepsig bootstraps: a fixed seed gives the same ε_min for the same numbers
BOOTSTRAP_RESAMPLES = 10_000  # of P(better)'s interval
BOOTSTRAP_SEED = 0
MULTIPLE_COMPARISONS = "holm"  # statsmodels' name of the correction shadow applies


class Method(Enum):
    """The test behind a verdict."""

    WELCH = "welch"  # independent sides, unequal variances: the default
    PAIRED = "paired"  # the same seeds on both sides: the test of the per-seed differences
    ASO = "aso"  # Almost Stochastic Order: no assumption about the distributions


@dataclass(frozen=True)
class Analysis:
    """How sides are compared: the command line's --alpha, --test/--paired, --effect, --margin."""

    alpha: float = DEFAULT_ALPHA
    method: Method = Method.WELCH
    effect: float | None = None  # a difference of interest: how many seeds would detect it
    margin: float | None = None  # the largest loss tolerated: verdicts against it (equivalence)


@dataclass(frozen=True)
class Summary:
    """Several seeds' values of the metric, with the seeds that produced them when known."""

    values: tuple[float, ...]
    confidence: float = CONFIDENCE
    seeds: tuple[int, ...] | None = None

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        """Sample standard deviation (n - 1); NaN for a single value, exactly 0 for equal ones."""
        return spread(self.values)

    @property
    def interval(self) -> tuple[float, float]:
        """Student-t confidence interval of the mean."""
        if self.n < MIN_SEEDS:
            return math.nan, math.nan
        if self.std == 0:
            return self.mean, self.mean
        low, high = stats.t.interval(
            self.confidence, df=self.n - 1, loc=self.mean, scale=stats.sem(self.values)
        )
        return float(low), float(high)

    def detectable_effect(self, alpha: float = DEFAULT_ALPHA) -> float:
        """The MDE of a comparison of two sides like this one, n seeds each."""
        return detectable_effect(self.std, self.n, self.n, alpha)

    def as_dict(self, alpha: float = DEFAULT_ALPHA, effect: float | None = None) -> dict:
        low, high = self.interval
        record = {
            "values": list(self.values),
            "n": self.n,
            "mean": self.mean,
            "std": self.std,
            "ci_low": low,
            "ci_high": high,
            "confidence": self.confidence,
            "mde": self.detectable_effect(alpha),
            "power": POWER,
            "alpha": alpha,
        }
        if effect is not None:
            record["effect"] = effect
            record["seeds_for_effect"] = seeds_needed(effect, self.std, alpha)
        return record


def spread(values: tuple[float, ...]) -> float:
    """Sample standard deviation; NaN for one value, exactly 0 for equal ones."""
    if len(values) < MIN_SEEDS:
        return math.nan
    if len(set(values)) == 1:  # numpy leaves ~1e-16 of rounding noise here
        return 0.0
    return float(np.std(values, ddof=1))


def detectable_effect(
    std: float, n_baseline: int, n_experiment: int, alpha: float, paired: bool = False
) -> float:
    """Minimum detectable effect: the |difference| a two-sided t-test finds with POWER.

    `std` is the spread of one side (the root mean square of both sides' stds), or of the
    per-seed differences when `paired`. statsmodels' independent-samples power is that of
    Student's test, which is Welch's for sides of equal size and spread.
    """
    if math.isnan(std) or std == 0:
        return std
    if paired:
        d = TTestPower().solve_power(nobs=n_baseline, alpha=alpha, power=POWER)
    else:
        d = TTestIndPower().solve_power(
            nobs1=n_baseline, ratio=n_experiment / n_baseline, alpha=alpha, power=POWER
        )
    return float(d) * std


def seeds_needed(effect: float, std: float, alpha: float, paired: bool = False) -> int:
    """Seeds per side for a two-sided t-test to detect a difference of `effect` with POWER."""
    if effect == 0:
        raise UserError(
            "an effect of 0 cannot be detected by any number of seeds: give the smallest "
            "difference that matters, e.g. --effect 0.005."
        )
    if math.isnan(std):
        return MIN_SEEDS
    if std == 0:  # no seed noise: any difference shows
        return MIN_SEEDS
    d = abs(effect) / std
    analysis = TTestPower() if paired else TTestIndPower()
    at_least = {"nobs": MIN_SEEDS} if paired else {"nobs1": MIN_SEEDS}
    if analysis.power(effect_size=d, alpha=alpha, **at_least) >= POWER:
        return MIN_SEEDS  # the solver fails to bracket an effect this large
    unknown = {"nobs": None} if paired else {"nobs1": None}
    estimate = analysis.solve_power(effect_size=d, alpha=alpha, power=POWER, **unknown)
    # the solver's root is fractional and a hair off: step to the first whole n with the power
    seeds = max(MIN_SEEDS, math.floor(estimate))
    while analysis.power(effect_size=d, alpha=alpha, **{next(iter(unknown)): seeds}) < POWER:
        seeds += 1
    return seeds


def better(experiment: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """Elementwise: 1 where the experiment's value is better, 1/2 on a tie, else 0."""
    wins = np.greater if GREATER_IS_BETTER else np.less
    return wins(experiment, baseline) + 0.5 * np.equal(experiment, baseline)


def probability_of_improvement(experiment, baseline, axis: int = -1) -> np.ndarray:
    """P(a run of the experiment beats a run of the baseline), over every pair of runs.

    Agarwal et al. 2021's probability of improvement (rliable), the Mann-Whitney U over
    n * m; vectorized over leading axes so scipy's bootstrap can resample it in batches.
    """
    x = np.moveaxis(np.asarray(experiment), axis, -1)[..., :, np.newaxis]
    y = np.moveaxis(np.asarray(baseline), axis, -1)[..., np.newaxis, :]
    return better(x, y).mean(axis=(-2, -1))


@dataclass(frozen=True)
class TTest:
    statistic: float
    p_value: float
    low: float  # confidence interval of the difference of the means
    high: float


@dataclass(frozen=True)
class Comparison:
    """An experiment against a baseline: a test, effect size, power, verdict."""

    baseline: Summary
    experiment: Summary
    alpha: float = DEFAULT_ALPHA
    method: Method = Method.WELCH
    adjusted_p: float | None = None  # Holm's, when this is one of several comparisons
    family: int = 1  # how many comparisons share the alpha (ASO, margin: a Bonferroni correction)
    margin: float | None = None  # the largest loss tolerated: the verdict is the MarginTest's

    def __post_init__(self) -> None:
        if self.margin is not None and self.method is Method.ASO:
            raise UserError(
                "--margin tests the difference of the means against it with t-tests; ASO "
                "compares distributions: drop --margin or --test aso."
            )
        if self.margin is not None and not self.margin > 0:
            raise UserError(
                f"--margin {self.margin}: a margin is the largest loss tolerated, above 0, "
                "e.g. 0.01 for one point of accuracy."
            )
        for side, summary in (("baseline", self.baseline), ("experiment", self.experiment)):
            if summary.n < MIN_SEEDS:
                raise UserError(
                    f"the {side} has {summary.n} run(s): a comparison needs at least "
                    f"{MIN_SEEDS} seeds on each side for a spread; use --seeds 5."
                )
        if self.method is Method.PAIRED and (
            self.baseline.seeds is None
            or sorted(self.baseline.seeds) != sorted(self.experiment.seeds or ())
        ):
            raise UserError(
                f"--paired pairs runs by seed, but the sides' seeds differ (baseline: "
                f"{listed(self.baseline.seeds)}; experiment: {listed(self.experiment.seeds)}): "
                "train both on the same seeds, or drop --paired."
            )

    @property
    def difference(self) -> float:
        """Experiment mean minus baseline mean."""
        return self.experiment.mean - self.baseline.mean

    @cached_property
    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Baseline and experiment values in the order of their seeds (both sides')."""
        return tuple(
            np.array([value for _, value in sorted(zip(side.seeds, side.values, strict=True))])
            for side in (self.baseline, self.experiment)
        )

    @cached_property
    def test(self) -> TTest:
        """Welch's t-test (or the paired one) of experiment against baseline."""
        if self.method is Method.PAIRED:
            baseline, experiment = self.pairs
            noiseless = len(set(experiment - baseline)) == 1
        else:
            baseline, experiment = self.baseline.values, self.experiment.values
            noiseless = self.baseline.std == 0 and self.experiment.std == 0
        if noiseless:  # no noise: the means decide
            exact = self.difference
            return TTest(
                statistic=math.copysign(math.inf, exact) if exact else 0.0,
                p_value=0.0 if exact else 1.0,
                low=exact,
                high=exact,
            )
        with warnings.catch_warnings():  # a side of equal values: its std is exactly 0 here
            warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
            if self.method is Method.PAIRED:
                result = stats.ttest_rel(experiment, baseline)
            else:
                result = stats.ttest_ind(experiment, baseline, equal_var=False)
        interval = result.confidence_interval(self.baseline.confidence)
        return TTest(
            float(result.statistic), float(result.pvalue), float(interval.low), float(interval.high)
        )

    @property
    def p_value(self) -> float:
        """The p-value the verdict uses: Holm-adjusted when set, else the test's own."""
        return self.test.p_value if self.adjusted_p is None else self.adjusted_p

    @property
    def effect_size(self) -> float:
        """Cohen's d, over the root mean square of the two standard deviations."""
        spread = math.sqrt((self.baseline.std**2 + self.experiment.std**2) / 2)
        if spread == 0:
            return math.copysign(math.inf, self.difference) if self.difference else 0.0
        return self.difference / spread

    @property
    def power_spread(self) -> float:
        """The spread the power analysis uses: of the per-seed differences when paired."""
        if self.method is Method.PAIRED:
            baseline, experiment = self.pairs
            return spread(tuple(experiment - baseline))
        return math.sqrt((self.baseline.std**2 + self.experiment.std**2) / 2)

    @property
    def detectable_effect(self) -> float:
        """MDE: the smallest |difference| these seeds detect at alpha with POWER."""
        return detectable_effect(
            self.power_spread,
            self.baseline.n,
            self.experiment.n,
            self.alpha,
            paired=self.method is Method.PAIRED,
        )

    def seeds_for(self, effect: float) -> int:
        """Seeds per side that would detect a difference of `effect` at this spread."""
        return seeds_needed(
            effect, self.power_spread, self.alpha, paired=self.method is Method.PAIRED
        )

    @property
    def correlation(self) -> float:
        """Pearson's r of the paired sides; NaN unpaired or with a side of equal values."""
        if self.method is not Method.PAIRED or 0 in (self.baseline.std, self.experiment.std):
            return math.nan
        baseline, experiment = self.pairs
        return float(stats.pearsonr(baseline, experiment).statistic)

    @cached_property
    def improvement(self) -> tuple[float, float, float]:
        """P(experiment run beats baseline run) and its percentile-bootstrap interval."""
        experiment, baseline = np.array(self.experiment.values), np.array(self.baseline.values)
        estimate = float(probability_of_improvement(experiment, baseline))
        with warnings.catch_warnings():  # all resamples equal: the interval is that value
            warnings.filterwarnings("ignore", category=stats.DegenerateDataWarning)
            result = stats.bootstrap(
                (experiment, baseline),
                probability_of_improvement,
                n_resamples=BOOTSTRAP_RESAMPLES,
                confidence_level=self.baseline.confidence,
                method="percentile",  # BCa needs a spread of the statistic that 3 seeds lack
                rng=np.random.default_rng(BOOTSTRAP_SEED),
            )
        interval = result.confidence_interval
        return estimate, float(interval.low), float(interval.high)

    @cached_property
    def aso(self) -> tuple[float, float]:
        """ε_min of "experiment better than baseline" and of the reverse (deepsig)."""
        from deepsig import aso  # imported here: deepsig pulls in pandas and joblib

        experiment, baseline = list(self.experiment.values), list(self.baseline.values)
        if not GREATER_IS_BETTER:
            experiment, baseline = [-v for v in experiment], [-v for v in baseline]
        options = {
            # Bonferroni by hand: deepsig's num_comparisons raises the confidence c by
            # (1 - c) / m, which is 1 - alpha / m only for m = 2
            "confidence_level": 1 - self.alpha / self.family,
            "num_bootstrap_iterations": ASO_BOOTSTRAP,
            "show_progress": False,
            "seed": ASO_SEED,
        }
        with warnings.catch_warnings():
            # deepsig warns below 0.95 confidence and on sides without a spread
            warnings.filterwarnings("ignore", module="deepsig")
            return (
                float(aso(experiment, baseline, **options)),
                float(aso(baseline, experiment, **options)),
            )

    @cached_property
    def margin_test(self) -> MarginTest | None:
        """Non-inferiority and equivalence against the margin, at alpha over the family."""
        if self.margin is None:
            return None
        paired = self.method is Method.PAIRED
        baseline, experiment = (
            self.pairs if paired else (self.baseline.values, self.experiment.values)
        )
        return MarginTest(
            tuple(baseline), tuple(experiment), self.margin, self.alpha / self.family, paired
        )

    @property
    def verdict(self) -> Verdict:
        if self.margin_test is not None:
            return self.margin_test.verdict
        if self.method is Method.ASO:
            ahead, behind = self.aso
            if ahead < ASO_THRESHOLD:
                return Verdict.PROGRESSION if GREATER_IS_BETTER else Verdict.REGRESSION
            if behind < ASO_THRESHOLD:
                return Verdict.REGRESSION if GREATER_IS_BETTER else Verdict.PROGRESSION
            return Verdict.INCONCLUSIVE
        if not self.p_value < self.alpha:
            return Verdict.INCONCLUSIVE
        gain = self.difference > 0 if GREATER_IS_BETTER else self.difference < 0
        return Verdict.PROGRESSION if gain else Verdict.REGRESSION

    def as_dict(self, effect: float | None = None) -> dict:
        chance, chance_low, chance_high = self.improvement
        record = {
            "test": self.method.value,
            "difference": self.difference,
            "difference_ci_low": self.test.low,
            "difference_ci_high": self.test.high,
            "t_statistic": self.test.statistic,
            "p_value": self.test.p_value,
            "effect_size_cohens_d": self.effect_size,
            "mde": self.detectable_effect,
            "power": POWER,
            "probability_of_improvement": chance,
            "probability_of_improvement_ci_low": chance_low,
            "probability_of_improvement_ci_high": chance_high,
            "alpha": self.alpha,
            "verdict": self.verdict.value,
        }
        if self.adjusted_p is not None:
            record["p_value_adjusted"] = self.adjusted_p
            record["adjustment"] = MULTIPLE_COMPARISONS
        if self.method is Method.PAIRED:
            record["correlation"] = self.correlation
        if self.method is Method.ASO:
            record["aso_eps_min"], record["aso_eps_min_reverse"] = self.aso
            record["aso_threshold"] = ASO_THRESHOLD
            record["aso_comparisons"] = self.family
        if self.margin_test is not None:
            record |= self.margin_test.as_dict()
            record["margin_comparisons"] = self.family
        if effect is not None:
            record["effect"] = effect
            record["seeds_for_effect"] = self.seeds_for(effect)
        return record


def adjusted(comparisons: dict[str, Comparison]) -> dict[str, Comparison]:
    """Several comparisons at one alpha: Holm's p-values; Bonferroni inside ASO and margins.

    The verdicts against a margin read off intervals, which Holm's step-down does not
    give: each comparison's one-sided tests run at alpha / m instead.
    """
    if len(comparisons) < 2:
        return comparisons
    labels = list(comparisons)
    first = comparisons[labels[0]]
    if first.method is Method.ASO:
        return {label: replace(comparisons[label], family=len(labels)) for label in labels}
    family = 1 if first.margin is None else len(labels)
    raw = [comparisons[label].test.p_value for label in labels]
    _, holm, _, _ = multipletests(raw, alpha=first.alpha, method=MULTIPLE_COMPARISONS)
    return {
        label: replace(comparisons[label], adjusted_p=float(p), family=family)
        for label, p in zip(labels, holm, strict=True)
    }


def listed(seeds: tuple[int, ...] | None) -> str:
    return "unknown" if seeds is None else ", ".join(map(str, sorted(seeds)))
