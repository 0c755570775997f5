"""A GPT-2-style decoder in PyTorch with seeded weights (nothing downloaded) and a KV cache, for the
example generation service (generate_service.py): token + position embeddings; per layer pre-LN
causal self-attention (fused QKV, output projection) and a GELU feed-forward, both residual; a final
LayerNorm and the embedding matrix as the output head (tied). The KV cache is preallocated, one slot
per running sequence (max-num-seqs slots of max-len positions): a prefill writes a prompt's keys and
values into its slot, a decode step appends one position to each member's slot and attends over the
slots' filled prefixes, batched."""
import math

import torch
from torch import nn


class Attention(nn.Module):
    """softmax(q k^T / sqrt(d) + mask) v: a module of its own, so servprof.torch times it as device work."""

    def forward(self, q, k, v, mask):
        return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + mask, dim=-1) @ v


class Sampler(nn.Module):
    """Greedy sampling: the most likely token that is not banned (special tokens)."""

    def __init__(self, banned):
        super().__init__()
        self.register_buffer("banned", torch.tensor(banned, dtype=torch.long))

    def forward(self, logits):
        logits = logits.clone()
        logits[:, self.banned] = float("-inf")
        return logits.argmax(dim=-1)


class Block(nn.Module):
    def __init__(self, hidden, heads, ffn):
        super().__init__()
        self.heads = heads
        self.attention = Attention()
        self.ln1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.ln2 = nn.LayerNorm(hidden)
        self.fc1 = nn.Linear(hidden, ffn)
        self.fc2 = nn.Linear(ffn, hidden)

    def split(self, x):
        """[B, T, 3H] -> q, k, v as [B, heads, T, d]."""
        b, t, three_h = x.shape
        d = three_h // 3 // self.heads
        return x.view(b, t, 3, self.heads, d).permute(2, 0, 3, 1, 4)

    def mlp(self, x):
        return x + self.fc2(nn.functional.gelu(self.fc1(self.ln2(x))))


class Decoder(nn.Module):
    def __init__(self, vocab, max_len, layers, hidden, heads, ffn, slots, seed, banned=()):
        super().__init__()
        if hidden % heads:
            raise ValueError("heads (%d) must divide hidden (%d)" % (heads, hidden))
        g = torch.Generator().manual_seed(seed)
        self.max_len, self.heads, self.d = max_len, heads, hidden // heads
        self.wte = nn.Embedding(vocab, hidden)
        self.wpe = nn.Embedding(max_len, hidden)
        self.blocks = nn.ModuleList(Block(hidden, heads, ffn) for _ in range(layers))
        self.ln_f = nn.LayerNorm(hidden)
        self.sampler = Sampler(list(banned))
        with torch.no_grad():
            for p in self.parameters():
                if p.dim() > 1:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.2)
                elif p.dim() == 1 and p.shape[0] != hidden:
                    p.zero_()
        # the KV cache: [layer, slot, head, position, d], keys and values
        self.k = torch.zeros(layers, slots, heads, max_len, self.d)
        self.v = torch.zeros(layers, slots, heads, max_len, self.d)

    def logits(self, h):
        return self.ln_f(h) @ self.wte.weight.t()

    @torch.inference_mode()
    def prefill(self, slot, ids, n_real):
        """Runs a prompt (`ids`, padded to len(ids) >= n_real with any token: causal attention keeps the
        padding out of the real positions) into cache slot `slot`; returns the logits after the last
        real token."""
        t = len(ids)
        x = self.wte(torch.tensor([ids])) + self.wpe(torch.arange(t))
        causal = torch.full((t, t), float("-inf")).triu(1)
        for i, blk in enumerate(self.blocks):
            q, k, v = blk.split(blk.qkv(blk.ln1(x)))
            self.k[i, slot, :, :n_real] = k[0, :, :n_real]
            self.v[i, slot, :, :n_real] = v[0, :, :n_real]
            att = blk.attention(q, k, v, causal)
            x = blk.mlp(x + blk.proj(att.transpose(1, 2).reshape(1, t, -1)))
        return self.logits(x[0, n_real - 1])

    @torch.inference_mode()
    def decode(self, slots, ids, positions):
        """One decode step for several sequences: token ids[i] at position positions[i] of slot
        slots[i]; returns their next-token logits [B, vocab]."""
        b = len(slots)
        s = torch.tensor(slots)
        p = torch.tensor(positions)
        span = max(positions) + 1
        x = (self.wte(torch.tensor(ids)) + self.wpe(p))[:, None, :]
        # a sequence attends to its own filled prefix: positions beyond its own are masked
        mask = torch.where(torch.arange(span)[None, :] > p[:, None], float("-inf"), 0.0)[:, None, None, :]
        for i, blk in enumerate(self.blocks):
            q, k, v = blk.split(blk.qkv(blk.ln1(x)))
            self.k[i, s, :, p] = k[:, :, 0]
            self.v[i, s, :, p] = v[:, :, 0]
            keys, vals = self.k[i, s, :, :span], self.v[i, s, :, :span]
            att = blk.attention(q, keys, vals, mask)
            x = blk.mlp(x + blk.proj(att.transpose(1, 2).reshape(b, 1, -1)))
        return self.logits(x[:, 0])

    @torch.inference_mode()
    def sample(self, logits):
        """The next token of each row of `logits` [B, vocab], as a list of ints."""
        return self.sampler(logits).tolist()
