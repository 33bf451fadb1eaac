"""README's fresh-machine commands are the ones CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = ROOT / "README.md"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    command = [line for line in ci if "pytest" in line]
    assert len(command) == 1
    assert command[0].strip() in readme.read_text()


def test_readme_run_command_opens_the_dashboard():
    text = (ROOT / "README.md").read_text()
    assert "pip install -e . && tui-gan\n" in text
