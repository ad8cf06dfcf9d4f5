"""The ``[train]`` and ``[tune]`` sections: the training loop and the search over it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from prismrec.config._base import Section
from prismrec.config._model import ModelConfig

__all__ = ["PARAM_SECTIONS", "SearchRange", "TrainConfig", "TuneConfig"]


class TrainConfig(Section):
    """``[train]``: training-loop settings shared by every trainable model."""

    epochs: int = Field(60, ge=1, description="most epochs (early stopping may end sooner)")
    batch_size: int = Field(128, ge=1, description="training rows per step")
    learning_rate: float = Field(2e-3, gt=0, description="AdamW peak learning rate")
    weight_decay: float = Field(0.01, ge=0, description="AdamW decoupled weight decay")
    warmup_ratio: float = Field(
        0.05, ge=0.0, lt=1.0, description="share of steps of linear warm-up before cosine decay"
    )
    grad_clip: float = Field(1.0, ge=0.0, description="max gradient norm; 0 = off")
    grad_accum: int = Field(1, ge=1, description="steps whose gradients add up before an update")
    loss: Literal["ce", "sampled", "bce"] = Field(
        "ce",
        description="full softmax cross-entropy, sampled softmax with logQ correction, or "
        "sigmoid with sampled negatives",
    )
    window_stride: int | None = Field(
        None, ge=1, description="targets per training row (None: max_seq_len, no overlap)"
    )
    n_negatives: int = Field(256, ge=1, description="sampled softmax / BCE negatives")
    precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="output-layer logits of the 'ce' loss: auto = bfloat16 on CPUs with native "
        "bf16, float32 elsewhere",
    )
    aux_weight: float = Field(0.1, ge=0.0, description="next-behaviour-type task weight")
    schedule: Literal["plateau", "cosine"] = Field(
        "plateau",
        description="learning rate after the warm-up: plateau = constant until validation "
        "NDCG@10 stops improving for 'patience' epochs, then back to the best weights and a "
        "linear decay to zero over 'cooldown' of the epochs so far, then stop (without "
        "validation the decay takes the last epochs); cosine = cosine decay over 'epochs', "
        "early-stopped after 'patience' epochs without a gain",
    )
    cooldown: float = Field(
        0.25,
        gt=0.0,
        le=1.0,
        description="plateau: the decay's length as a share of the epochs before it (at "
        "least 2 epochs)",
    )
    patience: int = Field(
        2,
        ge=1,
        description="epochs without a better validation NDCG@10 before the decay (plateau) "
        "or the stop (cosine)",
    )
    min_gain: float = Field(
        0.0,
        ge=0.0,
        description="early stopping: a better validation NDCG@10 counts only when its gain is "
        "above this many standard errors of the per-user difference (0: any gain)",
    )
    ema_epochs: float = Field(
        2.0,
        ge=0.0,
        description="validate, early-stop on and keep an exponential moving average of the "
        "weights over about this many epochs of steps (0: the raw weights); it smooths the "
        "step-to-step noise the early-stopping choice would otherwise pick up",
    )
    eval_every: int = Field(1, ge=1, description="validate every this many epochs")
    valid_users: int = Field(
        5000,
        ge=0,
        description="users of the validation split that early stopping reads each epoch: a "
        "fixed sample drawn with the seed (0 = all); later choices use them all",
    )
    threads: int = Field(
        0, ge=0, description="torch CPU threads (0 = every core this process may use)"
    )
    device: str = Field(
        "auto",
        pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="where to train: auto (a GPU when torch sees one, else the CPU), cpu, "
        "cuda or cuda:N",
    )
    tensorboard: str | None = Field(
        None, description="TensorBoard log directory (needs 'pip install tensorboard')"
    )
    seed: int = Field(42, description="seed of initialisation, shuffling and dropout")


PARAM_SECTIONS: dict[str, type[ModelConfig] | type[TrainConfig]] = {
    "model": ModelConfig,
    "train": TrainConfig,
}
"""The sections a model is built from: ``train(**params)`` and ``[tune] space`` keys."""


class SearchRange(Section):
    """One dimension of ``[tune] space``: a range (``low``, ``high``; ``log``, ``step``) or a
    list of ``choices``."""

    low: float | None = Field(None, description="smallest value of a range")
    high: float | None = Field(None, description="largest value of a range")
    log: bool = Field(False, description="sample the range on a log scale (low > 0)")
    step: float | None = Field(None, gt=0, description="a range's step (integer keys: 1)")
    choices: list[bool | int | float | str] | None = Field(
        None, min_length=1, description="the values to try, instead of a range"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SearchRange:
        ranged = self.low is not None or self.high is not None
        if self.choices is not None:
            if ranged or self.log or self.step is not None:
                raise ValueError("give either choices or low/high, not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high (or choices)")
        if not self.low < self.high:
            raise ValueError(f"low must be below high, got {self.low} and {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")
        if self.log and self.step is not None:
            raise ValueError("a log range takes no step")
        return self


def _default_space() -> dict[str, SearchRange]:
    return {
        "train.learning_rate": SearchRange(low=3e-4, high=1e-2, log=True),
        "model.embedding_dim": SearchRange(choices=[32, 64, 128]),
        "model.dropout": SearchRange(low=0.0, high=0.5),
        "model.n_interests": SearchRange(choices=[1, 2, 4]),
        "train.weight_decay": SearchRange(low=1e-4, high=0.1, log=True),
    }


class TuneConfig(Section):
    """``[tune]``: ``prismrec tune``, a hyper-parameter search (Optuna)."""

    trials: int = Field(20, ge=1, description="trials to run (in this process)")
    timeout_s: float | None = Field(
        None, gt=0, description="stop starting trials after this many seconds (None: no limit)"
    )
    space: dict[str, SearchRange] = Field(
        default_factory=_default_space,
        description="what to search: 'model.KEY' or 'train.KEY' -> {low, high, log, step} or "
        "{choices = [...]}; a key of [model] or [train] (default: learning rate, width, "
        "dropout, number of interests, weight decay)",
    )
    pruning: bool = Field(
        True,
        description="stop a trial whose validation NDCG@10 after an epoch is below the median "
        "of the earlier trials at that epoch (after 3 trials and 2 epochs)",
    )
    sampler_seed: int = Field(0, description="seed of the TPE sampler")
    storage: str | None = Field(
        None,
        description="Optuna storage URL holding the study (sqlite:///study.db, "
        "postgresql://...): processes on one study share its trials, and a run resumes it "
        "(None: OUT/study.db)",
    )
    study: str = Field("prismrec", min_length=1, description="the study's name in the storage")

    @field_validator("space")
    @classmethod
    def _known_keys(cls, v: dict[str, SearchRange]) -> dict[str, SearchRange]:
        for key in v:
            section, _, name = key.partition(".")
            if section not in PARAM_SECTIONS or name not in PARAM_SECTIONS[section].model_fields:
                raise ValueError(
                    f"{key!r} is not a [model] or [train] key; write 'model.KEY' or "
                    "'train.KEY' (see 'prismrec config show')"
                )
        if not v:
            raise ValueError("the search space is empty")
        return v
