"""k2local: a Docker-free miniature of the K2 market-data platform.

Binance-like synthetic feed -> Apache Iceberg table (sqlite catalog, local
warehouse) -> DuckDB-backed JSON query API with Prometheus metrics.
"""

__version__ = "0.1.0"

#: The three instruments the feed trades and `validate` expects.
SYMBOLS: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "BNBUSDT")
