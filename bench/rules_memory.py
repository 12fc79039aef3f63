"""Resident memory and build time of the content matchers for all 11 languages.

The daemon builds a language's matchers (and expands its concept lemmas from the lookup
table) when the first message in that language arrives; this builds them for every language
in turn, as a daemon that has seen mail in all of them would have, and prints the RSS
before and after (budget: 300 MB for the whole daemon).

    PYTHONPATH=$PWD .venv/bin/python bench/rules_memory.py [--rules DIR] [--extra-rules DIR]
    PYTHONPATH=$PWD .venv/bin/python bench/rules_memory.py --synthetic

``--synthetic`` adds a concepts file with ten verb lemmas and a few sequence rules per
language to a copy of the rules (as rule writers will), so the lemma expansion of every
language is measured even before the shipped rules use it.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from classifiers.examples import load_rules
from classifiers.language import SUPPORTED, detect_language
from classifiers.matching import match_message
from classifiers.rules import DEFAULT_RULES_DIR

# Ten common business verbs per language (lemmas); Polish has no lemma table: prefixes.
_VERBS: dict[str, list[str]] = {
    "en": ["order", "send", "ship", "receive", "cancel", "change", "deliver", "damage", "return",
           "quote"],
    "de": ["bestellen", "senden", "schicken", "erhalten", "stornieren", "ändern", "liefern",
           "beschädigen", "zurücksenden", "anbieten"],
    "fr": ["commander", "envoyer", "expédier", "recevoir", "annuler", "modifier", "livrer",
           "endommager", "retourner", "chiffrer"],
    "es": ["pedir", "enviar", "recibir", "cancelar", "cambiar", "entregar", "dañar", "devolver",
           "cotizar", "comprar"],
    "it": ["ordinare", "inviare", "spedire", "ricevere", "annullare", "modificare", "consegnare",
           "danneggiare", "restituire", "comprare"],
    "nl": ["bestellen", "sturen", "verzenden", "ontvangen", "annuleren", "wijzigen", "leveren",
           "beschadigen", "retourneren", "kopen"],
    "pt": ["encomendar", "enviar", "receber", "cancelar", "alterar", "entregar", "danificar",
           "devolver", "comprar", "pedir"],
    "sv": ["beställa", "skicka", "få", "avbryta", "ändra", "leverera", "skada", "returnera",
           "köpa", "sända"],
    "da": ["bestille", "sende", "modtage", "annullere", "ændre", "levere", "beskadige",
           "returnere", "købe", "afsende"],
    "cs": ["objednat", "poslat", "odeslat", "obdržet", "zrušit", "změnit", "dodat", "poškodit",
           "vrátit", "koupit"],
}
_PL_PREFIXES = ["zamówi", "zamawia", "wysła", "wysył", "otrzyma", "anulow", "zmieni",
                "dostarcz", "uszkodz", "zwróci"]


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _synthetic(dest: Path) -> None:
    """Concepts and sequence rules for every language, added to the rules in ``dest``."""
    for lang in SUPPORTED:
        folder = dest / lang
        folder.mkdir(exist_ok=True)
        verbs = _VERBS.get(lang)
        lines = ['description = "synthetic"']
        for n in range(10):
            words = f'lemmas = ["{verbs[n]}"]' if verbs else f'prefixes = ["{_PL_PREFIXES[n]}"]'
            lines.append(f"[concepts.verb{n}]\n{words}")
        with (folder / "concepts.toml").open("a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        rules = "".join(
            f'\n[[rules]]\nid = "{lang}.enquiry.synthetic{n}"\nweight = 1\n'
            f'sequence = ["@verb{n}", "?#num", "@verb{(n + 1) % 10}"]\nwindow = 4\n'
            for n in range(10)
        )
        with (folder / "enquiry.toml").open("a", encoding="utf-8") as f:
            f.write(rules)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, default=DEFAULT_RULES_DIR)
    parser.add_argument("--extra-rules", type=Path, default=None)
    parser.add_argument("--synthetic", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.rules
        if args.synthetic:
            root = Path(tmp) / "rules"
            shutil.copytree(args.rules, root)
            _synthetic(root)
        import spacy  # noqa: F401  (the daemon has it loaded before any message)

        detect_language("Please confirm the delivery date of our order.")  # as the daemon does

        rules = load_rules(root, extra_rules=args.extra_rules)
        print(f"rules {rules.version}: {len(rules.content_rules)} content rules; "
              f"RSS after loading: {_rss_mb():.0f} MB")
        for lang in SUPPORTED:
            start = time.perf_counter()
            match_message([("body", "first message")], lang, rules)
            forms = sum(len(f) for f in rules.concept_forms(lang).values())
            print(f"  {lang}: matchers built in {time.perf_counter() - start:.2f} s, "
                  f"{forms} concept forms, RSS {_rss_mb():.0f} MB")
        print(f"RSS with the matchers of all {len(SUPPORTED)} languages: {_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
