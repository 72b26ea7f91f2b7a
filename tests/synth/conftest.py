"""Fixtures for the synthesis tests: a tiny gretel-style corpus and a deterministic toy encoder."""

from __future__ import annotations

import pytest
from synth_fixtures import ToyEncoder, shop_example

from rag.corpus import Example


@pytest.fixture
def shop_examples() -> list[Example]:
    return [
        shop_example(
            1,
            "Which furniture products cost more than 50?",
            "SELECT name, price FROM products WHERE category = 'furniture' AND price > 50;",
            "Filters products to furniture priced above 50 and returns name and price.",
        ),
        shop_example(
            2,
            "What is the average price per category?",
            "SELECT category, AVG(price) AS avg_price FROM products GROUP BY category",
            "Groups products by category and averages their price.",
        ),
        shop_example(
            3,
            "How many units were ordered for each product?",
            "SELECT p.name, SUM(o.quantity) AS units FROM orders o INNER JOIN products p ON o.product_id = p.product_id GROUP BY p.name",
            "Joins orders to products and sums the quantity per product name.",
        ),
        shop_example(
            4,
            "Which products have never been ordered?",
            "SELECT p.name FROM products p LEFT JOIN orders o ON p.product_id = o.product_id WHERE o.order_id IS NULL",
            "Left joins products to orders and keeps products without an order.",
        ),
    ]


@pytest.fixture
def toy_encoder() -> ToyEncoder:
    return ToyEncoder()
