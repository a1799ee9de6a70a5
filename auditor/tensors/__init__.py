"""Tensors: every statistic a rule or the report needs, from one read of each tensor.

`stats` computes them as the slices stream by, `readahead` reads the next slice while the
current one is measured, `initializers` gives the exact law each weight was drawn from,
`verdict` judges whether a tensor is still at its initialization, and `inventory` turns it
all into the report's per-weight table.
"""
