"""The book's code: which runs each chapter shows (`chapters`), `reproduce`,
the paper's numbers (`paper`), the claims and their verdicts, tables,
sentences, plots, Figure 5, the engineering notes, and the commands that
render the chapters. It imports the library (`nin_repro`); the library never
imports it (tests/test_layers.py checks that)."""
