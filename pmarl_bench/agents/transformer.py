"""Transformer over time: causal self-attention over the agent's own history.

Pre-norm residual blocks (RMSNorm), grouped-query attention with RoPE, gated feed-forward.
Each position attends to at most the last ``context`` steps of its own episode, itself
included (a sliding window when episodes are longer than the context).

Memory is a ring-buffer KV cache per layer with the episode clock of every slot, so rows of
a batch keep their own clocks (RoPE positions and windows never use another row's time).
A sequence of T steps attends to the cache plus its own keys under a mask that is causal,
windowed, and cut at every episode start; the cache then takes the newest keys. Acting
(``step``, T = 1) first writes the new key and value into their slot, in place, then reads
the ring (its own slot included): no step copies or transposes the cache (reading the old ring
before writing it made XLA copy it every step). The key ring is stored with its slots last
and the value ring with the KV heads first, the layouts of acting's two matmuls. In
continuing mode the cache at a rollout's start is the fixed memory the update reads (as in
Transformer-XL). ``unroll_fresh`` (episodic updates) skips the empty cache. Activations are
batch-major ``[B, T, d]`` from the encoder to the heads (only the small inputs and outputs
are transposed).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx
from pydantic import Field, field_validator

from pmarl_bench.agents.base import Agent, AgentConfig, register_agent
from pmarl_bench.agents.heads import PolicyValueHeads
from pmarl_bench.agents.torso import ACTIVATIONS, Activation, InputEncoder
from pmarl_bench.errors import ConfigError
from pmarl_bench.types import AgentInput, AgentOutput

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class TransformerConfig(AgentConfig):
    kind: Literal["transformer"] = "transformer"
    width: int = Field(64, gt=0, description="residual stream width (d_model)")
    num_layers: int = Field(1, gt=0)
    head_dim: int | None = Field(None, gt=0, description="default: width / num_heads")
    num_heads: int = Field(4, gt=0, description="query heads")
    num_kv_heads: int = Field(1, gt=0, description="key/value heads (grouped-query attention)")
    ffn_width: int | None = Field(None, gt=0, description="gated FFN hidden width; default 4x")
    activation: Activation = Field("silu", description="gate activation of the FFN")
    context: int = Field(
        64,
        gt=0,
        description="steps each position attends to, itself included (the KV-cache length); "
        "episodes longer than this see a sliding window of it",
    )
    rope_max_wavelength: float = Field(10_000.0, gt=0.0)
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32", description="compute dtype (parameters stay float32)"
    )
    attention: Literal["auto", "xla", "cudnn"] = Field(
        "auto", description="auto: cuDNN on GPU with bfloat16, XLA otherwise"
    )

    @field_validator("head_dim")
    @classmethod
    def _even_head_dim(cls, v: int | None) -> int | None:
        if v is not None and v % 2:
            raise ValueError(f"head_dim ({v}) must be even (RoPE rotates pairs)")
        return v

    @field_validator("num_heads")
    @classmethod
    def _heads_divide_width(cls, v: int, info) -> int:
        width = info.data.get("width")
        if width is None or "head_dim" not in info.data or info.data["head_dim"] is not None:
            return v
        if width % v:
            raise ValueError(f"num_heads ({v}) must divide width ({width}) unless head_dim is set")
        if (width // v) % 2:
            raise ValueError(
                f"width / num_heads = {width // v} must be even (RoPE rotates pairs); set head_dim"
            )
        return v

    @field_validator("num_kv_heads")
    @classmethod
    def _kv_heads_divide_heads(cls, v: int, info) -> int:
        heads = info.data.get("num_heads")
        if heads is not None and heads % v:
            raise ValueError(f"num_kv_heads ({v}) must divide num_heads ({heads})")
        return v

    @property
    def resolved_head_dim(self) -> int:
        return self.head_dim or self.width // self.num_heads


class KVCache(NamedTuple):
    """Per-row memory; every leaf has the batch axis first (the trainer permutes rows).
    One array per layer, so a layer reads and writes its own ring without slicing."""

    # laid out for acting's two matmuls per step, so no step transposes or copies a ring:
    k: tuple[jax.Array, ...]  # per layer [B, kv_heads, head_dim, C], compute dtype, RoPE'd
    v: tuple[jax.Array, ...]  # per layer [B, kv_heads, C, head_dim]
    pos: jax.Array  # [B, C] int32: episode clock of each slot; -1 = empty or a past episode
    clock: jax.Array  # [B] int32: episode clock of the next step, unless it starts an episode
    slot: jax.Array  # [B] int32: next slot to write


def episode_clock(start: jax.Array, clock0: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``start [B, T]``, ``clock0 [B]`` -> (episode clock ``[B, T]``, episode index ``[B, T]``
    counting starts inside the sequence; 0 = still the episode the cache belongs to)."""
    t = jnp.arange(start.shape[1], dtype=jnp.int32)
    last_start = jax.lax.cummax(jnp.where(start, t, -1), axis=1)
    clock = jnp.where(last_start >= 0, t - last_start, clock0[:, None] + t)
    return clock, jnp.cumsum(start, axis=1, dtype=jnp.int32)


