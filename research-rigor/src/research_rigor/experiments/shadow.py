"""Changes A and B measured apart and together (regression shadowing).

Bundled, a big gain from B can hide a small loss from A. So the baseline, A, B
and A+B are each trained over the same seeds and each compared with the
baseline: four rows, and a note when the bundle hides a change that does not
progress on its own. A change is a git ref and/or Hydra overrides; without a
ref it applies to the baseline's code.
"""

from collections.abc import Mapping, Sequence
from typing import Protocol

from research_rigor.errors import UserError
from research_rigor.experiments.checkouts import Checkouts, resolve
from research_rigor.experiments.runs import Variant, parse_change
from research_rigor.verdicts import Verdict


class Decided(Protocol):
    """A comparison with the baseline, over seeds (stats.Comparison) or folds (FoldComparison)."""

    @property
    def verdict(self) -> Verdict: ...


def override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def variants(
    checkouts: Checkouts, baseline_ref: str, change_a: Sequence[str], change_b: Sequence[str]
) -> list[Variant]:
    """baseline, A, B, A+B; two branches are merged into a temporary commit for A+B."""
    ref_a, overrides_a = parse_change(change_a)
    ref_b, overrides_b = parse_change(change_b)
    shared = {override_key(o) for o in overrides_a} & {override_key(o) for o in overrides_b}
    if shared:
        raise UserError(
            f"A and B both set {', '.join(sorted(shared))}: they are not separate changes."
        )
    refs = [ref for ref in (ref_a, ref_b) if ref is not None]
    if len(refs) == 2 and resolve(checkouts.repo, refs[0]) != resolve(checkouts.repo, refs[1]):
        ref_ab = checkouts.merged(*refs)
    else:
        ref_ab = refs[0] if refs else baseline_ref
    return [
        Variant("baseline", baseline_ref),
        Variant("A", ref_a or baseline_ref, overrides_a),
        Variant("B", ref_b or baseline_ref, overrides_b),
        Variant("A+B", ref_ab, overrides_a + overrides_b),
    ]


def shadowing_notes(comparisons: Mapping[str, Decided]) -> list[str]:
    """What the bundle hides: a single change that does not progress while A+B does."""
    bundle = comparisons["A+B"].verdict
    if not bundle.gain:
        return []
    return [
        f"A+B is {said(bundle)}, but {label} alone is {said(comparisons[label].verdict)}: "
        "the bundle hides it (shadowing); keep only the changes that progress on their own."
        for label in ("A", "B")
        if not comparisons[label].verdict.gain
    ]


def said(verdict: Verdict) -> str:
    """A verdict as it reads in a sentence about the bundle."""
    if verdict in (Verdict.PROGRESSION, Verdict.REGRESSION):
        return f"a {verdict.value}"
    if verdict is Verdict.INCONCLUSIVE:
        return "not shown to help"
    if verdict in (Verdict.EQUIVALENT, Verdict.NON_INFERIOR):
        return f"{verdict.value}: harmless, but not shown to help"
    return verdict.value
