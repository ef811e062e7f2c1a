"""The README tells the truth about configuration and commands."""

from __future__ import annotations

import re
from pathlib import Path

from core.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented_in_the_readme():
    variables = set(re.findall(r"#: (TESSERA_[A-Z_]+)", (ROOT / "core" / "settings.py").read_text()))
    assert len(variables) > 10
    missing = sorted(v for v in variables if f"`{v}`" not in README)
    assert not missing, f"README.md's configuration table lacks {missing}"


def test_every_cli_command_is_in_the_readme():
    parser = build_parser()
    groups = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    missing = []
    for group, sub in groups.items():
        actions = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
        names = list(actions[0].choices) if actions else [""]
        for name in names:
            if f"tessera {group} {name}".strip() not in README:
                missing.append(f"tessera {group} {name}".strip())
    assert not missing, f"README.md does not mention {missing}"


def test_readme_starts_with_the_two_commands():
    head = README[:1500]
    assert head.index("make run") < head.index("make test")
