"""Pure tensor math: no file I/O, no global config, no Keras state."""
