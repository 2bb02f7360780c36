"""The library (`nin_repro/*.py`) never imports the book (`nin_repro/book/`):
a user who trains NiN needs none of the code that writes the book, and the
book can change without touching the library."""

import ast
from pathlib import Path

import nin_repro

LIBRARY = Path(nin_repro.__file__).parent
BOOK_PACKAGE = "nin_repro.book"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, anywhere in it (module level or inside a
    function), as an absolute dotted name: (line, module)."""
    package = "nin_repro"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the library package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module
            # `from nin_repro import book` names the book as an imported name
            found += [(node.lineno, module)] + [(node.lineno, f"{module}.{a.name}") for a in node.names]
    return found


def book_imports(path: Path) -> list[str]:
    return [f"{path.name}:{line} imports {module}" for line, module in imported_modules(path)
            if module == BOOK_PACKAGE or module.startswith(BOOK_PACKAGE + ".")]


def test_the_library_never_imports_the_book():
    modules = sorted(LIBRARY.glob("*.py"))
    assert len(modules) > 10  # the library's modules, not an empty folder
    assert [line for path in modules for line in book_imports(path)] == []


def test_the_check_sees_every_way_of_importing_the_book(tmp_path):
    # The check itself must be able to fail: each of these imports the book.
    for source in ("from .book import claims", "from .book.tables import copy_rows", "from . import book",
                   "import nin_repro.book.render", "from nin_repro.book import reproduce",
                   "def f():\n    from .book.figure5 import figure_path\n"):
        path = tmp_path / "module.py"
        path.write_text(source + "\n")
        assert book_imports(path), source
    (tmp_path / "module.py").write_text("from . import results\nfrom .experiments import get\nimport torch\n")
    assert book_imports(tmp_path / "module.py") == []


def test_the_book_is_a_package_of_its_own():
    book = LIBRARY / "book"
    assert (book / "__init__.py").is_file()
    for name in ("chapters", "reproduce", "claims", "tables", "plots", "figure5", "render", "notebooks", "paper"):
        assert (book / f"{name}.py").is_file(), name
        assert not (LIBRARY / f"{name}.py").exists(), f"{name}.py is the book's, not the library's"


def test_the_nin_repro_script_has_every_command_and_the_library_names_the_books(capsys):
    import argparse

    from nin_repro import cli
    from nin_repro.book import cli as book_cli

    def commands(*adders):
        sub = argparse.ArgumentParser().add_subparsers()
        for add in adders:
            add(sub)
        return set(sub.choices)

    library, book = commands(cli.add_commands), commands(book_cli.add_commands)
    assert library == {"train", "experiments", "evaluate", "bench"}
    assert book == set(cli.BOOK_COMMANDS) == {"table", "reproduce", "figure5", "render", "readme"}
    # `python -m nin_repro.cli` alone: a book command is one line saying where it is
    assert cli.main(["reproduce", "--status"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nin-repro reproduce" in err and "nin_repro.book.cli" in err


def test_the_console_script_is_the_books_entry_point():
    import tomllib

    project = tomllib.loads((LIBRARY.parent / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["nin-repro"] == "nin_repro.book.cli:main"
    assert "nin_repro.book" in project["tool"]["setuptools"]["packages"]


def test_the_readme_headline_table_is_the_records(tmp_path):
    from nin_repro.book import readme
    from test_results import make_record

    # the committed README shows what the committed records say (else: `nin-repro readme`)
    assert readme.shown_table() == readme.headline_table()
    assert "| paper's table |" in readme.shown_table() and "| paper's comparison |" in readme.shown_table()
    # and the check fails when they disagree: another set of records gives another table
    copy = tmp_path / "README.md"
    copy.write_text(readme.README.read_text())
    from nin_repro import results
    results.write_record(make_record(), tmp_path / "results")
    assert readme.shown_table(copy) != readme.headline_table(tmp_path / "results")
    assert readme.write_readme(copy, tmp_path / "results") is True
    assert readme.shown_table(copy) == readme.headline_table(tmp_path / "results")
    assert readme.write_readme(copy, tmp_path / "results") is False  # current: nothing written


def test_the_readmes_layout_names_every_module():
    # a module added or renamed without its line in the README's layout would leave a reader lost
    import re

    layout = (LIBRARY.parent / "README.md").read_text().split("## Layout", 1)[1]
    named = set(re.findall(r"\b(\w+)\.py\b", layout))
    for folder in (LIBRARY, LIBRARY / "book"):
        missing = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"} - named
        assert not missing, f"README's layout does not name {sorted(missing)} of {folder.name}/"
