"""Simulator of an online shop: shoppers with latent tastes browse a catalogue in sessions.

- **Catalogue**: ``n_items`` products in eight departments (kitchen, garden, toys, ...).
  Each department has its own product nouns, each product a generated title
  ("Rustic Ceramic Mug"), a description, tags, a price and ``in_stock`` (about 8% are out
  of stock). A product's latent vector is its department's centre plus its collection's
  offset plus noise, so products that read alike are alike: text carries signal, and
  items never interacted with can be recommended from their titles.
- **Shoppers**: ``n_users`` with a taste vector mixing one or two departments, a region
  and an age band (the optional user table).
- **Sessions**: each shopper has Poisson-many sessions spread over ``days`` days. Within a
  session, the next product is drawn with probability ∝ ``exp(taste·item / τ +
  1.5·similarity(previous item, item) + log popularity)``: tastes drive what, the previous
  item drives what next (a sequential signal), a Zipf-like popularity drives how often.
  Each viewed product may be carted (25%) and a carted one purchased (60%).

``simulate_shop`` returns ``(events, products, users)``; events have ``user_id, item_id,
timestamp`` (ISO strings), ``event`` (view/cart/purchase) and ``value`` (price on a
purchase). Product codes start at ``P1000``; ``n_cold`` products get no events at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEPARTMENTS = {
    "kitchen": ["Mug", "Teapot", "Skillet", "Cutting Board", "Colander", "Spice Rack"],
    "garden": ["Planter", "Watering Can", "Trowel", "Bird Feeder", "Hose Reel", "Seed Tray"],
    "toys": ["Puzzle", "Building Blocks", "Kite", "Plush Bear", "Toy Train", "Yo-Yo"],
    "lighting": ["Lamp", "Lantern", "Candle Holder", "String Lights", "Night Light", "Sconce"],
    "stationery": ["Notebook", "Fountain Pen", "Desk Organizer", "Planner", "Stamp Set", "Ink"],
    "textiles": ["Cushion", "Throw Blanket", "Tea Towel", "Tablecloth", "Apron", "Rug"],
    "bathroom": ["Soap Dish", "Towel Rail", "Bath Mat", "Toothbrush Cup", "Shower Caddy"],
    "outdoor": ["Picnic Basket", "Camping Mug", "Hammock", "Cool Box", "Folding Chair"],
}
STYLES = ["Rustic", "Vintage", "Modern", "Scandi", "Retro", "Classic", "Handmade", "Mini"]
MATERIALS = ["Ceramic", "Wooden", "Enamel", "Cotton", "Glass", "Bamboo", "Copper", "Linen"]
COLOURS = ["Red", "Blue", "Sage", "Cream", "Charcoal", "Mustard", "Pink", "Teal"]
REGIONS = ["north", "south", "east", "west", "capital"]


def simulate_shop(
    n_users: int = 1500,
    n_items: int = 400,
    *,
    sessions_per_user: float = 4.0,
    views_per_session: float = 6.0,
    days: int = 90,
    n_cold: int = 20,
    dim: int = 8,
    random_state: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(events, products, users)`` for a shop; see the module docstring."""
    rng = np.random.default_rng(random_state)
    products, vectors = _catalogue(n_items, dim, rng)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity = popularity[rng.permutation(n_items)]
    active = np.ones(n_items, dtype=bool)
    active[rng.choice(n_items, size=min(n_cold, n_items - 1), replace=False)] = False
    log_pop = np.where(active, np.log(popularity / popularity.sum()), -np.inf)

    centres = np.stack([vectors[products["department"] == d].mean(0) for d in DEPARTMENTS])
    users = pd.DataFrame(
        {
            "user_id": np.arange(1, n_users + 1),
            "region": rng.choice(REGIONS, size=n_users),
            "age_band": rng.choice(["18-29", "30-44", "45-64", "65+"], size=n_users),
        }
    )
    start = pd.Timestamp("2025-01-01", tz="UTC").value / 1e9
    rows = []
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for user in range(n_users):
        liked = rng.choice(len(centres), size=rng.integers(1, 3), replace=False)
        taste = centres[liked].mean(0) + 0.3 * rng.standard_normal(dim)
        affinity = vectors @ taste / 0.6 + log_pop
        n_sessions = 1 + rng.poisson(sessions_per_user - 1)
        session_starts = np.sort(rng.uniform(0, days * 86400, size=n_sessions))
        for t0 in session_starts:
            previous = None
            n_views = 1 + rng.poisson(views_per_session - 1)
            clock = start + t0
            for _ in range(n_views):
                logits = affinity if previous is None else affinity + 1.5 * (unit @ unit[previous])
                p = np.exp(logits - logits.max())
                item = int(rng.choice(n_items, p=p / p.sum()))
                clock += rng.exponential(90.0)
                rows.append((user + 1, item, clock, "view", np.nan))
                if rng.random() < 0.25:
                    clock += rng.exponential(30.0)
                    rows.append((user + 1, item, clock, "cart", np.nan))
                    if rng.random() < 0.6:
                        clock += rng.exponential(60.0)
                        price = float(products["price"].iat[item])
                        rows.append((user + 1, item, clock, "purchase", price))
                previous = item
    events = pd.DataFrame(rows, columns=["user_id", "item", "time", "event", "value"])
    events["item_id"] = products["item_id"].to_numpy()[events["item"].to_numpy()]
    stamps = pd.to_datetime(events["time"], unit="s", utc=True).dt.floor("s")
    events["timestamp"] = stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    events = events[["user_id", "item_id", "timestamp", "event", "value"]]
    return events, products, users


def _catalogue(n_items: int, dim: int, rng) -> tuple[pd.DataFrame, np.ndarray]:
    names = list(DEPARTMENTS)
    department_centre = rng.standard_normal((len(names), dim)) * 1.2
    rows, vectors = [], []
    for code in range(n_items):
        d = code % len(names)
        department = names[d]
        noun_index = rng.integers(len(DEPARTMENTS[department]))
        noun = DEPARTMENTS[department][noun_index]
        style, material, colour = (
            rng.choice(STYLES),
            rng.choice(MATERIALS),
            rng.choice(COLOURS),
        )
        # the collection (department × noun) and style shape the latent vector
        collection = np.sin(np.arange(dim) * (noun_index + 1) + d) * 0.6
        style_offset = np.cos(np.arange(dim) * (STYLES.index(style) + 1)) * 0.3
        vectors.append(
            department_centre[d] + collection + style_offset + 0.2 * rng.standard_normal(dim)
        )
        rows.append(
            {
                "item_id": f"P{1000 + code}",
                "title": f"{style} {material} {noun}",
                "description": f"A {style.lower()} {colour.lower()} {noun.lower()} in "
                f"{material.lower()}, from our {department} range.",
                "department": department,
                "tags": f"{department}, {material.lower()}, {colour.lower()}",
                "price": round(float(np.exp(rng.normal(2.8, 0.6))), 2),
                "in_stock": bool(rng.random() > 0.08),
            }
        )
    return pd.DataFrame(rows), np.asarray(vectors)
