"""Sphinx fixes for this book (loaded through `_config.yml`).

sphinx-thebe adds its configuration script (`const THEBE_JS_URL = ...`) on
every `env-before-read-docs` event, which jupyter-book 1.x emits twice, so each
page declared the constant twice and the browser raised "Identifier
'THEBE_JS_URL' has already been declared". We drop repeated scripts before
the page is written.
"""


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # A body-only script has filename None or "" depending on who added it.
        filename = getattr(script, "filename", script) or ""
        attributes = getattr(script, "attributes", {})
        key = (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    if "script_files" in context:
        context["script_files"][:] = unique


def setup(app):
    app.connect("html-page-context", _drop_repeated_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
