"""HTTP services over the ledger: the proxy (gateway), the dashboard and their metrics."""
