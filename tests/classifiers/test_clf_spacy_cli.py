"""spaCy imported without its command line (classifiers/spacy_cli.py), which is still there
for whoever uses it. Each case in a fresh interpreter: the import order is what is tested."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_classifying_imports_no_part_of_spacys_command_line():
    out = run("import sys, classifiers\n"
              "from classifiers.rules import DEFAULT_RULES_DIR\n"
              "rules = classifiers.load_rules(DEFAULT_RULES_DIR)\n"
              "result = classifiers.classify(classifiers.MessageInput("
              "subject='Bestellung', body_text='Wir bestellen 5 Pumpen.'), rules)\n"
              "print(result.category, 'spacy' in sys.modules,"
              " *(m in sys.modules for m in ('typer', 'weasel', 'requests', 'rich')))")
    assert out == ["order", "True", "False", "False", "False", "False"]


@pytest.mark.parametrize("use", ["import spacy.cli; print(callable(spacy.cli.download))",
                                 "import spacy; print(spacy.info()['spacy_version'] > '3')",
                                 "from spacy.cli import info; print(callable(info))",
                                 "from spacy.cli.info import info; print(callable(info))"])
def test_spacys_command_line_is_imported_on_first_use(use):
    assert run(f"import classifiers, spacy\n{use}\nimport sys; print('typer' in sys.modules)"
               ) == ["True", "True"]


def test_spacy_imported_first_is_left_as_it_is():
    assert run("import spacy, classifiers, sys\nprint(sys.modules['spacy.cli'].__file__ "
               "is not None, callable(spacy.cli.download))") == ["True", "True"]
