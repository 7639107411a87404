"""The model lifecycle: loading any URI into one `Predictor` (`load`), training the demo model
(`training`), the bundled demo (`demo`) and the MLflow registry (`registry`)."""
