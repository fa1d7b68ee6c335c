"""The root CLI lists the whole pipeline; unbuilt commands refuse clearly."""

from click.testing import CliRunner

from robusta_bench.cli.main import cli


def test_help_lists_pipeline():
    res = CliRunner().invoke(cli, ["--help"])
    assert res.exit_code == 0
    for cmd in ("index", "synth", "corrupt", "show", "extract", "evaluate", "download", "publish"):
        assert cmd in res.output


def test_every_command_has_help():
    for name, cmd in cli.commands.items():
        res = CliRunner().invoke(cli, [name, "--help"])
        assert res.exit_code == 0, (name, res.output)
        assert (cmd.help or "").strip(), name
