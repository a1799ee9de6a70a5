"""The model representation every front-end produces and every rule reads.

`model` holds the Keras-free, read-only graph (layers, weights, optimizer, source);
`declared` the regularizers and initializers as the config declares them; `decay`,
`paths` and `documents` the judgements and look-ups several rules share. Nothing here
opens a file or imports keras.
"""
