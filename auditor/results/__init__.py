"""The report models: frozen pydantic models, all that a renderer reads.

`findings` is the audit's Report (its JSON schema is the one shipped); `comparison` and
`history` are the reports of `audit compare` and `audit history`. They import nothing else
of keras-audit.
"""
