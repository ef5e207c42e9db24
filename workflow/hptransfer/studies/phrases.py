"""Short phrases describing a study's settings, shared by the kinds' ``describe`` (report captions)."""

from __future__ import annotations


def values(xs) -> str:
    """All values, or for a long list its length and range."""

    def text(x) -> str:
        return format(x, "g") if isinstance(x, float) else str(x)

    xs = list(xs)
    return ", ".join(map(text, xs)) if len(xs) <= 6 else f"{len(xs)} values, {text(min(xs))} … {text(max(xs))}"


def optimizer(o: dict) -> str:
    extra = []
    if o["name"] in ("adam", "adamw") and o.get("betas"):
        extra.append(f"betas {values(o['betas'])}")
    if o.get("momentum") is not None:
        extra.append(f"momentum {o['momentum']:g}")
    if o["name"] == "dion" and o.get("rank_rule"):
        cap = f" (cap {o['rank_cap']})" if o["rank_rule"] == "bounded" and o.get("rank_cap") else ""
        extra.append(f"{o['rank_rule']} rank{cap}")
    if o.get("weight_decay"):
        extra.append(f"weight decay {o['weight_decay']:g}")
    return f"optimizer {o['name']}" + (f" ({', '.join(extra)})" if extra else "")


def sweep(s: dict) -> list[str]:
    return [
        f"swept {s.get('hp', 'lr')}: {values(s['grid'])}",
        f"widths {values(s['widths'])}",
        f"seeds {values(s['seeds'])}",
    ]


def training(s: dict) -> list[str]:
    t = s["training"]
    out = [f"{t['steps']} steps, batch {t['batch_size']}, {t['schedule']['kind']} schedule"]
    d = s.get("decomposition", {})
    if d.get("enabled"):
        out.append(f"decomposition top-k {values(d['topk'])}")
    step = s.get("analysis", {}).get("step")
    if step is not None:
        out.append(f"analysed at step {step}")
    return out
