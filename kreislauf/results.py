"""Results streamed to Parquet while the run goes, with bounded memory, and CSV export.

:class:`ResultWriter` keeps one row group (``row_group_size`` rows × columns, float64) in memory and
writes it with :class:`pyarrow.parquet.ParquetWriter` when full, so a year at 60 s steps (525 600
rows) never holds more than one row group. It is a context manager: leaving the ``with`` block, by
success or by an exception, writes the rows collected so far and closes the file, which is then a
readable Parquet file with every step up to the failure. Metadata (system file, versions, settings)
is stored in the Parquet schema under the key ``kreislauf``.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

__all__ = ["ResultWriter", "read_results", "read_metadata", "to_csv", "version_metadata"]

METADATA_KEY = b"kreislauf"


def version_metadata() -> dict[str, str]:
    """Versions of kreislauf and the libraries that shape the results."""
    from kreislauf import __version__

    return {
        "kreislauf": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
    }


class ResultWriter:
    """Writes rows of float64 values (first column ``time`` in s) to a Parquet file in row groups."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        columns: Sequence[str],
        metadata: Mapping[str, Any] | None = None,
        row_group_size: int = 8192,
    ):
        if row_group_size < 1:
            raise ValueError(f"row_group_size must be at least 1, not {row_group_size}")
        self.path = Path(path)
        self.columns = list(columns)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        meta = {METADATA_KEY: json.dumps(dict(metadata or {}), default=str).encode()}
        self.schema = pa.schema([pa.field(c, pa.float64()) for c in self.columns], metadata=meta)
        # dictionary encoding never pays for float columns of a simulation (few repeated values) and
        # costs two thirds of the writing time
        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(str(self.path), self.schema, use_dictionary=False)
        self._buffer = np.empty((row_group_size, len(self.columns)))
        self._fill = 0
        self.rows_written = 0

    def append(self, row: np.ndarray) -> None:
        """Add one row (length = number of columns); written when the row group is full."""
        self._buffer[self._fill] = row
        self._fill += 1
        if self._fill == len(self._buffer):
            self.flush()

    def write_rows(self, rows: np.ndarray) -> None:
        """Add a block of rows (rows × columns) at once; written in the same row groups as
        :meth:`append` would write them."""
        rows = np.asarray(rows, dtype=float)
        if rows.ndim != 2 or rows.shape[1] != len(self.columns):
            raise ValueError(f"expected rows of {len(self.columns)} columns, got an array of shape {rows.shape}")
        start = 0
        while start < len(rows):
            take = min(len(rows) - start, len(self._buffer) - self._fill)
            self._buffer[self._fill : self._fill + take] = rows[start : start + take]
            self._fill += take
            start += take
            if self._fill == len(self._buffer):
                self.flush()

    def next_row(self) -> np.ndarray:
        """A view of the next row in memory, to fill in place and then :meth:`commit_row`."""
        return self._buffer[self._fill]

    def commit_row(self) -> None:
        """Keep the row filled through :meth:`next_row`; written when the row group is full."""
        self._fill += 1
        if self._fill == len(self._buffer):
            self.flush()

    def flush(self) -> None:
        """Write the rows held in memory as one row group."""
        if self._fill == 0 or self._writer is None:
            return
        block = self._buffer[: self._fill]
        table = pa.Table.from_arrays([pa.array(block[:, j]) for j in range(block.shape[1])], schema=self.schema)
        self._writer.write_table(table)
        self.rows_written += self._fill
        self._fill = 0

    def close(self) -> None:
        """Write what is left and close the file (safe to call twice)."""
        if self._writer is None:
            return
        try:
            self.flush()
        finally:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_results(path: str | os.PathLike[str], columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """The columns of a results file as numpy arrays (all columns when ``columns`` is None)."""
    table = pq.read_table(str(path), columns=list(columns) if columns is not None else None)
    return {name: table.column(name).to_numpy() for name in table.column_names}


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The kreislauf metadata stored in a results file."""
    schema = pq.read_schema(str(path))
    raw = (schema.metadata or {}).get(METADATA_KEY)
    return json.loads(raw) if raw else {}


def to_csv(parquet_path: str | os.PathLike[str], csv_path: str | os.PathLike[str]) -> Path:
    """Export a results file to CSV, one row group at a time (bounded memory). Returns the CSV path."""
    csv_path = Path(csv_path)
    source = pq.ParquetFile(str(parquet_path))
    with pacsv.CSVWriter(str(csv_path), source.schema_arrow.remove_metadata()) as writer:
        for index in range(source.num_row_groups):
            writer.write_table(source.read_row_group(index).replace_schema_metadata(None))
    return csv_path
