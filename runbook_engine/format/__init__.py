"""The YAML format and its loading: files -> validated, cross-checked specs.

yamlio reads YAML with a line for every node (textcheck refuses bytes that are not UTF-8
YAML text; yamlbuild builds the document from the parser's events within the limits on
nesting and aliases); spec holds the Pydantic models of the
format; loader turns a folder of files into a Library; semantics checks what crosses
documents (needs, references, templates); schema publishes the JSON Schema for editors.
"""
