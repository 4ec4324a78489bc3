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
from rich.measure import Measurement
from rich.table import Table as RichTable

console = Console()
UNBOUNDED = 10_000  # columns: a table measured without the console's limit


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # lines printed under the table
    wraps: str | None = None  # the one column whose long cells wrap; the others stay whole

    def show(self) -> None:
        """A table where it fits whole, else each row as a block of lines (CI logs, `| tee`)."""
        table = RichTable(
            title=self.title,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            collapse_padding=True,
        )
        for column in self.columns:
            wraps = column == self.wraps
            table.add_column(column, no_wrap=not wraps, overflow="fold")
        for row in self.rows:
            table.add_row(*row)
        unbounded = console.options.update_width(UNBOUNDED)
        natural = Measurement.get(console, unbounded, table).maximum
        if natural <= console.width:
            console.print(table)
        else:
            self.show_stacked()
        for note in self.notes:
            console.print(note, highlight=False)

    def show_stacked(self) -> None:
        """Too wide for the console: a row's first cell, then `column: cell` per line.

        Cutting or folding cells would cut verdicts and numbers; on their own lines
        they stay whole. Cells of "-" (nothing to show) are left out.
        """
        console.print(self.title, highlight=False, soft_wrap=True)
        label_width = max(len(column) for column in self.columns[1:])
        for first, *cells in self.rows:
            console.print(f"\n {first}", highlight=False, soft_wrap=True)
            for column, cell in zip(self.columns[1:], cells, strict=True):
                if cell != "-":
                    console.print(f"   {column:<{label_width}}  {cell}", highlight=False)
        console.print()

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
