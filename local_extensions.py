"""Jinja extension loaded by cookiecutter (`_extensions` in cookiecutter.json).

Cookiecutter renders every answer as a Jinja template, so free text such as a
description containing `{%` or an unclosed `{{` would stop generation with a
Jinja traceback. Answers (templates without a name) that are not valid Jinja
are taken literally instead; template files, which have names, are untouched
and still fail loudly when broken.
"""

from jinja2 import Environment, TemplateSyntaxError
from jinja2.ext import Extension

RAW_START, RAW_END = "{% raw %}", "{% endraw %}"


class LiteralAnswers(Extension):
    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        if name is not None or RAW_END in source:
            return source
        try:
            Environment().parse(source)
        except TemplateSyntaxError:
            return f"{RAW_START}{source}{RAW_END}"
        return source
