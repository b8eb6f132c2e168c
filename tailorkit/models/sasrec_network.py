"""SASRec's network (the causal transformer encoder with tied item embeddings and optional
text projection), its training batches, weight averaging and the ONNX graph it serves with."""

from __future__ import annotations

import math

import numpy as np

from tailorkit.models.compressed import onnx_session
from tailorkit.models.torch_utils import default_threads
from tailorkit.optional import require


def member_budget(budget_s: float | None, members: int, workers: int) -> float | None:
    """Each member's time budget: the bag's budget shared by the rounds of ``workers``."""
    return budget_s / math.ceil(members / workers) if budget_s else budget_s


def mean_state(states: dict[int, dict], centre: int, reach: int) -> dict:
    """The mean parameters of epochs ``centre - reach .. centre + reach`` (those kept)."""
    chosen = [states[e] for e in range(centre - reach, centre + reach + 1) if e in states]
    return {k: sum(s[k] for s in chosen) / len(chosen) for k in chosen[0]}


# ---------------------------------------------------------------- batches
def history_mask(inputs, used, targets, n_items: int):
    """(positions × items): True for the items already in a position's window up to and
    including it, the target excepted. With ``mask_seen`` they leave the training softmax,
    as evaluation and ``recommend`` never rank a user's seen items."""
    import torch

    length = inputs.shape[1]
    earlier = torch.ones(length, length, dtype=torch.bool).tril()  # [t, s]: s <= t
    b, t, s = (earlier[None] & (inputs[:, None, :] > 0) & used[:, :, None]).nonzero(as_tuple=True)
    position = used.flatten().cumsum(0).view_as(used) - 1  # (b, t) -> row of hidden[used]
    mask = torch.zeros(len(targets), n_items, dtype=torch.bool)
    mask[position[b, t], inputs[b, s] - 1] = True
    mask[torch.arange(len(targets)), targets - 1] = False
    return mask


def training_windows(sequences: list[np.ndarray], max_len: int) -> np.ndarray:
    """Every sequence cut from its end into windows of ``max_len + 1`` items (codes + 1,
    left-padded with 0) overlapping by one item, so each transition is trained once."""
    out = []
    width = max_len + 1
    for seq in sequences:
        shifted = np.asarray(seq, dtype=np.int64) + 1
        end = len(shifted)
        while end > 1:
            start = max(0, end - width)
            row = np.zeros(width, dtype=np.int64)
            row[width - (end - start) :] = shifted[start:end]
            out.append(row)
            end = start + 1
    return np.stack(out) if out else np.zeros((0, width), dtype=np.int64)


def fast_bf16() -> bool:
    """Whether the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); else float32."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def length_buckets(windows, batch_size: int, rng, pool: int = 50):
    """Batches of window indices in random order, each drawn from a pool of similar
    lengths so that little left padding is computed; every window once per epoch."""
    import torch

    lengths = (windows > 0).sum(1).numpy()
    order = rng.permutation(len(windows))
    batches = []
    step = batch_size * pool
    for start in range(0, len(order), step):
        chunk = order[start : start + step]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    for position in rng.permutation(len(batches)):
        yield torch.from_numpy(batches[position])


def left_pad(histories: list[np.ndarray], max_len: int) -> np.ndarray:
    """The last ``max_len`` items of each history (codes + 1), left-padded with 0."""
    out = np.zeros((len(histories), max_len), dtype=np.int64)
    for row, history in enumerate(histories):
        tail = np.asarray(history[-max_len:], dtype=np.int64) + 1
        if len(tail):
            out[row, max_len - len(tail) :] = tail
    return out


def onnx_scorer(model):
    """An onnxruntime session mapping left-padded histories ``seq`` (users x max_len codes + 1)
    to every item's score (users x n_items), the item table folded in as a constant."""
    require("onnx", "onnxruntime", extra="onnx", feature="SASRec's compiled scorer (serving)")
    import io
    import warnings

    import torch

    class Scorer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.network = model.network_
            self.register_buffer("table", model._item_table().detach().clone())

        def forward(self, seq):
            hidden = self.network.encode(seq, self.table, causal=True)[:, -1]
            return hidden @ self.table[1 : model.n_items_ + 1].T

    scorer, buffer = Scorer().eval(), io.BytesIO()
    example = torch.from_numpy(left_pad([np.arange(3)], model.max_len))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            scorer,
            (example,),
            buffer,
            input_names=["seq"],
            output_names=["scores"],
            dynamic_axes={"seq": {0: "users"}, "scores": {0: "users"}},
            opset_version=17,
            dynamo=False,
        )
    return onnx_session(buffer.getvalue(), model.n_threads or default_threads())