def rope(x: jax.Array, pos: jax.Array, max_wavelength: float) -> jax.Array:
    """Rotate ``x [B, T, H, D]`` by positions ``pos [B, T]`` (split-halves pairs)."""
    half = x.shape[-1] // 2
    inv_freq = max_wavelength ** (-jnp.arange(half, dtype=jnp.float32) / half)
    angle = pos[..., None, None].astype(jnp.float32) * inv_freq  # [B, T, 1, half]
    sin, cos = jnp.sin(angle), jnp.cos(angle)
    x1, x2 = x[..., :half].astype(jnp.float32), x[..., half:].astype(jnp.float32)
    out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    return out.astype(x.dtype)


def attention_implementation(choice: str, dtype) -> Literal["xla", "cudnn"]:
    """The attention kernel to use; a ``ConfigError`` where cuDNN's cannot run."""
    gpu = jax.default_backend() == "gpu"
    half = jnp.dtype(dtype) in (jnp.bfloat16, jnp.float16)
    if choice == "cudnn" and not gpu:
        raise ConfigError(
            f"cudnn needs an NVIDIA GPU (JAX runs on {jax.default_backend()}); use auto or xla",
            "attention",
        )
    if choice == "cudnn" and not half:
        raise ConfigError("cudnn needs dtype: bfloat16; use auto or xla", "attention")
    if choice == "cudnn" or (choice == "auto" and gpu and half):
        return "cudnn"
    return "xla"


class Attention(nnx.Module):
    def __init__(self, cfg: TransformerConfig, rngs: nnx.Rngs):
        d, hd = cfg.width, cfg.resolved_head_dim
        self.heads, self.kv_heads, self.head_dim = cfg.num_heads, cfg.num_kv_heads, hd
        self.max_wavelength = cfg.rope_max_wavelength
        self.dtype = DTYPES[cfg.dtype]
        self.attention = cfg.attention
        if cfg.attention == "cudnn":  # refused at once where it cannot run
            attention_implementation(cfg.attention, self.dtype)
        kw = dict(use_bias=False, dtype=self.dtype, rngs=rngs)
        self.q = nnx.Linear(d, self.heads * hd, **kw)
        self.kv = nnx.Linear(d, 2 * self.kv_heads * hd, **kw)
        self.out = nnx.Linear(self.heads * hd, d, **kw)

    @property
    def implementation(self) -> Literal["xla", "cudnn"]:
        """The kernel, chosen when the network runs (``auto`` asks the backend then, so
        building the agent to check a suite starts none)."""
        return attention_implementation(self.attention, self.dtype)

    def _project(self, x, pos):
        b, t, _ = x.shape
        q = rope(self.q(x).reshape(b, t, self.heads, self.head_dim), pos, self.max_wavelength)
        k, v = jnp.split(self.kv(x).reshape(b, t, 2 * self.kv_heads, self.head_dim), 2, axis=2)
        return q, rope(k, pos, self.max_wavelength), v

    def __call__(self, x, pos, mask, memory):
        """``x [B, T, d]``; ``mask [B, T, S]`` over ``memory`` keys (``S - T`` of them, or
        none) followed by the T new ones. Returns the output and the new (k, v)."""
        b, t, _ = x.shape
        q, k, v = self._project(x, pos)
        keys, values = k, v
        if memory is not None:  # the rings as [B, C, kv_heads, head_dim], then the new steps
            keys = jnp.concatenate([jnp.transpose(memory[0], (0, 3, 1, 2)), k], axis=1)
            values = jnp.concatenate([jnp.swapaxes(memory[1], 1, 2), v], axis=1)
        mask = mask[:, None]  # [B, 1, T, S]: the same for every head
        if self.implementation == "cudnn":  # cuDNN reads the mask as a bias of every head
            mask = jnp.broadcast_to(mask, (b, self.heads, t, keys.shape[1]))
        o = jax.nn.dot_product_attention(
            q, keys, values, mask=mask, implementation=self.implementation
        )
        return self.out(o.reshape(b, t, self.heads * self.head_dim)), (k, v)

    def step(self, x, pos, mask, memory, slot):
        """One step, ``x [B, 1, d]``: writes its key and value into slot ``slot [B]`` of the
        rings ``memory``, then attends to the rings' slots where ``mask [B, C]`` (its own
        included). Writing first, in place, lets XLA reuse the rings' buffers: reading the
        old ring and then writing it would copy it every step. Returns the output and the
        written rings; the same result as ``__call__`` with T = 1, up to summation order."""
        b = x.shape[0]
        q, k, v = self._project(x, pos)
        rows = jnp.arange(b)
        keys = memory[0].at[rows, :, :, slot].set(k[:, 0].astype(memory[0].dtype))
        values = memory[1].at[rows, :, slot].set(v[:, 0].astype(memory[1].dtype))
        g = self.heads // self.kv_heads
        q = q.reshape(b, self.kv_heads, g, self.head_dim)  # query heads grouped by KV head
        f32 = jnp.float32
        s = jnp.einsum("bkgd,bkdc->bkgc", q, keys, preferred_element_type=f32)
        s = jnp.where(mask[:, None, None, :], s * self.head_dim**-0.5, -jnp.inf)
        p = jax.nn.softmax(s, axis=-1)  # never all masked: its own slot is always there
        o = jnp.einsum(
            "bkgc,bkcd->bkgd", p.astype(values.dtype), values, preferred_element_type=f32
        )
        o = o.astype(self.dtype).reshape(b, 1, self.heads * self.head_dim)
        return self.out(o), (keys, values)


