"""``tailorkit init recommendation`` and the offline demo (a simulated shop)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tailorkit.data.simulators.shoppers import simulate_shop
from tailorkit.solutions.base import require_options, table_columns


def init_template(name: str, options: dict[str, Any]) -> str:
    """A commented spec from ``--interactions`` (and optionally ``--items``, ``--users``)."""
    require_options("recommendation", options, "interactions")
    interactions = options["interactions"]
    columns = table_columns(interactions)  # a missing, empty or binary file stops init here
    user = _pick(columns, ("user_id", "userid", "user", "customer_id", "customerid"), "user_id")
    item = _pick(columns, ("item_id", "itemid", "item", "product_id", "movieid", "sku"), "item_id")
    stamp = _pick(columns, ("timestamp", "time", "date", "event_time", "invoicedate"), "timestamp")
    event = _pick(columns, ("event", "event_type", "action"), None)
    value = _pick(columns, ("value", "quantity", "amount", "rating"), "quantity")
    items, users = options.get("items"), options.get("users")
    text = list(options.get("text") or [])
    item_columns = table_columns(items) if items else []
    if users:
        table_columns(users)
    if items and not text:
        text = [
            c
            for c in item_columns
            if c.lower() in ("title", "name", "description", "category", "department", "tags")
        ]
    items_line = f"items: {items}" if items else "# items: data/products.csv"
    users_line = f"users: {users}" if users else "# users: data/users.csv"
    event_line = f"event: {event}" if event else "# event: event_type"
    weights = "{view: 1, cart: 2, purchase: 4}"
    return f"""\
# tailorkit project spec. Check it with `tailorkit validate --show`, train with `tailorkit run`.
name: {name}
solution: recommendation

data:
  interactions: {interactions}   # one row per event: user, item, time
  {items_line}        # catalogue: item id + text (title, description, ...) + attributes
  {users_line}        # user attributes: segments for users without history
  # user_segments: [region, age_band]   # default: every users column with 2-50 values
  user: {user}
  item: {item}
  time: {stamp}                  # epoch seconds/ms or dates, formats may be mixed
  {event_line}
  # event_weights: {weights}
  # value: {value}               # a number that multiplies each event's weight (<= 0: dropped)
  text: [{", ".join(text)}]      # catalogue columns that describe an item
  repeats: first                 # first: a user-item pair counts once (at its first time)

# models: [popularity, item_knn, als, sasrec]   # the default candidates

evaluation:
  protocol: leave_one_out        # or temporal (global time split, test_fraction: 0.1)
  metric: ndcg@10
  cold_items_fraction: 0.1       # share of items withheld to measure cold-start HR@10

recommend:
  k: 10
  exclude_seen: true
  rules: []                      # e.g. ["in_stock == false"]: never recommended

requirements:
  - ndcg@10 >= 0.01
"""


def _pick(columns: list[str], names: tuple[str, ...], default: str | None) -> str | None:
    lower = {c.lower(): c for c in columns}
    for name in names:
        if name in lower:
            return lower[name]
    return default


DEMO_SPEC = """\
# tailorkit demo: a simulated online shop (tailorkit/data/simulators/shoppers.py):
# 1,500 shoppers with latent tastes browsing 400 products in sessions. Edit and re-run.
name: shop
solution: recommendation
data:
  interactions: events.csv
  items: products.csv
  users: users.csv
  event: event
  event_weights: {view: 1, cart: 2, purchase: 4}
  text: [title, department]
models:
  - popularity
  - item_knn
  - als
  - name: sasrec               # small settings so the demo stays under 3 minutes
    family: sasrec
    params: {max_len: 20, hidden: 32, batch_size: 64, pretrain_epochs: 2, max_epochs: 8}
evaluation:
  protocol: leave_one_out
  bootstrap: 300
recommend:
  k: 10
  rules: ["in_stock == false"]
requirements:
  - ndcg@10 >= 0.02
"""


def demo_project(folder: Path) -> tuple[Path, str]:
    folder.mkdir(parents=True, exist_ok=True)
    events, products, users = simulate_shop(random_state=0)
    events.to_csv(folder / "events.csv", index=False)
    products.to_csv(folder / "products.csv", index=False)
    users.to_csv(folder / "users.csv", index=False)
    spec = folder / "tailorkit.yaml"
    spec.write_text(DEMO_SPEC)
    return spec, f"simulated shop: {len(events)} events, {len(products)} products"