def build_network(n_items: int, params, text_dim: int):
    """The encoder as in SASRec's reference implementations (RecBole's layout): the item +
    position embedding layer-normalised and dropped out, post-norm blocks with dropout on the
    attention weights too, every weight drawn from N(0, 0.02) with zero biases. Positions
    count from the first item of the (left-padded) window. Measured on ml-latest-small's
    validation users this layout reached NDCG@10 0.066 where a pre-norm one with PyTorch's
    default init levelled off at 0.043, same loop and settings (BENCHMARKS.md)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        def __init__(self, d: int, heads: int, dropout: float):
            super().__init__()
            self.heads, self.p = heads, dropout
            self.norm1, self.norm2 = nn.LayerNorm(d, eps=1e-12), nn.LayerNorm(d, eps=1e-12)
            self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
            self.drop = nn.Dropout(dropout)

        def forward(self, x, mask):
            B, L, d = x.shape
            qkv = self.qkv(x).view(B, L, 3, self.heads, d // self.heads)
            q, k, v = qkv.permute(2, 0, 3, 1, 4)
            p = self.p if self.training else 0.0
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
            x = self.norm1(x + self.drop(self.out(attended.transpose(1, 2).reshape(B, L, d))))
            return self.norm2(x + self.drop(self.ff(x)))

    class Network(nn.Module):
        def __init__(self):
            super().__init__()
            d = params.hidden
            self.mask_token = n_items + 1
            self.item = nn.Embedding(n_items + 2, d, padding_idx=0)
            self.text_proj = nn.Linear(text_dim, d, bias=False) if text_dim else None
            self.register_buffer("text", torch.zeros(n_items + 2, text_dim))
            self.register_buffer("id_off", torch.zeros(n_items + 2, dtype=torch.bool))
            self.pos = nn.Embedding(params.max_len, d)
            self.blocks = nn.ModuleList(
                Block(d, params.heads, params.dropout) for _ in range(params.layers)
            )
            self.norm = nn.LayerNorm(d, eps=1e-12)
            self.drop = nn.Dropout(params.dropout)
            for module in self.modules():
                if isinstance(module, (nn.Linear, nn.Embedding)):
                    nn.init.normal_(module.weight, std=0.02)
                if isinstance(module, nn.Linear) and module.bias is not None:
                    nn.init.zeros_(module.bias)
            with torch.no_grad():
                self.item.weight[0].zero_()

        def item_table(self, drop):
            """Every item's vector: its id embedding (unless switched off) + projected text."""
            off = self.id_off if drop is None else self.id_off | drop
            table = self.item.weight * (~off).unsqueeze(1).to(self.item.weight.dtype)
            if self.text_proj is not None:
                table = table + self.text_proj(self.text)
            return table

        def encode(self, seq, table, causal: bool):
            L = seq.shape[1]
            present = seq > 0
            position = torch.arange(L)
            from_start = (position[None, :] - (~present).sum(1, keepdim=True)).clamp(min=0)
            x = self.norm(table[seq] + self.pos(from_start))
            x = self.drop(x) * present.unsqueeze(-1)
            mask = present[:, None, None, :]
            if causal:
                mask = mask & (position[None, :] <= position[:, None])
            mask = mask | (position[None, :] == position[:, None])  # no row without a key
            for block in self.blocks:
                x = block(x, mask)
            return x

    return Network()
