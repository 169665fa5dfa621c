"""The feature alignment module: E encoders' features (N, E, D) -> one representation (N, D_out).

Applied after pretraining, on the frozen or fine-tuned encoders' features, and trained with the
downstream head (docs/method.md). `forward` returns the fused representation and the aligned
per-encoder features (N, E, D) that the alignment loss (asma/objectives/alignment.py) compares.

Kinds (`alignment.kind`):
- `mean`: no parameters, the mean of the encoders' features ("no alignment").
- `concat`: no parameters, the features side by side (D_out = E * D).
- `linear`: each encoder's feature through its own learned D -> D projection into a shared
  space, fused by the mean.
- `cross_attention`: each feature is split into `tokens` tokens of D / tokens; each encoder's
  tokens attend (with `heads` heads) to the tokens of all the other encoders, so with two
  encoders A attends to B and B to A; residual + LayerNorm; each encoder's tokens are joined back
  to D and the encoders are fused by the mean. With one encoder there is no other encoder to
  attend to, and the module degenerates to self-attention over the encoder's own tokens.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from asma.config.schema import AlignmentConfig
from asma.errors import ConfigError


class LinearAlignment(nn.Module):
    """One D -> D projection per encoder, applied to all encoders in one einsum."""

    def __init__(self, num_encoders: int, dim: int):
        super().__init__()
        eye = torch.eye(dim).expand(num_encoders, dim, dim).clone()
        # start at the identity: before training, `linear` is `mean`
        self.weight = nn.Parameter(eye + 0.01 * torch.randn_like(eye))
        self.bias = nn.Parameter(torch.zeros(num_encoders, dim))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """(N, E, D) -> (N, E, D)."""
        return torch.einsum("ned,edf->nef", feats, self.weight) + self.bias


class CrossAttentionAlignment(nn.Module):
    """Bidirectional multi-head cross-attention between the encoders' token sequences."""

    def __init__(self, num_encoders: int, dim: int, tokens: int, heads: int):
        super().__init__()
        if dim % tokens:
            raise ConfigError("alignment", "tokens", f"feature size {dim} is not divisible into {tokens} tokens; "
                              "choose a divisor of encoder.feature_dim")
        token_dim = dim // tokens
        if token_dim % heads:
            raise ConfigError("alignment", "heads", f"token size {token_dim} (= {dim} / {tokens} tokens) is not "
                              f"divisible by {heads} heads; lower alignment.heads or alignment.tokens")
        self.tokens, self.token_dim = tokens, token_dim
        # which token of which encoder: attention itself is blind to position
        self.position = nn.Parameter(0.02 * torch.randn(num_encoders, tokens, token_dim))
        self.attend = nn.ModuleList(
            nn.MultiheadAttention(token_dim, heads, batch_first=True) for _ in range(num_encoders))
        self.norm = nn.ModuleList(nn.LayerNorm(token_dim) for _ in range(num_encoders))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """(N, E, D) -> (N, E, D)."""
        n, e, d = feats.shape
        seq = feats.view(n, e, self.tokens, self.token_dim) + self.position  # (N, E, T, d)
        out = []
        for i, (attend, norm) in enumerate(zip(self.attend, self.norm)):
            query = seq[:, i]
            others = [seq[:, j] for j in range(e) if j != i] or [query]  # one encoder: self-attention
            context = torch.cat(others, dim=1)
            attended, _ = attend(query, context, context, need_weights=False)
            out.append(norm(query + attended))
        return torch.stack(out, dim=1).reshape(n, e, d)


class AlignmentHead(nn.Module):
    """(N, E, D) encoder features -> (fused (N, out_dim), aligned (N, E, D))."""

    def __init__(self, cfg: AlignmentConfig, num_encoders: int, feature_dim: int):
        super().__init__()
        self.kind = cfg.kind
        self.num_encoders, self.feature_dim = num_encoders, feature_dim
        self.out_dim = feature_dim * num_encoders if cfg.kind == "concat" else feature_dim
        if cfg.kind == "linear":
            self.align = LinearAlignment(num_encoders, feature_dim)
        elif cfg.kind == "cross_attention":
            self.align = CrossAttentionAlignment(num_encoders, feature_dim, cfg.tokens, cfg.heads)
        else:
            self.align = nn.Identity()

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if feats.dim() != 3 or feats.shape[1:] != (self.num_encoders, self.feature_dim):
            raise ValueError(f"expected features (N, {self.num_encoders}, {self.feature_dim}), got {tuple(feats.shape)}")
        aligned = self.align(feats)
        fused = aligned.flatten(1) if self.kind == "concat" else aligned.mean(dim=1)
        return fused, aligned
