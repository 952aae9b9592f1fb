"""Every code block of README.md is run or checked here, so the README cannot rot.

Python blocks run in order in one namespace, in a temporary directory, as a
reader pasting them into one session would run them (later blocks use `model`
and `x_train` from the Quick start). Shell blocks train for minutes, so they
are checked, not run: every `tfvae` command must parse with the CLI's own
parser, every `make` target must exist in the Makefile, and every
`python script.py --flag` must name a script that exists and defines the flag.
Inline `tfvae ...`, `make ...` and `python ...` spans in the prose get the same
checks.
"""

import collections
import json
import linecache
import re
import shlex
import traceback
from pathlib import Path

import pytest

from tfvae import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# Fenced blocks that are neither Python nor commands, by their section heading.
NOT_COMMANDS = {
    "Project layout": "a directory tree: test_project_layout_names_exist checks its names",
}

Block = collections.namedtuple("Block", "line language section code")
_FENCE = re.compile(r"^( *)```(\w*)\s*$")


def _blocks(text):
    """Every fenced block: its line (1-based, of the opening fence), language,
    the heading of its section and its code, dedented."""
    lines, blocks, section, i = text.splitlines(), [], None, 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            if lines[i].startswith("#"):
                section = lines[i].lstrip("#").strip()
            i += 1
            continue
        indent, end = len(fence.group(1)), i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        assert end < len(lines), f"README.md:{i + 1}: unclosed code block"
        code = "\n".join(line[indent:] for line in lines[i + 1:end])
        blocks.append(Block(i + 1, fence.group(2), section, code))
        i = end + 1
    return blocks


def _inline_commands(text):
    """`tfvae ...`, `make ...` and `python ...` spans of the prose (outside blocks)."""
    prose = re.sub(r"^ *```.*?^ *```", "", text, flags=re.S | re.M)
    return list(dict.fromkeys(re.findall(r"`((?:tfvae|make|python) [^`]+)`", prose)))


BLOCKS = _blocks(README.read_text())
PYTHON = [b for b in BLOCKS if b.language == "python"]
SHELL = [b for b in BLOCKS if b.language == "" and b.section not in NOT_COMMANDS]


def _name(block):
    return f"README.md:{block.line} {re.split(r'[:(]', block.section)[0].strip()}"


# ---- Python: run ----------------------------------------------------------------

@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """The README's one Python session: a namespace, a working directory, progress."""
    return {"namespace": {"__name__": "__readme__"}, "done": 0, "failed": None,
            "cwd": tmp_path_factory.mktemp("readme")}


def _run(block, session):
    # Blank lines in front, so the traceback names the README's own line
    # numbers, and the block in linecache, so it shows the block's lines.
    source = "\n" * block.line + block.code + "\n"
    filename = f"{README} (block at line {block.line})"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    session["done"] += 1
    try:
        exec(compile(source, filename, "exec"), session["namespace"])
        return
    except Exception:
        message = traceback.format_exc()
    session["failed"] = _name(block)
    pytest.fail(f"{_name(block)} failed:\n{message}", pytrace=False)


@pytest.mark.slow
@pytest.mark.parametrize("block", PYTHON, ids=_name)
def test_python_block_runs(block, session, monkeypatch):
    monkeypatch.chdir(session["cwd"])
    if session["failed"]:
        pytest.skip(f"it runs after {session['failed']}, which failed")
    # Run on its own (-k), a block first runs the blocks before it.
    for earlier in PYTHON[session["done"]:PYTHON.index(block) + 1]:
        _run(earlier, session)


# ---- shell: check -----------------------------------------------------------------

def _command_lines(code):
    """Each command of a shell block as words: comments dropped, `\\` lines joined."""
    for line in re.sub(r"\\\n", " ", code).splitlines():
        words = shlex.split(line, comments=True)
        if words:
            yield words


