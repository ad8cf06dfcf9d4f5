"""Item tower: shapes, missing modalities, ID and modality dropout, cold items; adaptors; LoRA."""

from __future__ import annotations

import pytest
import torch

from prismrec.errors import ConfigError
from prismrec.models.adaptor import LoRAEncoder, MoEAdaptor
from prismrec.models.fusion import ItemInputs, ItemTower

N, D = 6, 16


def _tower(**kw) -> ItemTower:
    torch.manual_seed(0)
    args = {
        "text_dim": 12,
        "categorical_sizes": {"genres": 5, "tags": 4},
        "numeric_dim": 2,
        "vector_dims": {"image": 8},
        "n_items": 10,
    }
    args.update(kw)
    return ItemTower(D, **args)


def _inputs(ids: list[int] | None = None) -> ItemInputs:
    g = torch.Generator().manual_seed(1)
    b = torch.tensor
    return ItemInputs(
        text=torch.randn(N, 12, generator=g),
        text_mask=b([1, 1, 0, 1, 0, 0]).bool(),
        categorical={
            "genres": b([[1, 2], [3, 0], [4, 0], [0, 0], [0, 0], [0, 0]]),
            "tags": b([[1], [0], [0], [2], [0], [0]]),
        },
        numeric=torch.randn(N, 2, generator=g),
        numeric_mask=b([[1, 1], [1, 0], [0, 0], [0, 0], [0, 0], [0, 0]]).bool(),
        vectors={"image": torch.randn(N, 8, generator=g)},
        vector_masks={"image": b([1, 0, 0, 0, 1, 0]).bool()},
        item_ids=None if ids is None else b(ids),
    )


def test_output_shapes_for_every_configuration() -> None:
    x = _inputs([1, 2, 3, 4, 5, 6])
    assert _tower().eval()(x).shape == (N, D)
    assert _tower(n_items=0).eval()(x).shape == (N, D)
    text_only = ItemTower(D, text_dim=12).eval()
    assert text_only(ItemInputs(text=x.text)).shape == (N, D)
    assert text_only.modalities == ["text"]
    id_only = ItemTower(D, n_items=10).eval()
    assert id_only(ItemInputs(item_ids=x.item_ids)).shape == (N, D)
    assert _tower().modalities == ["text", "cat:genres", "cat:tags", "numeric", "vec:image"]
    with pytest.raises(ConfigError, match="at least one content modality"):
        ItemTower(D)


def test_gate_mixes_only_present_modalities() -> None:
    tower = _tower().eval()
    content, w = tower.fuse(_inputs())
    assert w.shape == (N, 5)
    present = torch.tensor(
        [
            [1, 1, 1, 1, 1],
            [1, 1, 0, 1, 0],
            [0, 1, 0, 0, 0],
            [1, 0, 1, 0, 0],
            [0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0],
        ]
    ).bool()
    assert (w[~present] == 0).all()
    assert torch.allclose(w[:5].sum(1), torch.ones(5))
    assert torch.isfinite(content).all()
    # the item with nothing present gets the constant "no content" vector, not NaN
    assert torch.allclose(content[5], tower.out.bias)


def test_missing_inputs_behave_like_absent_modalities() -> None:
    tower = _tower(n_items=0).eval()
    x = _inputs()
    partial = ItemInputs(text=x.text, text_mask=x.text_mask)  # nothing else given
    _, w = tower.fuse(partial)
    assert (w[:, 1:] == 0).all() and torch.allclose(w[x.text_mask, 0], torch.ones(3))


def test_cold_items_get_nonzero_vectors_that_differ_by_content() -> None:
    tower = _tower().eval()
    x = _inputs([0, 0, 0, 0, 0, 0])  # never seen in training: no ID
    out = tower(x)
    assert (out[:5].norm(dim=1) > 0).all()
    assert not torch.allclose(out[0], out[1])
    assert torch.allclose(out, tower(_inputs()))  # no ID == content only
    # an ID beyond the table (an item added after training) also falls back to content
    assert torch.allclose(tower(_inputs([0, 0, 0, 0, 99, 0])), out)


def test_warm_ids_change_the_vector_in_eval_without_randomness() -> None:
    tower = _tower().eval()
    warm = _inputs([1, 2, 3, 4, 5, 6])
    a, b = tower(warm), tower(warm)
    assert torch.equal(a, b)
    assert not torch.allclose(a, tower(_inputs()))


