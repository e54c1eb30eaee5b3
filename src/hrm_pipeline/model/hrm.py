"""The Hierarchical Reasoning Model (Wang et al. 2025, arXiv 2506.21734) with its ACT wrapper, and the Tiny
Recursive Model (Jolicoeur-Martineau 2025, arXiv 2510.04871) as a config switch (`recurrence="trm"`).

Names in code -> symbols in the HRM paper:
    z_H, z_L          high-level (slow) and low-level (fast) recurrent states z_H, z_L; shape (B, P + S, D)
    H_level, L_level  the recurrent modules f_H, f_L (H_layers / L_layers post-norm blocks each)
    H_cycles          N, the number of high-level updates per segment
    L_cycles          T, the number of low-level updates per high-level update
    H_init, L_init    the fixed initial states z_H^0, z_L^0 (one vector each, broadcast over positions)
    segment()         one forward pass of the inner model f (N*T L-updates and N H-updates), "one ACT step" m
    q_head            the Q-head giving Q^m = (Q_halt, Q_continue) from z_H at position 0
    P                 puzzle-embedding positions before the S token positions: ceil(puzzle_emb_ndim / D)

TRM (`recurrence="trm"`) reuses the same fields and slots; names in code -> symbols in the TRM paper:
    z_H slot          y, the answer embedding (the output head and the Q-head read it, as they read z_H)
    z_L slot          z, the latent reasoning state
    L_level           the one network (L_layers blocks, 2 in the paper) used for both updates; no H_level
                      (H_layers is unused)
    H_cycles          T, recursions per supervision step (3 in the paper)
    L_cycles          n, latent updates per recursion (6 in the paper)
    H_init, L_init    the initial y and z
One recursion: n times z <- net(z + y + x), then once y <- net(y + z): HRM's update order with the H-module
replaced by the L-network, so both recurrences share one loop (`_recur`).

Switches that apply to both recurrences:
    gradient          "one_step": only the final L- and H-update are under autograd (HRM's 1-step gradient);
                      "last_recursion": every call of the last outer cycle is (TRM's full backprop through its
                      last recursion: n+1 calls). "auto" = one_step for hrm, last_recursion for trm.
    q_continue        True: HRM's Q-learning halting (halt where q_halt > q_continue; the continue
                      target needs one extra no-grad segment). False: TRM's single halting head, trained on
                      correctness only; halt where q_halt > 0 (sigmoid > 0.5); no extra segment. The head has
                      two outputs still (interface unchanged); the continue logit then gets no gradient.
    token_mixer       "attention" or "mlp" (a SwiGLU over the fixed sequence positions: TRM-MLP). The MLP's
                      weights are per position, so it needs no position encoding; RoPE is then inert.
`HRM.halts(q_halt, q_continue)` is the one halting rule; training and `inference.Predictor` both call it.

Deliberate differences from the reference code:
    - Exploration draws take an optional torch.Generator, so a seeded run repeats exactly.
    - Under autocast the residual stream (and the carry) stays float32 while the matmuls run in bf16; the
      reference casts everything to bf16. Slightly more memory, no loss of precision in the recurrence.
    - The Q-head has two outputs under q_continue=False too (TRM's has one), so segment() keeps its shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from hrm_pipeline.model.attention import BACKENDS
from hrm_pipeline.model.layers import Block, CastedEmbedding, CastedLinear, RotaryEmbedding, trunc_normal_
from hrm_pipeline.model.sparse_embedding import PuzzleEmbedding

POS_ENCODINGS = ("rope", "learned")
RECURRENCES = ("hrm", "trm")
GRADIENTS = ("auto", "one_step", "last_recursion")
TOKEN_MIXERS = ("attention", "mlp")
# Q-head starts strongly "continue-ish" and near-silent (sigmoid(-5) ~ 0.007): early training is not cut short
# by random halting decisions.
Q_HEAD_INIT_BIAS = -5.0
# Learned positions are added to token embeddings, then scaled by 1/sqrt(2) to keep the sum's variance.
LEARNED_POS_SCALE = 1.0 / math.sqrt(2.0)
# Exploration draws a minimum segment count uniform in [MIN_EXPLORATION_STEPS, halt_max_steps].
MIN_EXPLORATION_STEPS = 2


@dataclass
class HRMConfig:
    """Model hyper-parameters; defaults are the paper's. Plain scalars only (loadable from YAML)."""

    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int
    hidden_size: int = 512
    num_heads: int = 8
    expansion: float = 4.0
    H_layers: int = 4
    L_layers: int = 4
    H_cycles: int = 2
    L_cycles: int = 2
    pos_encodings: str = "rope"
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    puzzle_emb_ndim: int = -1  # -1 = hidden_size (the paper); 0 disables puzzle embeddings
    halt_max_steps: int = 16
    halt_exploration_prob: float = 0.1
    attention_backend: str = "auto"
    recurrence: str = "hrm"  # "hrm" | "trm" (see the module docstring for TRM's use of the fields)
    gradient: str = (
        "auto"  # "auto" | "one_step" | "last_recursion"; auto = one_step (hrm), last_recursion (trm)
    )
    q_continue: bool = True  # False: TRM's halting (no Q-continue target, no extra segment)
    token_mixer: str = "attention"  # "attention" | "mlp" (an MLP over the fixed positions: TRM-MLP)

    def __post_init__(self) -> None:
        if self.puzzle_emb_ndim == -1:
            self.puzzle_emb_ndim = self.hidden_size
        if self.gradient == "auto" and self.recurrence in RECURRENCES:
            self.gradient = "last_recursion" if self.recurrence == "trm" else "one_step"
        positive = (
            "vocab_size",
            "seq_len",
            "num_puzzle_identifiers",
            "hidden_size",
            "num_heads",
            "H_layers",
            "L_layers",
            "H_cycles",
            "L_cycles",
            "halt_max_steps",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"HRMConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} must be divisible by num_heads {self.num_heads}"
            )
        if (self.hidden_size // self.num_heads) % 2:
            raise ValueError(
                f"head dim {self.hidden_size // self.num_heads} must be even (RoPE rotates pairs)"
            )
        for name in ("expansion", "rope_theta", "rms_norm_eps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"HRMConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.puzzle_emb_ndim < 0:
            raise ValueError(
                f"puzzle_emb_ndim must be >= 0 (or -1 = hidden_size), got {self.puzzle_emb_ndim}"
            )
        if not 0.0 <= self.halt_exploration_prob <= 1.0:
            raise ValueError(f"halt_exploration_prob must be in [0, 1], got {self.halt_exploration_prob}")
        if self.pos_encodings not in POS_ENCODINGS:
            raise ValueError(f"pos_encodings must be one of {POS_ENCODINGS}, got {self.pos_encodings!r}")
        if self.attention_backend not in BACKENDS:
            raise ValueError(f"attention_backend must be one of {BACKENDS}, got {self.attention_backend!r}")
        if self.recurrence not in RECURRENCES:
            raise ValueError(f"recurrence must be one of {RECURRENCES}, got {self.recurrence!r}")
        if self.gradient not in GRADIENTS:
            raise ValueError(f"gradient must be one of {GRADIENTS}, got {self.gradient!r}")
        if self.token_mixer not in TOKEN_MIXERS:
            raise ValueError(f"token_mixer must be one of {TOKEN_MIXERS}, got {self.token_mixer!r}")
        if not isinstance(self.q_continue, bool):
            raise ValueError(f"q_continue must be true or false, got {self.q_continue!r}")

    @property
    def puzzle_emb_len(self) -> int:
        """Number of positions P the puzzle embedding occupies in front of the tokens."""
        return -(-self.puzzle_emb_ndim // self.hidden_size)

    @property
    def total_len(self) -> int:
        return self.puzzle_emb_len + self.seq_len


@dataclass
class Carry:
    """State carried from one ACT segment to the next (across optimiser steps)."""

    z_H: torch.Tensor  # (B, P + S, D)
    z_L: torch.Tensor  # (B, P + S, D)
    steps: torch.Tensor  # (B,) int32, segments run on the current rows
    halted: torch.Tensor  # (B,) bool; a halted row takes the next batch's row
    current_data: dict[str, torch.Tensor]  # the rows computed in the last segment: inputs, labels, ...


class ReasoningModule(nn.Module):
    """A stack of blocks applied to (state + injection): one update of z_H or z_L."""

    def __init__(self, config: HRMConfig, num_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            Block(
                config.hidden_size,
                config.num_heads,
                config.expansion,
                config.rms_norm_eps,
                config.attention_backend,
                mixer=config.token_mixer,
                seq_len=config.total_len,
            )
            for _ in range(num_layers)
        )

    def forward(self, state: torch.Tensor, injection: torch.Tensor, rope: tuple | None) -> torch.Tensor:
        hidden = state + injection
        for layer in self.layers:
            hidden = layer(hidden, rope)
        return hidden


class HRM(nn.Module):
    """HRM with adaptive computation time: each call runs one segment and updates the carry."""

    def __init__(self, config: HRMConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        d = config.hidden_size
        self.embed_scale = math.sqrt(d)
        self.embed_tokens = CastedEmbedding(config.vocab_size, d, init_std=1.0 / math.sqrt(d))
        self.puzzle_emb = (
            PuzzleEmbedding(config.num_puzzle_identifiers, config.puzzle_emb_ndim)
            if config.puzzle_emb_ndim > 0
            else None
        )
        if config.pos_encodings == "rope":
            self.rotary = RotaryEmbedding(d // config.num_heads, config.total_len, config.rope_theta)
            self.embed_pos = None
        else:
            self.rotary = None
            self.embed_pos = CastedEmbedding(config.total_len, d, init_std=1.0 / math.sqrt(d))
        # TRM: one network does both updates, so there is no H-module (None keeps the attribute readable).
        self.H_level = ReasoningModule(config, config.H_layers) if config.recurrence == "hrm" else None
        self.L_level = ReasoningModule(config, config.L_layers)
        self.lm_head = CastedLinear(d, config.vocab_size)
        self.q_head = CastedLinear(d, 2, bias=True)
        self.register_buffer("H_init", torch.empty(d))
        self.register_buffer("L_init", torch.empty(d))
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """(Re-)initialise every weight and the fixed initial states from `generator` (default: torch's)."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters(generator)
        trunc_normal_(self.H_init, std=1.0, generator=generator)
        trunc_normal_(self.L_init, std=1.0, generator=generator)
        if self.q_head.weight.device.type != "meta":
            with torch.no_grad():
                self.q_head.weight.zero_()
                self.q_head.bias.fill_(Q_HEAD_INIT_BIAS)

    # ----- the inner model: one segment -----

    def embed_input(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> torch.Tensor:
        """Input embedding x: puzzle positions then tokens, scaled by sqrt(D). (B, P + S, D)."""
        emb = self.embed_tokens(inputs)  # (B, S, D)
        if self.puzzle_emb is not None:
            batch, dim = emb.shape[0], emb.shape[-1]
            puzzle = self.puzzle_emb(puzzle_identifiers)  # (B, puzzle_emb_ndim)
            pad = self.config.puzzle_emb_len * dim - puzzle.shape[-1]
            puzzle = nn.functional.pad(puzzle, (0, pad)).view(batch, self.config.puzzle_emb_len, dim)
            emb = torch.cat((puzzle.to(emb.dtype), emb), dim=1)
        if self.embed_pos is not None:
            emb = LEARNED_POS_SCALE * (emb + self.embed_pos.weight.to(emb.dtype))
        return self.embed_scale * emb

    def _recur(self, z_H: torch.Tensor, z_L: torch.Tensor, x: torch.Tensor, rope: tuple | None):
        """H_cycles outer cycles of (L_cycles L-updates, then one H-update); the tail runs under autograd.

        HRM: z_L <- f_L(z_L + z_H + x), z_H <- f_H(z_H + z_L). TRM: the same with f_H = f_L
        (z <- net(z + y + x), y <- net(y + z)). Gradient "one_step": only the final L- and H-update record a
        graph (the paper's DEQ-style (I - J)^-1 ~ I), so memory is constant in both cycle counts.
        "last_recursion": the whole last outer cycle (L_cycles + 1 calls) does, so memory grows with L_cycles
        but not with H_cycles.
        """
        cfg = self.config
        outer, inner = cfg.H_cycles, cfg.L_cycles
        h_net = self.H_level if self.H_level is not None else self.L_level
        with torch.no_grad():
            for _ in range(outer - 1):
                for _ in range(inner):
                    z_L = self.L_level(z_L, z_H + x, rope)
                z_H = h_net(z_H, z_L, rope)
            if cfg.gradient == "one_step":
                for _ in range(inner - 1):
                    z_L = self.L_level(z_L, z_H + x, rope)
        for _ in range(inner if cfg.gradient == "last_recursion" else 1):
            z_L = self.L_level(z_L, z_H + x, rope)
        z_H = h_net(z_H, z_L, rope)
        return z_H, z_L

    def segment(self, z_H: torch.Tensor, z_L: torch.Tensor, data: dict[str, torch.Tensor]):
        """One pass of the inner model: returns (z_H, z_L, logits (B,S,V), q_halt (B,), q_continue (B,))."""
        x = self.embed_input(data["inputs"], data["puzzle_identifiers"])
        rope = self.rotary() if self.rotary is not None else None
        z_H, z_L = self._recur(z_H, z_L, x, rope)
        logits = self.lm_head(z_H[:, self.config.puzzle_emb_len :])  # (B, S, V)
        q = self.q_head(z_H[:, 0]).float()  # (B, 2)
        return z_H, z_L, logits, q[:, 0], q[:, 1]

    # ----- the ACT wrapper -----

    def halts(self, q_halt: torch.Tensor, q_continue: torch.Tensor) -> torch.Tensor:
        """Where the Q-head says stop, (B,) bool: q_halt > q_continue, or q_halt > 0 without Q-continue."""
        if self.config.q_continue:
            return q_halt > q_continue
        return q_halt > 0

    @property
    def q_continue_trained(self) -> bool:
        """Whether training computes a Q-continue target (not if halt_max_steps == 1, as in the reference)."""
        return self.config.q_continue and self.config.halt_max_steps > 1

    def initial_carry(self, batch: dict[str, torch.Tensor]) -> Carry:
        """A carry whose rows are all halted, so the first call takes every row of its batch."""
        size = batch["inputs"].shape[0]
        device = batch["inputs"].device
        shape = (size, self.config.total_len, self.config.hidden_size)
        return Carry(
            z_H=self.H_init.to(device).expand(shape).clone(),
            z_L=self.L_init.to(device).expand(shape).clone(),
            steps=torch.zeros(size, dtype=torch.int32, device=device),
            halted=torch.ones(size, dtype=torch.bool, device=device),
            current_data={k: torch.zeros_like(v) for k, v in batch.items()},
        )

    def _min_halt_steps(
        self, size: int, device: torch.device, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Per-row minimum segment count: 0, or w.p. halt_exploration_prob uniform in [2, max steps]."""
        # NOTE: redrawn every segment, as in the reference, so a row halts at step s with prob (s-1)/(max-1)
        # once Q says halt: exploration lengthens episodes without fixing one length per episode.
        draw_device = generator.device if generator is not None else device
        explore = (
            torch.rand(size, generator=generator, device=draw_device) < self.config.halt_exploration_prob
        )
        floor = torch.randint(
            MIN_EXPLORATION_STEPS,
            self.config.halt_max_steps + 1,
            (size,),
            generator=generator,
            device=draw_device,
        )
        return torch.where(explore, floor, 0).to(device=device, dtype=torch.int32, non_blocking=True)

    def forward(
        self, carry: Carry, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None
    ) -> tuple[Carry, dict[str, torch.Tensor]]:
        """Run one ACT segment. Halted rows of `carry` are replaced by `batch`'s rows and reset first."""
        cfg = self.config
        reset = carry.halted.view(-1, 1, 1)
        z_H = torch.where(reset, self.H_init, carry.z_H)
        z_L = torch.where(reset, self.L_init, carry.z_L)
        steps = torch.where(carry.halted, torch.zeros_like(carry.steps), carry.steps)
        data = {
            k: torch.where(carry.halted.view((-1,) + (1,) * (v.ndim - 1)), batch[k], v)
            for k, v in carry.current_data.items()
        }

        z_H, z_L, logits, q_halt, q_continue = self.segment(z_H, z_L, data)
        out = {"logits": logits, "q_halt_logits": q_halt, "q_continue_logits": q_continue}

        with torch.no_grad():
            steps = steps + 1
            is_last = steps >= cfg.halt_max_steps
            halted = is_last
            # NOTE: evaluation always runs halt_max_steps segments, so a whole batch halts together and the
            # answer is the one after the full budget (more steps at inference keep helping, per the paper).
            if self.training:
                halted = halted | self.halts(q_halt, q_continue)
                if cfg.halt_max_steps >= MIN_EXPLORATION_STEPS:
                    halted = halted & (steps >= self._min_halt_steps(steps.shape[0], steps.device, generator))
                if self.q_continue_trained:
                    # NOTE: bootstrap target from one more segment of the current network; no replay buffer
                    # or target network, since many parallel rows decorrelate the updates (as in PQN).
                    _, _, _, next_halt, next_continue = self.segment(z_H, z_L, data)
                    target = torch.where(is_last, next_halt, torch.maximum(next_halt, next_continue))
                    out["target_q_continue"] = torch.sigmoid(target)

        new_carry = Carry(z_H=z_H.detach(), z_L=z_L.detach(), steps=steps, halted=halted, current_data=data)
        return new_carry, out
