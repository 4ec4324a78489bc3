"""What a command shows and keeps: a rich table in the terminal, the same in markdown, and JSON.

Every output names the commits and the metric version of what it compares,
so a number read later still says where it came from.
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table as RichTable

console = Console()


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # lines printed under the table
    wraps: str | None = None  # the one column whose long cells wrap; the others stay whole

    def show(self) -> None:
        table = RichTable(
            title=self.title,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            collapse_padding=True,  # narrow enough for an 80-column terminal
        )
        for column in self.columns:
            wraps = column == self.wraps
            table.add_column(column, no_wrap=not wraps, overflow="fold" if wraps else "ellipsis")
        for row in self.rows:
            table.add_row(*row)
        console.print(table)
        for note in self.notes:
            console.print(note, highlight=False)

    def markdown(self) -> str:
        def escape(cell: str) -> str:
            return cell.replace("|", "\\|")

        lines = [f"## {self.title}", ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + " --- |" * len(self.columns))
        lines += ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in self.rows]
        if self.notes:
            lines += ["", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines) + "\n"


def finite(value: Any) -> Any:
    """JSON without NaN or Infinity (which strict parsers reject): None instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def save(out_dir: Path, stem: str, title: str, tables: list[Table], data: dict) -> list[Path]:
    """Write <stem>.md and <stem>.json into out_dir; print where."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = out_dir / f"{stem}.md"
    markdown.write_text(f"# {title}\n\n" + "\n".join(table.markdown() for table in tables))
    record = out_dir / f"{stem}.json"
    record.write_text(json.dumps(finite(data), indent=2, default=str) + "\n")
    console.print(f"written: {shown(markdown)}, {shown(record)}", highlight=False, soft_wrap=True)
    return [markdown, record]


def shown(path: Path) -> str:
    """A path as short as it can be said: relative to the working directory when inside it."""
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def number(value: float, digits: int = 4) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def signed(value: float, digits: int = 4) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.{digits}f}"


def percent(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else format(value, f".{digits}%")


def p_value(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3g}"


def commit(sha: str | None, dirty: bool = False) -> str:
    short = sha[:8] if sha else "no commit"
    return f"{short} (dirty)" if dirty else short
