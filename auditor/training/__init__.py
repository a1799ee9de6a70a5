"""The training view: what happens to regularization while a model trains.

`monitor` is the Keras callback that splits the loss into data loss and penalty and follows
weight norms (it imports keras); `history` writes and reads what it records (`audit
history`); `compare` tells how one checkpoint differs from another (`audit compare`),
statically.
"""
