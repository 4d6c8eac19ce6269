"""docs/reference is generated from the CLI and the config classes and kept current."""

from __future__ import annotations

import re

import typer

from gendesign.cli import reference_pages
from gendesign.cli.main import app


def test_committed_reference_pages_are_current():
    for name, text in reference_pages.pages().items():
        committed = (reference_pages.DOCS / name).read_text()
        assert committed == text, (
            f"docs/reference/{name} is out of date: run python -m gendesign.cli.reference_pages"
        )


def test_every_config_field_is_described():
    undescribed = []
    seen: set = set()

    def walk(cls):
        if cls in seen:
            return
        seen.add(cls)
        comments = reference_pages.field_comments(cls)
        for name, field in cls.model_fields.items():
            inner = reference_pages._config_classes(field.annotation)
            if not inner and not comments.get(name):
                undescribed.append(f"{cls.__name__}.{name}")
            for section in inner:
                walk(section)

    for _, cls in reference_pages.CONFIG_FILES:
        walk(cls)
    assert len(seen) >= 20  # the campaign's sections, the model and training configs, ...
    assert undescribed == [], "give these fields a comment: " + ", ".join(undescribed)


def test_every_command_and_option_is_in_the_cli_page_with_its_help():
    page = reference_pages.cli_reference()
    root = typer.main.get_command(app)
    for path, command in reference_pages._commands(root, ["gendesign"]):
        section = reference_pages._command_section(path, command)
        assert section in page
        for param in command.params:
            if param.param_type_name != "option" or param.hidden:
                continue
            row = next(line for line in section.splitlines() if f"| `{param.opts[0]}`" in line)
            assert re.search(r"\| [^|]*\w[^|]* \|$", row), (
                f"{' '.join(path)} {param.opts[0]} has no help"
            )
    assert "gendesign predictor train" in page and "--set" in page


def test_a_field_comment_becomes_its_description():
    from gendesign.campaign.config import ScreenSection

    comments = reference_pages.field_comments(ScreenSection)
    assert comments["top_k"] == "candidates sent to relaxation"
    page = reference_pages.config_reference()
    assert "| `top_k` | `int` | `20` | candidates sent to relaxation (> 0) |" in page
