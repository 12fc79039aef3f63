"""Profile time by stage: the rules that say which function starts which stage of filing,
and the attribution of every function's own time to stages through cProfile's caller edges
(``bench/profile_ingest.py`` prints it; here apart so that the tests can check it without
running a profile)."""

from __future__ import annotations

import os

STAGES = ("start-up", "languages", "archive", "parse", "classify", "thread", "write", "hooks",
          "other")
# (path fragment, function name or "*", stage): the first rule a function matches starts
# that stage; specific names before whole files.
RULES: tuple[tuple[str, str, str], ...] = (
    ("", "<module>", "start-up"),
    ("classifiers/examples.py", "load_rules", "start-up"),
    ("classifiers/rules.py", "pipeline", "languages"),
    ("classifiers/rules.py", "matchers", "languages"),
    ("classifiers/concepts.py", "_lemma_hits", "languages"),
    ("gateway/processing/parsing.py", "parse_message", "parse"),
    ("classifiers/classify.py", "classify", "classify"),
    ("gateway/processing/classification.py", "*", "classify"),
    ("gateway/processing/pipeline.py", "thread_batch", "thread"),
    ("gateway/processing/threader.py", "*", "thread"),
    ("gateway/processing/hooks.py", "run_hooks", "hooks"),
    ("gateway/workflows/", "*", "hooks"),
    ("gateway/processing/pipeline.py", "record", "archive"),
    ("gateway/processing/pipeline.py", "catch_up", "archive"),
    ("gateway/processing/pipeline.py", "*", "write"),
    ("archive/", "*", "archive"),
    ("gateway/intake/", "*", "archive"),
    ("gateway/processing/ingest.py", "*", "archive"),
    ("gateway/cli/", "*", "start-up"),
    ("gateway/config.py", "*", "start-up"),
    ("gateway/bootstrap.py", "*", "start-up"),
    ("gateway/installation.py", "*", "start-up"),
    ("<frozen importlib", "*", "start-up"),
)
Func = tuple[str, int, str]


def own_stage(func: Func) -> str | None:
    """The stage ``func`` starts, or None if it runs in its callers' stage."""
    filename, _line, name = func
    path = filename.replace(os.sep, "/")
    for fragment, rule_name, stage in RULES:
        if (not fragment or fragment in path) and rule_name in ("*", name):
            if fragment.endswith("/") and f"/{fragment}" not in f"/{path}":
                continue  # "archive/" must be the package, not ".../bench/archive/..."
            return stage
    return None


class Attribution:
    """Shares of each function's time per stage, passed down the caller edges: a function
    that starts no stage gets the mix of its callers' stages, weighted by the time each
    caller spent in it. Repeated passes (callers first) settle recursion and cycles."""

    PASSES = 30

    def __init__(self, raw: dict[Func, tuple[int, int, float, float, dict[Func, tuple[
            int, int, float, float]]]]) -> None:
        self.raw = raw
        self.mix: dict[Func, dict[str, float]] = {}
        fixed = {func: stage for func in raw if (stage := own_stage(func)) is not None}
        for func, stage in fixed.items():
            self.mix[func] = {stage: 1.0}
        order = [f for f in sorted(raw, key=lambda f: -raw[f][3]) if f not in fixed]
        for _ in range(self.PASSES):
            changed = False
            for func in order:
                new = self._from_callers(func)
                old = self.mix.get(func, {})
                if new and any(abs(new.get(k, 0.0) - old.get(k, 0.0)) > 1e-6
                               for k in new.keys() | old.keys()):
                    self.mix[func] = new
                    changed = True
            if not changed:
                break

    def _from_callers(self, func: Func) -> dict[str, float]:
        out: dict[str, float] = {}
        total = 0.0
        for caller, edge in self.raw[func][4].items():
            known = self.mix.get(caller)
            if not known:
                continue
            weight = edge[3] or float(edge[1])
            total += weight
            for stage, share in known.items():
                out[stage] = out.get(stage, 0.0) + share * weight
        return {k: v / total for k, v in out.items()} if total else {}

    def shares(self, func: Func) -> dict[str, float]:
        return self.mix.get(func) or {"other": 1.0}

    def by_stage(self) -> dict[str, float]:
        seconds = dict.fromkeys(STAGES, 0.0)
        for func, (_cc, _nc, tt, _ct, _callers) in self.raw.items():
            for stage, share in self.shares(func).items():
                seconds[stage] += tt * share
        return seconds
