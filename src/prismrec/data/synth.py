"""A vectorised synthetic behaviour-log generator with a planted, known answer.

Items belong to latent topics (category = topic, titles drawn from topic vocabularies, Zipf-like
popularity inside a topic). Every user has a few interest facets (topics) whose weights drift
linearly from a start to an end Dirichlet vector over the user's history. An engagement with an
item emits a view, then maybe a click, a cart and a purchase (a funnel). Contexts (device, hour of
day) follow per-user habits. The planted facets and item topics are written under ``truth/`` so
tests and benchmarks can check that models recover them.

Everything is numpy over whole arrays; loops only run over topics and facets.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from prismrec.errors import ConfigError

__all__ = ["SynthResult", "synthesize"]

log = logging.getLogger(__name__)

# first four words of a topic are its sub-categories (nouns); the rest describe items
TOPIC_VOCAB: dict[str, str] = {
    "outdoor": "tent backpack lantern compass hiking camping trail summit waterproof rugged",
    "kitchen": "skillet blender kettle knife cooking chef baking nonstick ceramic recipe",
    "fashion": "dress jacket sneakers scarf denim cotton slim vintage stylish casual",
    "electronics": "headphones charger speaker monitor wireless bluetooth usb hd smart portable",
    "books": "novel cookbook biography anthology paperback hardcover epic mystery saga poetry",
    "toys": "puzzle doll blocks robot kids playful educational colorful plush toddler",
    "beauty": "serum lipstick shampoo perfume skincare hydrating matte fragrance glow organic",
    "sports": "dumbbell racket football jersey fitness training pro athletic grip workout",
    "garden": "planter hose shovel seeds gardening flower lawn pruning soil herbal",
    "music": "guitar keyboard drumsticks microphone acoustic studio chord melody tuning amp",
    "pets": "leash collar aquarium litter dog cat puppy chew feeder grooming",
    "auto": "tire wiper dashcam toolkit car engine motor garage diesel roadside",
    "office": "stapler notebook desk binder paper pen ergonomic planner filing ink",
    "health": "vitamins thermometer bandage massager wellness immune protein herbal sleep relief",
    "travel": "suitcase pillow adapter organizer luggage carry airport compact journey passport",
    "gaming": "controller headset console mousepad gamer rgb esports joystick arcade quest",
    "baby": "stroller crib bottle diaper infant newborn gentle nursery soft teether",
    "jewelry": "ring necklace bracelet earrings gold silver gemstone pendant sterling charm",
    "crafts": "yarn canvas brushes glue knitting sewing handmade acrylic stitch scrapbook",
    "home": "lamp rug curtain cushion cozy decor woven linen modern rustic",
}
GENERIC_WORDS = np.array(["new", "classic", "deluxe", "premium", "essential", "basic", "ultra"])
GENERIC_TAGS = np.array(["sale", "new", "bestseller", "eco", "premium", "budget", "gift"])
EVENT_TYPES = ("view", "click", "cart", "purchase")
DEVICES = ("mobile", "desktop", "tablet")
AGE_GROUPS = ("18-24", "25-34", "35-44", "45-54", "55+")
GENDERS = ("f", "m")
REGIONS = ("north", "south", "east", "west", "central")
N_SUBCATEGORIES = 4
BASE_TS = 1_704_067_200  # 2024-01-01 00:00 UTC, a day boundary so hour = ts // 3600 % 24
N_DAYS = 180
MIN_EVENTS_PER_USER = 5
FUNNEL = (0.35, 0.30, 0.50)  # P(click | view), P(cart | click), P(purchase | cart)
STAGE_DELAY = (0.0, 20.0, 90.0, 240.0)  # mean seconds from the previous funnel step
TOPIC_NOISE = 0.03  # share of engagements on a random topic (exploration)
DEVICE_LOYALTY = 0.8
CONFIG_TOML = """\
# written by prismrec.data.synth; load with: prismrec.data.loaders.load(dir, "parquet", cfg)
[data]
context_columns = ["device", "hour"]
user_columns = ["age_group", "gender", "region"]
item_text_fields = ["title"]
item_categorical_fields = ["category", "subcategory"]
item_numeric_fields = ["price"]
item_multi_fields = ["tags"]
"""


@dataclass
class SynthResult:
    """The generated frames; ``facets`` and ``item_topics`` are the planted answer.

    Attributes:
        interactions: user_id, item_id, timestamp, event_type, device, hour; sorted by user, time.
        items: item_id, title, category, subcategory, price, tags.
        users: user_id, age_group, gender, region.
        facets: user_id, facet (topic name), weight_start, weight_end.
        item_topics: item_id, topic, popularity (probability of the item within its topic).
        out_dir: where the files were written, or ``None``.
    """

    interactions: pl.DataFrame
    items: pl.DataFrame
    users: pl.DataFrame
    facets: pl.DataFrame
    item_topics: pl.DataFrame
    out_dir: Path | None = None


@dataclass
class _Topics:
    names: list[str]
    words: np.ndarray  # all topic words, topic after topic
    start: np.ndarray  # (T,) first word of each topic in ``words``
    size: np.ndarray  # (T,) words per topic (the first N_SUBCATEGORIES are sub-categories)


def synthesize(
    n_users: int,
    n_items: int,
    n_events: int,
    seed: int = 42,
    out_dir: str | Path | None = None,
    n_topics: int | None = None,
    facets_per_user: int = 3,
) -> SynthResult:
    """Generate a behaviour log with planted multi-interest structure.

    Args:
        n_users: number of users.
        n_items: number of items.
        n_events: exact number of interaction rows (at least 5 per user).
        seed: random seed; the same seed gives identical frames.
        out_dir: when given, write the generic ``parquet`` dataset directory here.
        n_topics: latent topics; default ``min(20, n_items // 5)`` (at least ``facets_per_user``).
        facets_per_user: planted interest facets (distinct topics) per user.

    Returns:
        The frames, including the planted ``facets`` and ``item_topics``.

    Raises:
        ConfigError: sizes that cannot be satisfied (e.g. fewer than 5 events per user).
    """
    if n_topics is None:
        n_topics = max(facets_per_user, min(len(TOPIC_VOCAB), n_items // 5))
    _check_sizes(n_users, n_items, n_events, n_topics, facets_per_user)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    topics = _make_topics(n_topics, rng)
    item_topic, popularity, items = _make_items(n_items, topics, rng)
    facet_ids, w_start, w_end, users = _make_users(n_users, n_topics, facets_per_user, rng)
    inter = _make_events(n_events, item_topic, popularity, facet_ids, w_start, w_end, users, rng)
    facets = pl.DataFrame(
        {
            "user_id": users["user_id"].gather(np.repeat(np.arange(n_users), facets_per_user)),
            "facet": pl.Series(topics.names).gather(facet_ids.ravel()),
            "weight_start": w_start.ravel(),
            "weight_end": w_end.ravel(),
        }
    )
    item_topics = items.select("item_id", topic="category", popularity=popularity)
    users = users.select("user_id", "age_group", "gender", "region")
    result = SynthResult(inter, items, users, facets, item_topics)
    log.info("synthesised %d events for %d users in %.1fs", n_events, n_users, _since(t0))
    if out_dir is not None:
        result.out_dir = _write(result, Path(out_dir))
        log.info("wrote %s (%.1fs total)", result.out_dir, _since(t0))
    return result


def _since(t0: float) -> float:
    return time.perf_counter() - t0


def _check_sizes(n_users: int, n_items: int, n_events: int, n_topics: int, facets: int) -> None:
    if n_users < 1 or n_items < 1:
        raise ConfigError(f"need at least one user and one item, got {n_users=} {n_items=}")
    if not 1 <= facets <= n_topics <= n_items:
        raise ConfigError(
            f"need 1 <= facets_per_user <= n_topics <= n_items, got "
            f"facets_per_user={facets}, n_topics={n_topics}, n_items={n_items}"
        )
    if n_events < MIN_EVENTS_PER_USER * n_users:
        raise ConfigError(
            f"n_events={n_events} is too small: every user needs at least "
            f"{MIN_EVENTS_PER_USER} events, so n_events >= "
            f"{MIN_EVENTS_PER_USER * n_users}"
        )


def _ids(prefix: str, n: int) -> pl.Series:
    """Zero-padded ids (``u0007``) so string order equals numeric order."""
    width = len(str(max(n - 1, 0)))
    digits = pl.int_range(n, eager=True).cast(pl.String).str.zfill(width)
    return (prefix + digits).alias(f"{prefix}_id")


def _make_topics(n_topics: int, rng: np.random.Generator) -> _Topics:
    names = list(TOPIC_VOCAB)[:n_topics]
    vocab = [TOPIC_VOCAB[n].split() for n in names]
    syllables = np.array([c + v for c in "bdfgklmnprstvz" for v in "aeiou"])
    for t in range(len(names), n_topics):  # beyond the named topics: pseudo-word vocabularies
        names.append(f"topic_{t:02d}")
        parts = syllables[rng.integers(0, len(syllables), size=(10, 3))]
        vocab.append([f"{a}{b}{c}" for a, b, c in parts])
    size = np.array([len(v) for v in vocab])
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    return _Topics(names, np.concatenate([np.array(v) for v in vocab]), start, size)


def _topic_word(
    topics: _Topics,
    topic: np.ndarray,
    rng: np.random.Generator,
    lo: int = 0,
    hi: np.ndarray | None = None,
) -> np.ndarray:
    """Index into ``topics.words`` of one random word of each topic in ``topic`` (range lo..hi)."""
    top = topics.size[topic] if hi is None else hi
    return topics.start[topic] + lo + (rng.random(len(topic)) * (top - lo)).astype(np.int64)


def _make_items(
    n_items: int, topics: _Topics, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, pl.DataFrame]:
    """Topic, within-topic popularity and the catalogue row of every item."""
    n_topics = len(topics.names)
    item_topic = rng.permutation(np.arange(n_items) % n_topics)
    # Zipf-like popularity by a random rank inside the topic (not tied to the item id)
    order = np.lexsort((rng.random(n_items), item_topic))
    seg_start = np.searchsorted(item_topic[order], np.arange(n_topics))
    rank = np.empty(n_items, np.int64)
    rank[order] = np.arange(n_items) - seg_start[item_topic[order]]
    weight = 1.0 / (rank + 1.0)
    popularity = weight / np.bincount(item_topic, weights=weight)[item_topic]

    words = pl.Series(topics.words)
    sub = _topic_word(topics, item_topic, rng, 0, np.full(n_items, N_SUBCATEGORIES))
    n_desc = rng.integers(2, 5, size=n_items)  # 2-4 descriptive words + the sub-category noun
    title_parts = []
    for j in range(4):
        topical = _topic_word(topics, item_topic, rng, N_SUBCATEGORIES)
        generic = rng.integers(0, len(GENERIC_WORDS), size=n_items)
        use_topic = rng.random(n_items) < 0.75
        part = pl.Series(np.where(use_topic, topics.words[topical], GENERIC_WORDS[generic]))
        title_parts.append(part.set(pl.Series(j >= n_desc), None))
    title_parts.append(words.gather(sub))
    tag_topic = words.gather(_topic_word(topics, item_topic, rng, N_SUBCATEGORIES))
    tag_generic = pl.Series(GENERIC_TAGS[rng.integers(0, len(GENERIC_TAGS), n_items)])
    tag_generic = tag_generic.set(pl.Series(rng.random(n_items) >= 0.5), None)
    base_price = np.exp(rng.normal(3.5, 0.8, n_topics))
    price = np.round(base_price[item_topic] * np.exp(rng.normal(0.0, 0.5, n_items)), 2) + 0.99

    items = pl.DataFrame(
        {
            "item_id": _ids("i", n_items).alias("item_id"),
            "title": pl.select(
                pl.concat_str(title_parts, separator=" ", ignore_nulls=True)
            ).to_series(),
            "category": pl.Series(topics.names).gather(item_topic),
            "subcategory": words.gather(sub),
            "price": price,
            "tags": pl.select(pl.concat_list(tag_topic, tag_generic).list.drop_nulls()).to_series(),
        }
    )
    return item_topic, popularity, items


def _make_users(
    n_users: int, n_topics: int, n_facets: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pl.DataFrame]:
    """Facets (Gumbel top-k over a skewed topic prior), drifting weights, habits, attributes."""
    prior = rng.permutation(1.0 / np.sqrt(np.arange(1, n_topics + 1)))
    keys = np.log(prior) + rng.gumbel(size=(n_users, n_topics))
    facets = np.argsort(-keys, axis=1)[:, :n_facets]
    w_start = rng.dirichlet(np.ones(n_facets), n_users)
    w_end = rng.dirichlet(np.ones(n_facets), n_users)
    primary = facets[np.arange(n_users), np.argmax(w_start + w_end, axis=1)]

    # attributes loosely follow the topic preferences of the user's main facet
    pref_age = rng.integers(0, len(AGE_GROUPS), n_topics)
    pref_region = rng.integers(0, len(REGIONS), n_topics)
    female = rng.beta(2.0, 2.0, n_topics)
    age = np.where(
        rng.random(n_users) < 0.6, pref_age[primary], rng.integers(0, len(AGE_GROUPS), n_users)
    )
    region = np.where(
        rng.random(n_users) < 0.35, pref_region[primary], rng.integers(0, len(REGIONS), n_users)
    )
    gender = (rng.random(n_users) >= female[facets].mean(axis=1)).astype(np.int64)

    span = N_DAYS * rng.uniform(0.25, 1.0, n_users)
    users = pl.DataFrame(
        {
            "user_id": _ids("u", n_users),
            "age_group": pl.Series(AGE_GROUPS).gather(age),
            "gender": pl.Series(GENDERS).gather(gender),
            "region": pl.Series(REGIONS).gather(region),
            # habits, used by _make_events and dropped before returning
            "_device": rng.choice(len(DEVICES), n_users, p=[0.55, 0.35, 0.10]),
            "_peak": rng.choice([8, 12, 19, 21], n_users, p=[0.2, 0.2, 0.3, 0.3])
            + rng.integers(-1, 2, n_users),
            "_spread": rng.uniform(1.0, 3.0, n_users),
            "_first_day": rng.uniform(0.0, 1.0, n_users) * (N_DAYS - span),
            "_span": span,
            "_activity": rng.lognormal(0.0, 1.0, n_users),
        }
    )
    return facets, w_start, w_end, users


def _allocate(n_events: int, activity: np.ndarray) -> np.ndarray:
    """Events per user: the minimum plus a share proportional to ``activity``."""
    extra = n_events - MIN_EVENTS_PER_USER * len(activity)
    share = extra * activity / activity.sum()
    counts = np.floor(share).astype(np.int64)
    left = extra - int(counts.sum())
    if left > 0:
        counts[np.argsort(counts - share, kind="stable")[:left]] += 1
    return counts + MIN_EVENTS_PER_USER


def _funnel_starts(n_events: int, user_start: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row flags: True where an engagement (a view) starts; every user starts with one."""
    p = [
        1.0 - FUNNEL[0],
        FUNNEL[0] * (1.0 - FUNNEL[1]),
        FUNNEL[0] * FUNNEL[1] * (1.0 - FUNNEL[2]),
        FUNNEL[0] * FUNNEL[1] * FUNNEL[2],
    ]
    mean_len = float(np.dot(p, [1, 2, 3, 4]))
    lengths = np.empty(0, np.int64)
    while lengths.sum() < n_events:
        more = rng.choice(4, size=int(n_events / mean_len * 1.05) + 16, p=p) + 1
        lengths = np.concatenate([lengths, more])
    pos = np.cumsum(lengths) - lengths
    is_start = np.zeros(n_events, bool)
    is_start[pos[pos < n_events]] = True
    is_start[user_start] = True
    return is_start


def _make_events(
    n_events: int,
    item_topic: np.ndarray,
    popularity: np.ndarray,
    facets: np.ndarray,
    w_start: np.ndarray,
    w_end: np.ndarray,
    users: pl.DataFrame,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Funnel rows for all users, sorted by user then time."""
    counts = _allocate(n_events, users["_activity"].to_numpy())
    user_start = np.cumsum(counts) - counts
    is_start = _funnel_starts(n_events, user_start, rng)
    first = np.flatnonzero(is_start)  # (E,) first row of each engagement
    eng = np.cumsum(is_start) - 1  # (N,) engagement of each row
    stage = np.arange(n_events) - first[eng]
    eu = np.repeat(np.arange(users.height), counts)[first]  # (E,) user of each engagement

    frac = (first - user_start[eu]) / np.maximum(counts[eu] - 1, 1)  # position in the history
    topic = _pick_topics(frac, eu, facets, w_start, w_end, int(item_topic.max()) + 1, rng)
    item = _pick_items(topic, item_topic, popularity, rng)
    t_rel, device = _engagement_contexts(eu, users, rng)

    # funnel steps follow each other after a few seconds to minutes
    scale = np.asarray(STAGE_DELAY)[stage]
    delay = np.where(stage > 0, 1 + rng.exponential(1.0, n_events) * scale, 0).astype(np.int64)
    offset = np.cumsum(delay)
    ts = t_rel[eng] + offset - offset[first][eng]
    # a long funnel may overlap the user's next engagement: re-sort rows by (user, time)
    order = np.argsort((eu[eng] << 32) | ts, kind="stable")
    ts, eng, stage = ts[order] + BASE_TS, eng[order], stage[order]
    return pl.DataFrame(
        {
            "user_id": users["user_id"].gather(eu[eng]),
            "item_id": _ids("i", len(item_topic)).gather(item[eng]),
            "timestamp": ts,
            "event_type": pl.Series(EVENT_TYPES).gather(stage),
            "device": pl.Series(DEVICES).gather(device[eng]),
            "hour": (ts // 3600 % 24).astype(np.int8),
        }
    )


def _pick_topics(
    frac: np.ndarray,
    eu: np.ndarray,
    facets: np.ndarray,
    w_start: np.ndarray,
    w_end: np.ndarray,
    n_topics: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Topic of each engagement: a facet drawn by weights interpolated at ``frac``, or noise."""
    n_eng = len(eu)
    pick, acc, r = np.zeros(n_eng, np.int64), np.zeros(n_eng), rng.random(n_eng)
    for k in range(facets.shape[1] - 1):
        acc += (1.0 - frac) * w_start[eu, k] + frac * w_end[eu, k]
        pick += r >= acc
    topic = facets[eu, pick]
    noise = rng.random(n_eng) < TOPIC_NOISE
    topic[noise] = rng.integers(0, n_topics, int(noise.sum()))
    return topic


def _engagement_contexts(
    eu: np.ndarray, users: pl.DataFrame, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Start time (seconds after BASE_TS, sorted within user) and device of each engagement."""
    n_eng = len(eu)

    def habit(name: str) -> np.ndarray:
        return users[name].to_numpy()[eu]

    day = (habit("_first_day") + rng.random(n_eng) * habit("_span")).astype(np.int64)
    hour = np.rint(habit("_peak") + rng.normal(0.0, 1.0, n_eng) * habit("_spread"))
    t_rel = day * 86400 + (hour.astype(np.int64) % 24) * 3600 + rng.integers(0, 3600, n_eng)
    t_rel = np.sort((eu << 32) | t_rel) & 0xFFFFFFFF  # eu is sorted: this sorts within user
    loyal = rng.random(n_eng) < DEVICE_LOYALTY
    device = np.where(loyal, habit("_device"), rng.integers(0, len(DEVICES), n_eng))
    return t_rel, device


def _pick_items(
    topic: np.ndarray, item_topic: np.ndarray, popularity: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draw an item of each topic by popularity: one searchsorted over the stacked topic CDFs."""
    n_topics = int(item_topic.max()) + 1
    order = np.argsort(item_topic, kind="stable")
    # popularity sums to 1 per topic, so topic t's CDF occupies (t, t + 1] of the running sum
    stacked = np.cumsum(popularity[order])
    seg_end = np.searchsorted(item_topic[order], np.arange(n_topics), side="right") - 1
    stacked[seg_end] = np.arange(1, n_topics + 1)  # exact bounds despite rounding
    pos = np.searchsorted(stacked, topic + rng.random(len(topic)), side="right")
    return order[np.minimum(pos, len(order) - 1)]


def _write(result: SynthResult, out: Path) -> Path:
    (out / "truth").mkdir(parents=True, exist_ok=True)
    result.interactions.write_parquet(out / "interactions.parquet")
    result.items.write_parquet(out / "items.parquet")
    result.users.write_parquet(out / "users.parquet")
    result.facets.write_parquet(out / "truth" / "facets.parquet")
    result.item_topics.write_parquet(out / "truth" / "item_topics.parquet")
    (out / "prismrec.toml").write_text(CONFIG_TOML, encoding="utf-8")
    return out
