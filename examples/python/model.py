"""A BERT-style encoder in PyTorch with seeded weights (nothing downloaded), as the C reference
service's (docs/serve.md "Pipeline" step 5): token + position embeddings and LayerNorm; per layer a
fused QKV product, multi-head self-attention with padded keys masked out, output projection,
residual + LayerNorm, GELU feed-forward, residual + LayerNorm (post-LN); mean pooling over the real
tokens. Every operation runs on the whole padded shape, as a static-shape accelerator would, so
padding costs compute. Each operation is its own module, so servprof.torch times them one by one
(their names, e.g. layers.0.qkv, are the kernel names in the report)."""
import math

import torch
from torch import nn


class Attention(nn.Module):
    """softmax(QK^T / sqrt(d) + mask) V for every head; keys at padded positions get weight 0."""

    def __init__(self, heads):
        super().__init__()
        self.heads = heads

    def forward(self, qkv, key_mask):
        b, t, three_h = qkv.shape
        h = three_h // 3
        d = h // self.heads
        q, k, v = qkv.view(b, t, 3, self.heads, d).permute(2, 0, 3, 1, 4)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d)
        scores = scores.masked_fill(key_mask[:, None, None, :], float("-inf"))
        out = torch.matmul(torch.softmax(scores, dim=-1), v)
        return out.transpose(1, 2).reshape(b, t, h)


class Layer(nn.Module):
    def __init__(self, hidden, heads, ffn):
        super().__init__()
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.attention = Attention(heads)
        self.attn_out = nn.Linear(hidden, hidden)
        self.ln1 = nn.LayerNorm(hidden, eps=1e-12)
        self.ffn1 = nn.Linear(hidden, ffn)
        self.gelu = nn.GELU()
        self.ffn2 = nn.Linear(ffn, hidden)
        self.ln2 = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x, key_mask):
        x = self.ln1(x + self.attn_out(self.attention(self.qkv(x), key_mask)))
        return self.ln2(x + self.ffn2(self.gelu(self.ffn1(x))))


class Embed(nn.Module):
    def __init__(self, vocab, max_len, hidden):
        super().__init__()
        self.tok = nn.Embedding(vocab, hidden)
        self.pos = nn.Embedding(max_len, hidden)
        self.typ = nn.Embedding(2, hidden)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], device=ids.device)
        return self.tok(ids) + self.pos(pos)[None] + self.typ.weight[0]


class Pool(nn.Module):
    """Mean over the real (unpadded) tokens."""

    def forward(self, x, key_mask):
        keep = (~key_mask).unsqueeze(-1).to(x.dtype)
        return (x * keep).sum(1) / keep.sum(1).clamp(min=1)


class Encoder(nn.Module):
    def __init__(self, vocab, max_len=128, layers=2, hidden=128, heads=4, ffn=512, seed=1):
        super().__init__()
        if hidden % heads:
            raise ValueError("heads (%d) must divide hidden (%d)" % (heads, hidden))
        self.max_len = max_len
        self.embed = Embed(vocab, max_len, hidden)
        self.ln = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList(Layer(hidden, heads, ffn) for _ in range(layers))
        self.pool = Pool()
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("bias"):
                    p.zero_()
                elif ".ln" in name or name.startswith("ln"):
                    p.fill_(1.0)
                else:  # BERT's initialisation scale
                    p.copy_(torch.randn(p.shape, generator=g) * 0.02)
        self.eval()

    def forward(self, ids, lengths):
        """ids: [batch, padded length] token ids; lengths: [batch] real lengths. Returns [batch, hidden]."""
        key_mask = torch.arange(ids.shape[1], device=ids.device)[None, :] >= lengths[:, None]
        x = self.ln(self.embed(ids))
        for layer in self.layers:
            x = layer(x, key_mask)
        return self.pool(x, key_mask)