def test_id_dropout_hides_ids_at_the_given_rate_in_training() -> None:
    n = 2000
    tower = ItemTower(
        D, text_dim=4, n_items=n, id_dropout=0.3, modality_dropout=0.0, adaptor_dropout=0.0
    )
    tower.text_proj.noisy_gating = False
    x = ItemInputs(text=torch.randn(n, 4), item_ids=torch.arange(1, n + 1))
    tower.train()
    content = tower(ItemInputs(text=x.text))
    out = tower(x)
    dropped = torch.isclose(out, content, atol=1e-6).all(dim=1).float().mean().item()
    assert 0.25 < dropped < 0.35
    always = ItemTower(
        D, text_dim=4, n_items=n, id_dropout=1.0, modality_dropout=0.0, adaptor_dropout=0.0
    ).train()
    always.text_proj.noisy_gating = False
    assert torch.allclose(always(x), always(ItemInputs(text=x.text)))


def test_modality_dropout_keeps_at_least_one_modality() -> None:
    tower = _tower(modality_dropout=0.9).train()
    torch.manual_seed(3)
    _, w = tower.fuse(_inputs())
    assert torch.allclose(w[:5].sum(1), torch.ones(5))  # never all dropped
    assert (w[:2] == 0).any()  # but some present modalities were hidden
    _, w_eval = tower.eval().fuse(_inputs())
    assert (w_eval[0] > 0).all()  # eval: no dropout


def test_gradients_reach_every_modality() -> None:
    tower = _tower().train()
    tower(_inputs([1, 2, 3, 4, 5, 6])).pow(2).sum().backward()
    for name in (
        "text_proj.experts.0.linear.weight",
        "bags.0.weight",
        "bags.1.weight",
        "numeric_proj.0.weight",
        "vector_projs.0.experts.0.linear.weight",
        "gate.weight",
        "id_embedding.weight",
    ):
        grad = dict(tower.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_select_picks_rows_of_every_tensor() -> None:
    x = _inputs([1, 2, 3, 4, 5, 6])
    sub = x.select(torch.tensor([4, 0]))
    assert sub.item_ids.tolist() == [5, 1]
    assert sub.categorical["genres"].shape == (2, 2) and sub.vector_masks["image"].tolist() == [
        True,
        True,
    ]
    tower = _tower().eval()
    assert torch.allclose(tower(sub), tower(x)[[4, 0]], atol=1e-6)


def test_moe_adaptor_gates_and_centre() -> None:
    moe = MoEAdaptor(12, D, n_experts=3, dropout=0.0).eval()
    x = torch.randn(5, 12)
    g = moe.gates(x)
    assert g.shape == (5, 3) and torch.allclose(g.sum(1), torch.ones(5))
    assert moe(x).shape == (5, D)
    moe.set_centre(x.mean(0))
    assert torch.allclose(moe.experts[2].bias, x.mean(0))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_lora_trains_only_adapters_of_the_top_layers() -> None:
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    bert = BertModel(
        BertConfig(
            vocab_size=50,
            hidden_size=16,
            num_hidden_layers=3,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=16,
        )
    )
    enc = LoRAEncoder(bert, top_layers=1, r=2, alpha=4)
    trainable = [n for n, p in enc.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and ".layer.2." in n for n in trainable)
    ids = torch.randint(1, 50, (4, 7))
    mask = torch.ones(4, 7, dtype=torch.long)
    mask[0, 4:] = 0
    before = enc(ids, mask)
    assert before.shape == (4, 16)
    assert torch.allclose(before.norm(dim=1), torch.ones(4), atol=1e-5)
    frozen = {n: p.detach().clone() for n, p in enc.named_parameters() if not p.requires_grad}
    opt = torch.optim.SGD([p for p in enc.parameters() if p.requires_grad], lr=1.0)
    for _ in range(3):
        opt.zero_grad()
        (enc(ids, mask) @ torch.ones(16)).sum().backward()
        opt.step()
    assert not torch.allclose(enc(ids, mask), before)
    assert all(torch.equal(p, frozen[n]) for n, p in enc.named_parameters() if n in frozen)
    with pytest.raises(ConfigError, match="between 1 and 3"):
        LoRAEncoder(BertModel(bert.config), top_layers=4)
