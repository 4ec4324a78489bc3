"""The bias/variance table: where the error comes from, and what to address first.

Test error = goal error + avoidable bias + variance + val overfitting. Each gap
points at a different remedy, and they are addressed in that order: first
under-fitting, then over-fitting, then the gap between validation and test.
"""

from dataclasses import dataclass

DEFAULT_TOLERANCE = 0.01  # a gap below one percentage point is not worth acting on


@dataclass(frozen=True)
class Gap:
    name: str
    value: float
    meaning: str
    remedy: str


@dataclass(frozen=True)
class Errors:
    """Error rates (1 - accuracy) of one model, or the mean over several seeds."""

    goal: float
    train: float
    val: float
    test: float

    def gaps(self) -> list[Gap]:
        """In the order they should be addressed."""
        return [
            Gap(
                "avoidable bias (train - goal)",
                self.train - self.goal,
                "under-fitting",
                "a bigger model, longer training, a better optimizer or learning rate",
            ),
            Gap(
                "variance (val - train)",
                self.val - self.train,
                "over-fitting",
                "more data, augmentation, regularization (dropout, weight decay), early stopping",
            ),
            Gap(
                "val overfitting (test - val)",
                self.test - self.val,
                "validation set over-used for selection",
                "a larger or fresh validation split; fewer decisions made on it",
            ),
        ]

    def diagnosis(self, tolerance: float = DEFAULT_TOLERANCE) -> str:
        found = [gap for gap in self.gaps() if gap.value > tolerance]
        if not found:
            return (
                f"no gap above {format(tolerance, '.1%')}: the model is as good as the goal allows."
            )
        first = found[0]
        rest = "; then ".join(gap.meaning for gap in found[1:])
        size = format(first.value, ".1%")
        return f"address {first.meaning} first ({first.name} = {size}): {first.remedy}." + (
            f" Then: {rest}." if rest else ""
        )

    def as_dict(self, tolerance: float = DEFAULT_TOLERANCE) -> dict:
        return {
            "goal_error": self.goal,
            "train_error": self.train,
            "val_error": self.val,
            "test_error": self.test,
            "gaps": {gap.name: gap.value for gap in self.gaps()},
            "tolerance": tolerance,
            "diagnosis": self.diagnosis(tolerance),
        }