def _check_tfvae(argv, complete=True):
    """A complete command must parse; a fragment (prose) must name a verb and its flags."""
    parser = cli.build_parser()
    verbs = parser._subparsers._group_actions[0].choices
    if "VERB" in argv:  # the README's placeholder for any verb
        for verb in verbs:
            _check_tfvae([verb if word == "VERB" else word for word in argv], complete)
        return
    if not complete:
        verb = next((word for word in argv if not word.startswith("-")), None)
        options = verbs[verb]._option_string_actions if verb in verbs else {}
        for flag in (word.split("=")[0] for word in argv if word.startswith("-")):
            assert flag in options or flag in parser._option_string_actions, \
                f"`tfvae {shlex.join(argv)}`: unknown flag {flag}"
        assert verb is None or verb in verbs, f"`tfvae {shlex.join(argv)}`: unknown verb"
        return
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        assert e.code == 0 and "--help" in argv, f"`tfvae {shlex.join(argv)}` does not parse"
        return
    assert args.verb in verbs, f"`tfvae {shlex.join(argv)}` names no verb"


def _check_make(targets):
    makefile = (ROOT / "Makefile").read_text()
    defined = set(re.findall(r"^([\w.-]+)\s*:(?!=)", makefile, flags=re.M))
    for target in targets:
        if "=" not in target:  # VAR=value overrides are not targets
            assert target in defined, f"`make {target}`: no such target in the Makefile"


def _check_python(argv):
    script = ROOT / argv[0]
    assert script.is_file(), f"`python {argv[0]}`: no such script"
    source = script.read_text()
    for flag in (word.split("=")[0] for word in argv[1:] if word.startswith("--")):
        assert re.search(rf"""["']{re.escape(flag)}["']""", source), \
            f"`python {argv[0]}` defines no flag {flag}"


def _check_command(words, complete=True):
    while re.match(r"[A-Za-z_]\w*=", words[0]):  # environment variables
        name, value = words.pop(0).split("=", 1)
        if name == "TF_CONFIG":
            json.loads(value)
    program, argv = words[0], words[1:]
    assert program in ("tfvae", "make", "python"), (
        f"`{shlex.join(words)}`: no check for {program!r}; add one or list the block in "
        "NOT_COMMANDS")
    if program == "tfvae":
        _check_tfvae(argv, complete)
    else:
        {"make": _check_make, "python": _check_python}[program](argv)


@pytest.mark.parametrize("block", SHELL, ids=_name)
def test_shell_block_commands_are_valid(block):
    commands = list(_command_lines(block.code))
    assert commands, f"{_name(block)} has no command; list it in NOT_COMMANDS with a reason"
    for words in commands:
        _check_command(words)


@pytest.mark.parametrize("span", _inline_commands(README.read_text()))
def test_inline_commands_are_valid(span):
    # Prose may leave out required flags (`tfvae evaluate --binarize`), but
    # every verb, flag, target and script it names must exist.
    _check_command(shlex.split(span), complete=False)


def test_project_layout_names_exist():
    (layout,) = [b for b in BLOCKS if b.section == "Project layout"]
    checked, directory = [], ""
    for line in layout.code.splitlines():
        line = re.sub(r"\([^)]*\)|`[^`]*`", "", line)  # asides
        if not line.startswith(" "):  # a new entry: `dir/  its files...` or root files
            first = line.split()[0]
            directory = first if first.endswith("/") else ""
            line = line[len(directory):]
            checked.append(directory)
        # Under a directory, only file-like words are names; the rest is prose.
        names = re.findall(r"[\w.-]+\.py\b|[\w.-]+/", line) if directory else line.split()
        checked += [directory + name for name in names]
    for name in filter(None, checked):
        assert (ROOT / name).exists(), f"README.md:{layout.line}: the layout names {name}"
    assert {"tfvae/vae.py", "exporters/", ".ci/run"} <= set(checked)


def test_the_checks_can_fail():
    # A stale README must fail these checks, not slip through them.
    with pytest.raises(AssertionError):
        _check_command(["tfvae", "evaluate", "--no-such-flag"], complete=False)
    for bad in (["tfvae", "train", "--no-such-flag"], ["tfvae", "frobnicate"],
                ["tfvae", "evaluate"],  # --model is required
                ["make", "no-such-target"], ["python", "benchmarks/nll.py", "--no-such-flag"],
                ["python", "benchmarks/missing.py"], ["curl", "example.com"],
                ["TF_CONFIG={not json", "tfvae", "train"]):
        with pytest.raises((AssertionError, ValueError)):
            _check_command(list(bad))
    assert _blocks("# A\n\n  ```python\n  x = 1\n  ```\n") == [Block(3, "python", "A", "x = 1")]
