"""Every command of both command lines answers --help, and a user mistake (here: a data
directory that does not exist, or is a file) gives a message and a non-zero exit, never a
traceback."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from central_hub.cli import main as hub_main
from edge_node.cli import main as node_main


def _commands(group: click.Group, prefix=()):
    for name, command in sorted(group.commands.items()):
        path = prefix + (name,)
        if isinstance(command, click.Group):
            yield from _commands(command, path)
        else:
            yield path, command


ALL = [(main, path, command) for main in (node_main, hub_main)
       for path, command in _commands(main)]
IDS = [f"{main.name}-{' '.join(path)}" for main, path, _ in ALL]


@pytest.mark.parametrize("main, path, command", ALL, ids=IDS)
def test_help(main, path, command):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def _arguments(command: click.Command, data_dir: str) -> list[str]:
    args: list[str] = []
    for param in command.params:
        if isinstance(param, click.Argument):
            args.append(data_dir)
        elif param.required:
            value = "2026-01-05" if "date" in param.name or param.name in ("from_", "start") \
                else ("5" if isinstance(param.type, (click.types.IntParamType,
                                                     click.types.FloatParamType)) else "x")
            args += [param.opts[0], value]
    return args


@pytest.mark.parametrize("main, path, command", ALL, ids=IDS)
def test_user_mistake_is_a_message_not_a_traceback(main, path, command, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a data directory")
    # init must refuse a path that is a file; every other command a missing directory
    data_dir = str(blocker if path[-1] == "init" else tmp_path / "missing")
    result = CliRunner().invoke(main, [*path, *_arguments(command, data_dir)])
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.output.strip(), "a mistake must be explained"
