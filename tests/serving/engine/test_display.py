"""Display fields without HTTP: the one title/category rule, lookups, search, ``fields=``."""

from __future__ import annotations

import math
import re

import numpy as np
import polars as pl
import pytest

from prismrec.data.schema import ItemFields, pick_category_field, pick_title_field
from prismrec.errors import DataError
from prismrec.evaluation import beyond
from prismrec.serving.engine import ItemDisplay, attach_fields
from prismrec.serving.engine.catalog import LiveCatalog

FIELDS = {"text": ["blurb", "title"], "multi": ["tags", "genres"], "numeric": ["year"]}
ITEMS = pl.DataFrame(
    {
        "item_idx": [3, 1, 2],  # unsorted on purpose: rows follow item_idx
        "item_id": ["c", "a", "b"],
        "blurb": ["x", "y", "z"],
        "title": ["Toy Story 2", "Toy Story", "A Toy Soldier"],
        "tags": [["pixar"], [], None],
        "genres": [["Animation"], ["Animation", "Comedy"], ["War"]],
        "year": [1999.0, 1995.0, float("nan")],
    }
)


def test_one_rule_names_the_title_and_the_category() -> None:
    kinds = ItemFields.from_dict(FIELDS)
    cols = list(ITEMS.columns)
    assert pick_title_field(kinds, cols) == "title"  # by name, not by position
    assert pick_title_field(ItemFields(text=("blurb", "name")), ["blurb", "name"]) == "name"
    assert pick_title_field(ItemFields(text=("blurb",)), ["blurb"]) == "blurb"
    assert pick_title_field(ItemFields(text=("title",)), ["item_id"]) is None  # no such column
    assert pick_category_field(kinds, cols) == ("genres", True)  # not the first multi field
    assert beyond.pick_category_field is pick_category_field  # evaluation uses the same rule
    cat = LiveCatalog(ITEMS, FIELDS)
    assert cat.category_field == "genres" and cat.display.title_field == "title"
    assert cat.metadata.category_names[:2] == ["Animation", "Comedy"]


def test_fields_by_row_put_items_and_json_safe_values() -> None:
    d = ItemDisplay(ITEMS, FIELDS)
    assert d.default == ["title", "genres"]
    assert d.get([1, 3, 0, 9], ["title", "year"]) == [
        {"title": "Toy Story", "year": 1995.0},
        {"title": "Toy Story 2", "year": 1999.0},
        {},
        {},
    ]
    assert d.get([2], ["year"]) == [{"year": None}]  # NaN is not JSON
    d.put(1, {"title": "Toy Story (remastered)"})  # a PUT replaces the whole record
    assert d.get([1], ["title", "genres"]) == [{"title": "Toy Story (remastered)", "genres": None}]
    d.put(4, {"title": "Brand New", "genres": ["Drama"]})
    assert d.get([4], d.default) == [{"title": "Brand New", "genres": ["Drama"]}]
    assert d.get([1, 2], []) == [{}, {}]


def test_resolve_fields() -> None:
    d = ItemDisplay(ITEMS, FIELDS)
    assert d.resolve(None) == d.resolve([]) == d.resolve([""]) == ["title", "genres"]
    assert d.resolve(["none"]) == []
    assert (
        d.resolve(["all"])
        == d.resolve(["title,all"])
        == ["blurb", "title", "tags", "genres", "year"]
    )
    assert d.resolve(["year", "title,year"]) == ["year", "title"]
    assert d.resolve(["none,year"]) == ["year"]
    with pytest.raises(DataError, match=r"unknown display field\(s\) \['price'\].*'title'"):
        d.resolve(["title,price"])
    pattern = re.compile(d.pattern)
    assert all(pattern.match(v) for v in ["", "none", "all", "title,year", "title,,genres"])
    assert not any(pattern.match(v) for v in ["price", "title,price", "titles"])


def test_search_ranks_prefix_then_popularity_and_skips_removed_items() -> None:
    d = ItemDisplay(ITEMS, FIELDS)
    live = np.array([False, True, True, True])
    pop = np.array([-math.inf, 1.0, 5.0, 3.0])
    # "toy story" starts rows 1 and 3 (row 3 the more popular); row 2 has "toy" inside
    assert d.search("TOY", 10, live, pop) == [3, 1, 2]
    assert d.search("toy", 10, live) == [1, 3, 2]  # no popularity: the shorter title first
    assert d.search("story 2", 10, live, pop) == [3]
    assert d.search("toy", 1, live, pop) == [3]
    assert d.search("  ", 10, live, pop) == []
    live[3] = False
    assert d.search("toy", 10, live, pop) == [1, 2]
    d.put(4, {"title": "Toy Box"})
    assert d.search("toy", 10, np.append(live, True), np.append(pop, 9.0)) == [4, 1, 2]


def test_attach_fields_reaches_every_item_of_an_answer() -> None:
    cat = LiveCatalog(ITEMS, FIELDS)
    answer = {
        "items": [{"item_id": "a", "explanation": {"events": [{"item_id": "c"}]}}],
        "interests": [{"top_items": [{"item_id": "b"}]}],
        "events": [{"item_id": "zzz"}],
    }
    out = attach_fields(answer, cat.display, cat.index, ["title"])
    assert out["items"][0]["fields"] == {"title": "Toy Story"}
    assert out["items"][0]["explanation"]["events"][0]["fields"] == {"title": "Toy Story 2"}
    assert out["interests"][0]["top_items"][0]["fields"] == {"title": "A Toy Soldier"}
    assert out["events"][0]["fields"] == {}  # an id the catalogue does not know
    bare = attach_fields({"items": [{"item_id": "a"}]}, cat.display, cat.index, [])
    assert bare == {"items": [{"item_id": "a"}]}
