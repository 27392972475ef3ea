"""The payloads the benchmarks share: ~1 KB JSON orders (the shape of examples/orders_model)."""

from __future__ import annotations

import json


def orders(count: int) -> list[bytes]:
    """``count`` distinct orders of about 1 KB each, as JSON bytes."""
    made = []
    for number in range(count):
        lines = [
            {"sku": f"sku-{number % 997}-{line}", "quantity": line + 1, "price": 9.99 + line}
            for line in range(16)
        ]
        body = {"id": number, "customer": f"customer-{number % 101}", "lines": lines}
        made.append(json.dumps(body).encode())
    return made


def per_100k(cpu_rate: float) -> str:
    """CPU seconds per 100,000 messages, from messages per CPU second."""
    return f"{100_000 / cpu_rate:.2f} CPU s / 100k" if cpu_rate > 0 else "n/a"
