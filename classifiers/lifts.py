"""Conditional words that do not make a requested change hypothetical.

A scope rule skips a match after a conditional word ("if we ordered 200 instead of 100,
would the price drop?" changes nothing). Three uses of the same words ask for a change
rather than suppose one, and for scope rules they are lifted (the words come from the
language's concepts ``cond_ask``, ``cond_possible``, ``cond_hedge`` and ``cond_modal``):

* an **embedded question** of what the recipient can do: "if" / "whether" right after a
  verb of knowing, telling or checking, with a modal or a word of possibility after it
  ("let me know if you can push the installation back", "pourriez-vous confirmer si vous
  pouvez ...", "meddela om ni kan flytta ..."); "tell me if my top-up has been cancelled"
  asks about a state and stays conditional;
* a **courtesy condition** on what the recipient can do: the conditional with a word of
  possibility up to three words after it ("if possible, could you ship ...", "if at all
  possible", "falls möglich", "si es posible", "om möjligt");
* a **hedge** ("maybe", "perhaps", "possibly", "wondering", "vielleicht", "kanske") in a
  question or a modal request ("could we perhaps move delivery to week 50?").

Order and property rules keep every conditional: "please let us know if we should send the
gauges" hands nothing over, and a request to change is a change only for the scope rules.
"""

from __future__ import annotations

from dataclasses import dataclass

# A pronoun between the verb and the conditional ("tell me if", "ask you whether").
_PRONOUNS = frozenset({"me", "us", "you", "mir", "uns", "nous", "nos", "ci", "ons",
                       "mig", "oss", "os", "mi", "nám", "nam"})
POSSIBLE_AFTER = 3


@dataclass(frozen=True)
class Lifts:
    """The words of one language (and English) that lift a conditional in a request."""

    ask: frozenset[str] = frozenset()
    possible: frozenset[str] = frozenset()
    hedge: frozenset[str] = frozenset()
    modal: frozenset[str] = frozenset()
    # "about", "regarding", "relativo" (concept ``topic_prep``): not a lift, but read with them
    topic: frozenset[str] = frozenset()
    # "ready", "available", "verfügbar" (concept ``time_ready``): "as soon as they are ready"
    ready: frozenset[str] = frozenset()
    # "wenn", "si", "als", "om" (concepts ``cond_after``, ``cond_after_weak`` and
    # ``cond_subject``; branch i12-intl): not a lift either: the conjunctions that open a
    # condition right after an order or property act without a comma ("wir bestellen 100
    # Stück wenn Sie bis KW 22 liefern"); a weak one ("als", "om": also "as", "about") only
    # before a word of ``cond_subject`` ("als jullie", "om ni"). English has none.
    opener: frozenset[str] = frozenset()
    weak_opener: frozenset[str] = frozenset()
    subject: frozenset[str] = frozenset()

    def lifted(self, words: list[str], i: int, question: bool) -> bool:
        """Whether the conditional ``words[i]`` asks for a change rather than supposes one.

        ``question``: the sentence of the match ends with a question mark."""
        before = words[i - 1] if i > 0 else ""
        after = words[i + 1 :]
        embedded = before in self.ask or (
            before in _PRONOUNS and i > 1 and words[i - 2] in self.ask
        )
        if embedded and not (self.modal.isdisjoint(after) and self.possible.isdisjoint(after)):
            return True
        if not self.possible.isdisjoint(words[i + 1 : i + 1 + POSSIBLE_AFTER]):
            return True
        return words[i] in self.hedge and (question or not self.modal.isdisjoint(words))


NO_LIFTS = Lifts()