class GatedFFN(nnx.Module):
    def __init__(self, cfg: TransformerConfig, rngs: nnx.Rngs):
        hidden = cfg.ffn_width or 4 * cfg.width
        kw = dict(use_bias=False, dtype=DTYPES[cfg.dtype], rngs=rngs)
        self.act = ACTIVATIONS[cfg.activation]
        self.up = nnx.Linear(cfg.width, 2 * hidden, **kw)
        self.down = nnx.Linear(hidden, cfg.width, **kw)

    def __call__(self, x):
        gate, value = jnp.split(self.up(x), 2, axis=-1)
        return self.down(self.act(gate) * value)


class Block(nnx.Module):
    def __init__(self, cfg: TransformerConfig, rngs: nnx.Rngs):
        dtype = DTYPES[cfg.dtype]
        self.attn_norm = nnx.RMSNorm(cfg.width, dtype=dtype, rngs=rngs)
        self.attn = Attention(cfg, rngs)
        self.ffn_norm = nnx.RMSNorm(cfg.width, dtype=dtype, rngs=rngs)
        self.ffn = GatedFFN(cfg, rngs)

    def __call__(self, x, pos, mask, memory, slot=None):
        """``slot``: acting, one step written into ring slot ``slot [B]`` (``Attention.step``)."""
        # the residual stream stays float32; sublayers compute in the configured dtype
        h = self.attn_norm(x)
        if slot is None:
            a, kv = self.attn(h, pos, mask, memory)
        else:
            a, kv = self.attn.step(h, pos, mask, memory, slot)
        x = x + a.astype(jnp.float32)
        return x + self.ffn(self.ffn_norm(x)).astype(jnp.float32), kv


class TransformerNet(nnx.Module):
    def __init__(self, cfg: TransformerConfig, obs_space, num_actions: int, rngs: nnx.Rngs):
        self.context = cfg.context
        self.encoder = InputEncoder(obs_space, num_actions, cfg.width, rngs, cfg.inputs)
        self.blocks = nnx.List([Block(cfg, rngs) for _ in range(cfg.num_layers)])
        self.norm = nnx.RMSNorm(cfg.width, rngs=rngs)
        self.heads = PolicyValueHeads(cfg.width, num_actions, rngs, cfg.value_head)

    def _run(self, inputs: AgentInput, pos, mask, cache: KVCache | None, slot=None):
        """Time-major ``inputs [T, B]`` -> outputs ``[T, B]`` and new keys/values per layer
        (acting, ``slot`` given: the written rings). In between, activations stay batch-major
        ``[B, T, d]``."""
        x = self.encoder(jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), inputs))
        new_kv = []
        for i, block in enumerate(self.blocks):
            memory = None if cache is None else (cache.k[i], cache.v[i])
            x, kv = block(x, pos, mask, memory, slot)
            new_kv.append(kv)
        out = self.heads(self.norm(x))
        return jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), out), new_kv

    def _causal_mask(self, episode) -> jax.Array:
        """``[B, T, T]``: earlier-or-same step, same episode, within the context."""
        t = episode.shape[1]
        i, j = jnp.arange(t)[:, None], jnp.arange(t)[None, :]
        within = (j <= i) & (i - j < self.context)
        return within & (episode[:, :, None] == episode[:, None, :])

    def fresh(self, inputs: AgentInput) -> AgentOutput:
        """Sequences whose first step starts an episode: no cache to read."""
        start = jnp.swapaxes(inputs.start, 0, 1)
        pos, episode = episode_clock(start, jnp.zeros(start.shape[0], jnp.int32))
        return self._run(inputs, pos, self._causal_mask(episode), None)[0]

    def __call__(self, cache: KVCache, inputs: AgentInput) -> tuple[KVCache, AgentOutput]:
        start = jnp.swapaxes(inputs.start, 0, 1)  # [B, T]
        pos, episode = episode_clock(start, cache.clock)
        if start.shape[1] == 1:  # acting: each layer writes its ring in place, then reads it
            return self._step(cache, inputs, pos, episode)
        # cached slots hold the current episode (older ones are marked -1); a query reads them
        # until an episode starts inside the sequence, within its window
        age = pos[:, :, None] - cache.pos[:, None, :]
        to_cache = (episode[:, :, None] == 0) & (cache.pos[:, None, :] >= 0) & (age < self.context)
        mask = jnp.concatenate([to_cache, self._causal_mask(episode)], axis=-1)
        out, new_kv = self._run(inputs, pos, mask, cache)
        return _write(cache, new_kv, pos, episode), out

    def _step(self, cache: KVCache, inputs: AgentInput, pos, episode):
        """One step: the slots' clocks after the write (all forgotten when an episode starts)
        mask the rings, which every layer writes before it reads."""
        rows = jnp.arange(pos.shape[0])
        kept = jnp.where(episode[:, :1] > 0, -1, cache.pos)
        slot_pos = kept.at[rows, cache.slot].set(pos[:, 0])
        mask = (slot_pos >= 0) & (pos[:, :1] - slot_pos < self.context)
        out, rings = self._run(inputs, pos, mask, cache, slot=cache.slot)
        written = KVCache(
            k=tuple(k for k, _ in rings),
            v=tuple(v for _, v in rings),
            pos=slot_pos,
            clock=pos[:, 0] + 1,
            slot=(cache.slot + 1) % cache.pos.shape[1],
        )
        return written, out


