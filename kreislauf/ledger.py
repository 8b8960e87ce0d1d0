"""The energy ledger: where every joule went, per power bond and for the whole system.

Every energy port counts the energy that entered its component (J, positive into the component)
since the start of the run. A *power bond* joins a sender's port to a receiver's port. Over a
macro step from t0 to t1 the ledger books, per bond::

    sent     = -(E_sender(t1) - E_sender(t0))      energy that left the sender's port
    received =   E_receiver(t1) - E_receiver(t0)   energy that reached the receiver's port
    residual = sent - received

Ports that are not part of a bond are the system's boundary. At the end of a run the system balance
compares the change of stored energy with the boundary flows::

    imbalance = ΔE_stored - E_boundary + E_in_transit

where ``E_in_transit`` is the bonds' cumulative residual when energy-conserving coupling keeps it on
the books (it is energy emitted and not yet delivered), and zero otherwise (the residual is then
energy the coupling created or destroyed, and shows up in the imbalance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["BondEntry", "Ledger", "SystemBalance"]


@dataclass(frozen=True)
class BondEntry:
    """Totals of one bond over the run (J)."""

    name: str
    sent: float
    received: float

    @property
    def residual(self) -> float:
        """Energy sent and not received (J); in transit under energy-conserving coupling."""
        return self.sent - self.received


@dataclass(frozen=True)
class SystemBalance:
    """The energy balance of the whole system over a run (J).

    ``scale`` is the largest of the energy amounts involved (Σ|ΔE_stored,i|, Σ|boundary port
    energies|, Σ|bond energy sent|), so that ``relative_imbalance`` is meaningful even when the
    totals cancel.
    """

    stored_change: float
    boundary_inflow: float
    bond_residual: float
    in_transit: float
    imbalance: float
    scale: float
    energy_conserving: bool

    @property
    def relative_imbalance(self) -> float:
        """``|imbalance| / scale`` (0 when nothing moved)."""
        return abs(self.imbalance) / self.scale if self.scale > 0 else abs(self.imbalance)

    def as_dict(self) -> dict[str, float | bool]:
        """The balance as a plain dict (for JSON reports)."""
        return {
            "stored_change_J": self.stored_change,
            "boundary_inflow_J": self.boundary_inflow,
            "bond_residual_J": self.bond_residual,
            "in_transit_J": self.in_transit,
            "imbalance_J": self.imbalance,
            "relative_imbalance": self.relative_imbalance,
            "energy_conserving": self.energy_conserving,
        }

    def report(self) -> str:
        """A short human-readable balance."""
        return (
            f"stored energy change {self.stored_change:.6g} J, boundary inflow {self.boundary_inflow:.6g} J, "
            f"bond residual {self.bond_residual:.6g} J"
            + (f" (in transit {self.in_transit:.6g} J)" if self.energy_conserving else "")
            + f", imbalance {self.imbalance:.3g} J ({self.relative_imbalance:.3g} relative)"
        )


class Ledger:
    """Books bond energies from counter values held in the master's output vector ``y``.

    ``sender_idx``/``receiver_idx`` index the bonds' port counters in ``y``; ``boundary_idx`` the
    counters of unbonded ports; ``stored_idx`` the components' stored energies.
    """

    def __init__(
        self,
        names: Sequence[str],
        sender_idx: Sequence[int],
        receiver_idx: Sequence[int],
        boundary_idx: Sequence[int],
        stored_idx: Sequence[int],
        energy_conserving: bool,
    ):
        self.names = list(names)
        self.sender_idx = np.asarray(sender_idx, dtype=np.intp)
        self.receiver_idx = np.asarray(receiver_idx, dtype=np.intp)
        self.boundary_idx = np.asarray(boundary_idx, dtype=np.intp)
        self.stored_idx = np.asarray(stored_idx, dtype=np.intp)
        self.energy_conserving = energy_conserving
        n = len(self.names)
        self.step_sent = np.zeros(n)
        self.step_received = np.zeros(n)
        self._start_sender = np.zeros(n)
        self._start_receiver = np.zeros(n)
        self._last_sender = np.zeros(n)
        self._last_receiver = np.zeros(n)
        self._start_boundary = np.zeros(len(self.boundary_idx))
        self._start_stored = np.zeros(len(self.stored_idx))
        self._y_end: np.ndarray | None = None

    def start(self, y: np.ndarray) -> None:
        """Remember the counters and stored energies at the start of the run."""
        self._start_sender = y[self.sender_idx].copy()
        self._start_receiver = y[self.receiver_idx].copy()
        self._last_sender = self._start_sender.copy()
        self._last_receiver = self._start_receiver.copy()
        self._start_boundary = y[self.boundary_idx].copy()
        self._start_stored = y[self.stored_idx].copy()
        self._y_end = y

    def book_step(self, y: np.ndarray) -> None:
        """Book the step that ended with output vector ``y`` (sets ``step_sent``/``step_received``)."""
        sender = y[self.sender_idx]
        receiver = y[self.receiver_idx]
        np.subtract(self._last_sender, sender, out=self.step_sent)
        np.subtract(receiver, self._last_receiver, out=self.step_received)
        self._last_sender = sender
        self._last_receiver = receiver
        self._y_end = y

    def book_chunk(self, sender: np.ndarray, receiver: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Book consecutive steps at once: row k of ``sender``/``receiver`` holds the bonds' counters
        after step k (as ``y[sender_idx]``/``y[receiver_idx]``), ``y`` the output vector after the last.
        Returns the per-step ``(sent, received)`` arrays, each row what :meth:`book_step` would give
        (the same subtractions, so the same bits)."""
        sender = np.asarray(sender, dtype=float)
        receiver = np.asarray(receiver, dtype=float)
        sent = np.empty_like(sender)
        received = np.empty_like(receiver)
        if len(sender):
            np.subtract(self._last_sender, sender[0], out=sent[0])
            np.subtract(sender[:-1], sender[1:], out=sent[1:])
            np.subtract(receiver[0], self._last_receiver, out=received[0])
            np.subtract(receiver[1:], receiver[:-1], out=received[1:])
            self._last_sender = sender[-1].copy()
            self._last_receiver = receiver[-1].copy()
            self.step_sent[:] = sent[-1]
            self.step_received[:] = received[-1]
            self._y_end = y
        return sent, received

    def in_transit(self, y: np.ndarray) -> np.ndarray:
        """Per bond, energy sent and not yet received up to the state in ``y`` (J)."""
        return (self._start_sender - y[self.sender_idx]) - (y[self.receiver_idx] - self._start_receiver)

    def entries(self) -> list[BondEntry]:
        """Per-bond totals since the start."""
        sent = self._start_sender - self._last_sender
        received = self._last_receiver - self._start_receiver
        return [BondEntry(n, float(s), float(r)) for n, s, r in zip(self.names, sent, received, strict=True)]

    def balance(self) -> SystemBalance:
        """The system balance from the start to the last booked state."""
        y = self._y_end
        if y is None:
            raise RuntimeError("the ledger was never started")
        stored = y[self.stored_idx] - self._start_stored
        boundary = y[self.boundary_idx] - self._start_boundary
        entries = self.entries()
        residual = float(sum(e.residual for e in entries))
        in_transit = residual if self.energy_conserving else 0.0
        stored_change = float(np.sum(stored))
        boundary_inflow = float(np.sum(boundary))
        scale = max(
            float(np.sum(np.abs(stored))),
            float(np.sum(np.abs(boundary))),
            float(sum(abs(e.sent) for e in entries)),
        )
        return SystemBalance(
            stored_change=stored_change,
            boundary_inflow=boundary_inflow,
            bond_residual=residual,
            in_transit=in_transit,
            imbalance=stored_change - boundary_inflow + in_transit,
            scale=scale,
            energy_conserving=self.energy_conserving,
        )
