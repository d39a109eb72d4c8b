"""The YAML format and its loading: files -> validated, cross-checked specs.

yamlio reads YAML with a line for every node; spec holds the Pydantic models of the
format; loader turns a folder of files into a Library; semantics checks what crosses
documents (needs, references, templates); schema publishes the JSON Schema for editors.
"""