def _write(cache: KVCache, new_kv, pos, episode) -> KVCache:
    """Put the newest ``min(T, C)`` steps into the ring; forget slots of finished episodes.
    A scatter into the old ring, which XLA does in place when the old ring is not used again
    (the rollout's scan)."""
    b, t = pos.shape
    c = cache.pos.shape[1]
    n = min(t, c)
    steps = jnp.arange(t - n, t)
    slots = (cache.slot[:, None] + steps) % c  # [B, n], distinct per row
    rows = jnp.arange(b)[:, None]
    current = episode[:, t - n :] == episode[:, -1:]
    new_pos = jnp.where(current, pos[:, t - n :], -1)
    old_pos = jnp.where(episode[:, -1:] > 0, -1, cache.pos)  # an episode started: forget

    def put_k(ring, new):  # ring [B, K, D, C]: the slots are the last axis
        return ring.at[rows, :, :, slots].set(new[:, t - n :].astype(ring.dtype))

    def put_v(ring, new):  # ring [B, K, C, D]
        return ring.at[rows, :, slots].set(new[:, t - n :].astype(ring.dtype))

    return KVCache(
        k=tuple(put_k(ring, kv[0]) for ring, kv in zip(cache.k, new_kv, strict=True)),
        v=tuple(put_v(ring, kv[1]) for ring, kv in zip(cache.v, new_kv, strict=True)),
        pos=old_pos.at[rows, slots].set(new_pos),
        clock=pos[:, -1] + 1,
        slot=(cache.slot + t) % c,
    )


@register_agent("transformer")
class TransformerAgent(Agent):
    Config = TransformerConfig
    config: TransformerConfig

    def build(self, rngs: nnx.Rngs) -> TransformerNet:
        return TransformerNet(self.config, self.obs_space, self.action_space.n, rngs)

    @property
    def core_reach(self) -> int:
        return self.config.context - 1  # attends to the last `context` steps, itself included

    def initial_carry(self, batch: int) -> KVCache:
        cfg = self.config
        kv, hd, c = cfg.num_kv_heads, cfg.resolved_head_dim, cfg.context
        dtype, layers = DTYPES[cfg.dtype], range(cfg.num_layers)
        return KVCache(
            k=tuple(jnp.zeros((batch, kv, hd, c), dtype) for _ in layers),
            v=tuple(jnp.zeros((batch, kv, c, hd), dtype) for _ in layers),
            pos=jnp.full((batch, cfg.context), -1, jnp.int32),
            clock=jnp.zeros((batch,), jnp.int32),
            slot=jnp.zeros((batch,), jnp.int32),
        )

    def step(self, params, carry, inputs):
        cache, out = self.module(params)(carry, jax.tree.map(lambda x: x[None], inputs))
        return cache, jax.tree.map(lambda x: x[0], out)

    def unroll(self, params, carry, inputs):
        return self.module(params)(carry, inputs)

    def unroll_fresh(self, params, inputs):
        return self.module(params).fresh(inputs)
