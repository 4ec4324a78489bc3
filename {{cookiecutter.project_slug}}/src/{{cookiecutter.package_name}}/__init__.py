"""The project's code: data, encoders, model, metric, provenance and tracking."""
