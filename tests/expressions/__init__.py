"""Expressions and templates: sandbox, limits, fuzzing; secret masking of derived forms."""
