"""Reading the YAML config into the model, with every problem named by its field path."""
