"""Deterministic synthetic trades (stdlib only, so the CLI stays fast to import).

Prices follow a seeded geometric random walk per symbol. Every batch draws
from its own RNG seeded with (seed, batch number), so a feed that is killed
and restarted from its state file continues the very same stream.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from k2local import SYMBOLS

START_PRICES: dict[str, float] = {"BTCUSDT": 65000.0, "ETHUSDT": 3200.0, "BNBUSDT": 580.0}
# Typical trade size per symbol, so notional values look plausible.
TYPICAL_QTY: dict[str, float] = {"BTCUSDT": 0.02, "ETHUSDT": 0.4, "BNBUSDT": 2.0}
# `load` uses trade ids from here up so they never collide with the feed's ids.
LOAD_ID_BASE = 1_000_000_000


@dataclass(frozen=True)
class Trade:
    symbol: str
    trade_id: int
    price: float
    quantity: float
    side: str
    ts: datetime  # naive, UTC by convention (Iceberg `timestamp`, microseconds)

    def as_row(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "trade_id": self.trade_id,
            "price": self.price,
            "quantity": self.quantity,
            "side": self.side,
            "ts": self.ts,
        }


def _step(rng: random.Random, price: float) -> float:
    # ~5 bp per tick volatility keeps prices moving but sane for hours.
    return round(price * math.exp(rng.gauss(0.0, 0.0005)), 2)


def _qty(rng: random.Random, symbol: str) -> float:
    return round(TYPICAL_QTY[symbol] * rng.lognormvariate(0.0, 0.8), 5)


class RandomWalk:
    """The live feed's trade generator; its state round-trips through JSON."""

    def __init__(
        self,
        seed: int,
        prices: dict[str, float] | None = None,
        next_ids: dict[str, int] | None = None,
    ) -> None:
        self.seed = seed
        self.prices = dict(START_PRICES) | (prices or {})
        self.next_ids = {s: 1 for s in SYMBOLS} | (next_ids or {})

    def batch(
        self, batch_no: int, now: datetime, window_s: float, max_per_symbol: int = 4
    ) -> list[Trade]:
        """Trades for one tick: 1..max_per_symbol per symbol, timestamped within the last window."""
        rng = random.Random(f"feed:{self.seed}:{batch_no}")
        trades: list[Trade] = []
        for symbol in SYMBOLS:
            for _ in range(rng.randint(1, max_per_symbol)):
                self.prices[symbol] = _step(rng, self.prices[symbol])
                ts = now - timedelta(seconds=rng.uniform(0.0, window_s))
                trades.append(
                    Trade(
                        symbol=symbol,
                        trade_id=self.next_ids[symbol],
                        price=self.prices[symbol],
                        quantity=_qty(rng, symbol),
                        side=rng.choice(("buy", "sell")),
                        ts=ts,
                    )
                )
                self.next_ids[symbol] += 1
        trades.sort(key=lambda t: t.ts)
        return trades


def demo_rows(n: int, seed: int, end: datetime, span_s: float = 3600.0) -> list[Trade]:
    """n known-good trades spread evenly over [end - span, end), round-robin over symbols."""
    rng = random.Random(f"load:{seed}")
    prices = dict(START_PRICES)
    out: list[Trade] = []
    for i in range(n):
        symbol = SYMBOLS[i % len(SYMBOLS)]
        prices[symbol] = _step(rng, prices[symbol])
        out.append(
            Trade(
                symbol=symbol,
                trade_id=LOAD_ID_BASE + i,
                price=prices[symbol],
                quantity=_qty(rng, symbol),
                side=rng.choice(("buy", "sell")),
                ts=end - timedelta(seconds=span_s * (n - i) / n),
            )
        )
    return out
