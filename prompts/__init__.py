"""Prompt templates as text files with `<<slot>>` placeholders, and their loader. Imports nothing else of
this project."""
